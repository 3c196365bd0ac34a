"""Synthetic B2B relationship studies with planted truth.

``generate(preset, seed, **overrides)`` returns a :class:`SyntheticStudy` (canonical contacts,
responses and accounts tables, the study.yaml content and a JSON-serialisable ``truth``);
``write_study`` writes it as a study folder. ``PRESETS`` holds the named parameter sets
(:class:`SynthParams`). Every draw comes from one ``numpy.random.default_rng(seed)``.

Generative model
----------------
1. **Accounts** (``n_accounts``) get an industry, region, account manager, size band, tier
   and a contact-frame size (larger for larger bands). Each account manager has an onboarding
   propensity; each wave an account team is *onboarded* with probability
   ``expit(logit(onboarding_rate) + manager effect)``. Accounts can be *dormant* (Markov: onset,
   persistence).
2. **Contacts** per account: role (key decision maker, CX team, operational, administrative),
   tenure (gamma), a privacy preference ``pi ~ N(0, 1)``. Contacts persist across waves; a share
   ``contact_churn`` leaves between waves and is replaced by *newly included* contacts. Accounts
   not retained leave the frame and are replaced by new accounts (all contacts newly included).
3. **Latent relationship model** (unit variance within a wave, so coefficients are
   standardised): the exogenous drivers *service*, *experience* and *solution* (correlated
   ``exo_corr``, mean ``wave_shift`` in wave w) feed *trust* and *satisfaction*; trust and
   satisfaction feed *commitment*; commitment drives *advocacy* (the 0-10 answer). Each latent's
   innovation is account effect + person effect + wave-specific noise in the shares
   ``variance_shares``: trust is mostly persistent, satisfaction mostly wave noise (so it is
   more volatile from wave to wave). With ``kmv=True`` the ten Morgan-Hunt constructs of
   ``kmv.yaml`` join, with its paths (antecedents -> trust/commitment -> outcomes; magnitudes
   ``kmv_magnitudes``, signs from the YAML); the KMV antecedents are independent of the CRQ
   drivers, and in the ``kmv`` preset satisfaction does not feed commitment, so that among the
   KMV constructs the KMV model is exactly the data-generating structure.
4. **Items**: for each item of ``crq.yaml`` (and ``kmv.yaml``), ``y* = location_i + scale *
   (loading_i * eta + sqrt(1 - loading_i^2) e)``, cut at k + 0.5 and clipped to 1-7 (negative
   skew and a ceiling). The 0-10 answer is ``nps_location + nps_scale * advocacy`` cut the same
   way. A few item answers are "Don't know" (``dont_know_rate``).
5. **Response**: logit p = wave intercept + role effect + onboarding + dormant + account
   random effect + ``resp_nmar`` * x (not missing at random; x the ``resp_predictor`` latent,
   commitment by default) + ``resp_privacy`` * pi in waves without confidentiality. The wave
   intercept is solved so the mean probability over the frame equals ``response_rate[w]``.
   Respondents get 0, 1 or 2 reminders (later for lower x, so late respondents resemble
   non-respondents), ``days_to_respond`` and dates.
6. **Confidentiality** (``optional`` waves): logit q = intercept(newly included or not) +
   ``conf_dissatisfaction`` * (-x) + ``conf_dissatisfaction_new`` * newly_included * (-x) +
   ``conf_privacy`` * pi, with x the ``conf_predictor`` latent (satisfaction; commitment in
   ``company-b``, whose newly-included x dissatisfaction interaction is planted there);
   intercepts are solved so ``conf_rate`` of all and
   ``conf_rate_new`` of newly included respondents choose it. *Named* respondents (all in
   ``none`` waves, the non-choosers in ``optional`` waves) inflate every item by
   ``inflation_item`` and the 0-10 answer by ``inflation_nps`` (scale units, added to y* before
   thresholding), times max(0, 1 + ``inflation_privacy`` * pi). Honest and named answers share
   the same noise, so the true inflation in scale points is known exactly. The multiplier also
   moves by ``inflation_commitment`` * commitment when that knob is set (negative: the less
   committed inflate more), so inflation can go with commitment.
7. **Retention**: logit P(retained next wave) = ``retention_intercept`` + ``retention_slope`` *
   the account mean (all frame contacts) of the ``retention_predictor`` latent (commitment by
   default) + ``retention_dormant`` * dormant.
8. **Verbatims**: each respondent mentions each strength/weakness topic with a planted rate that
   depends on tenure (``long_tenure_years``); text is one phrase per mentioned topic.
9. **PII**: fake names and e-mails at ``<account>.example.com``.
10. **Structure knobs**: ``conf_predictor``, ``resp_predictor``, ``retention_predictor`` (which
    element drives confidentiality, response and retention), ``inflation_item`` /
    ``inflation_nps`` (inflation size) and ``inflation_commitment`` (inflation going with
    commitment). ``STRUCTURES`` names three sets of them, applied on top of any preset:
    ``satisfaction`` (the defaults: confidentiality chosen by the dissatisfied, response and
    retention driven by commitment), ``commitment`` (confidentiality chosen by low commitment,
    larger inflation concentrated among the less committed, stronger commitment-driven
    non-response) and ``trust`` (confidentiality chosen by low trust, response driven by
    satisfaction, retention by trust, small inflation concentrated among the more committed).
    ``docs/generalisation.md`` reports every study's estimators on all three. At their
    defaults the knobs reproduce studies generated before they existed byte for byte, and
    appear in ``truth.json`` only when set.

``truth`` records every parameter, the paths, loadings, response/confidentiality/retention
models and per wave:

- ``population``: the true pre-non-response values (NPS -100..100, ``nps_mean`` 0-10, CRQ
  index and the six element means) of *all invited contacts* answering honestly (as if
  confidential) - the target of every non-response or disclosure correction;
- ``population_reported``: the same contacts as they would report under the wave's regime
  (named ones inflated), so ``respondents - population_reported`` is pure non-response bias and
  ``population_reported - population`` pure disclosure bias;
- ``respondents_honest``: honest answers of the actual respondents;
- ``model``: the analytic expectation under the latent model for a fresh frame (equal to
  ``population`` up to sampling error in wave 1; later frames drift above it because accounts
  with low commitment are lost - survivorship);
- ``response``: the solved intercept and the mean response probability over the frame;
- ``inflation``: the effect of being named in scale points of the mean item, the CRQ index,
  the 0-10 answer and the NPS, averaged over the frame (``ate_*``) and over the named
  respondents (``att_*``), exact because honest and named answers share their noise;
- ``confidentiality_choice`` (optional waves): solved intercepts, mean choice probabilities,
  and mean 0-10 answers by newly-included x confidential group (the planted interaction);
- ``retention`` and ``verbatims`` (expected and realised mention rates among respondents).
"""
from __future__ import annotations

from crqlab.synth.generate import SyntheticStudy, generate
from crqlab.synth.output import OutputExistsError, write_study
from crqlab.synth.params import PRESETS, STRUCTURES, SynthError, SynthParams

__all__ = ["generate", "write_study", "SyntheticStudy", "SynthParams", "PRESETS", "STRUCTURES",
           "SynthError", "OutputExistsError"]

"""Parameters of the synthetic-study generator and the named presets.

Every knob of the generative model is a field of :class:`SynthParams`; a preset is one
``SynthParams`` value, and ``generate(preset, seed, **overrides)`` replaces fields by name.
Per-wave fields are tuples with one entry per wave (all of the same length).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from crqlab.errors import CrqlabError

__all__ = ["SynthParams", "PRESETS", "STRUCTURES", "SynthError", "resolve_params",
           "LATER_KNOBS"]

ROLES = ("key decision maker", "CX team", "operational", "administrative")


class SynthError(CrqlabError, ValueError):
    """Unknown preset, unknown or inconsistent parameter, or an output folder that exists."""


def _crq_paths() -> tuple:
    # (from, to, standardised coefficient). All latents have unit variance within a wave, so
    # these are the standardised path coefficients (std_all) of the structural model.
    return (("service", "trust", 0.30), ("experience", "trust", 0.25),
            ("solution", "trust", 0.15),
            ("service", "satisfaction", 0.35), ("experience", "satisfaction", 0.20),
            ("solution", "satisfaction", 0.15),
            ("trust", "commitment", 0.45), ("satisfaction", "commitment", 0.25),
            ("commitment", "advocacy", 0.75))


def _variance_shares() -> dict:
    # Share of each latent's innovation variance that is (account, person, wave-specific).
    # Trust is persistent, satisfaction transactional (mostly wave noise).
    return {"default": (0.20, 0.45, 0.35), "trust": (0.25, 0.55, 0.20),
            "satisfaction": (0.10, 0.15, 0.75), "commitment": (0.25, 0.50, 0.25),
            "advocacy": (0.20, 0.40, 0.40)}


def _weakness_topics() -> dict:
    # topic -> (mention rate among contacts with tenure < long_tenure_years, rate among
    # long-tenure contacts). Pricing: about 15% overall, more among those who know us best.
    return {"pricing": (0.10, 0.22), "responsiveness": (0.08, 0.08),
            "account management": (0.05, 0.09), "innovation": (0.06, 0.10),
            "onboarding": (0.09, 0.03)}


def _strength_topics() -> dict:
    return {"responsiveness": (0.30, 0.30), "account management": (0.22, 0.30),
            "reliability": (0.25, 0.28), "expertise": (0.18, 0.26), "innovation": (0.10, 0.10)}


@dataclass(frozen=True)
class SynthParams:
    """All parameters of the generative model (see :mod:`crqlab.synth` for the model).

    Frame
        ``n_accounts`` accounts at wave 1 (lost accounts are replaced by new ones, so the count
        stays about constant); ``size_bands`` with probabilities ``size_probs`` and mean
        contact-frame sizes ``contacts_per_size``; ``roles``/``role_probs``; ``contact_churn``
        (share of contacts leaving the frame between waves, replaced by newly included ones);
        ``new_share_first_wave`` (share of the wave-1 frame flagged newly included);
        ``tenure_mean`` / ``tenure_new_mean`` (years, gamma distributed);
        ``dormant_rate`` (accounts dormant at wave 1), ``dormant_onset``,
        ``dormant_persistence``; ``onboarding_rate`` (share of account teams onboarded before a
        wave) and ``manager_onboarding_sd`` (account-manager effect on it, logit scale).
    Waves (tuples, one entry per wave)
        ``wave_labels``, ``wave_dates`` (ISO invitation dates), ``confidentiality``
        (``none | optional | all``), ``response_rate`` (planted mean response probability
        over the frame; the wave intercept is solved to hit it exactly), ``wave_shift`` (mean of
        the exogenous relationship drivers, latent SD units).
    Latent model
        ``crq_paths`` (from, to, standardised coefficient) triples; ``kmv`` switches on the
        Morgan-Hunt battery with paths from ``kmv.yaml`` and magnitudes ``kmv_magnitudes``
        ("from->to": |coef|, sign from the YAML; default 0.3); ``exo_corr`` correlation of the
        CRQ drivers, ``kmv_exo_corr`` of the KMV antecedents (independent of the CRQ drivers);
        ``variance_shares`` latent -> (account, person, wave) shares of innovation variance.
    Measurement
        Item response ``y* = location + offset_item + scale * (loading * eta + e)`` cut at
        k + 0.5 and clipped to the scale; ``item_location``, ``item_scale``,
        ``item_offset_sd``, ``loading_range``; NPS: ``nps_location + nps_scale * advocacy``
        cut the same way on 0-10. ``dont_know_rate`` of item answers become ``dont_know_code``.
    Response
        logit p = wave intercept + ``resp_role_effects`` + ``resp_onboarding`` * onboarded +
        ``resp_dormant`` * dormant + account effect (SD ``resp_account_sd``) +
        ``resp_nmar`` * x (not missing at random; x the latent named by ``resp_predictor``,
        commitment by default) + ``resp_privacy`` * privacy preference (in waves without
        confidentiality). Respondents' reminders 0/1/2 in shares ``reminder_shares``, later for
        lower x (``late_quality``).
    Confidentiality and inflation
        In ``optional`` waves the choice is logit = intercept(newly included or not) +
        ``conf_dissatisfaction`` * (-q) + ``conf_dissatisfaction_new`` * newly_included * (-q)
        + ``conf_privacy`` * privacy, where q is the latent named by ``conf_predictor``
        (satisfaction by default); intercepts solved so
        ``conf_rate`` of respondents and ``conf_rate_new`` of newly included respondents choose
        it. Named respondents shift every item by ``inflation_item`` and the 0-10 answer by
        ``inflation_nps`` (scale units, before thresholding), times
        max(0, 1 + ``inflation_privacy`` * privacy + ``inflation_commitment`` * commitment):
        a negative ``inflation_commitment`` makes the less committed inflate more when named,
        so inflation correlates with commitment.
    Retention
        logit P(retained next wave) = ``retention_intercept`` + ``retention_slope`` *
        account mean of the ``retention_predictor`` latent (commitment by default) +
        ``retention_dormant`` * dormant.
    Structure
        ``conf_predictor``, ``resp_predictor`` and ``retention_predictor`` (latent names) and
        ``inflation_commitment`` choose which relationship element drives confidentiality,
        response and retention and how inflation goes with commitment - the structural choices
        a real study may differ in from the defaults (see :data:`STRUCTURES`). Their defaults
        reproduce the studies generated before they existed byte for byte; a knob appears in
        ``truth.json`` only when set away from its default.
    Verbatims
        ``strength_topics`` / ``weakness_topics``: topic -> (rate if tenure <
        ``long_tenure_years``, rate otherwise), independent Bernoulli mentions per respondent.
    """

    study: str = "sample"
    client: str = "Example Client Ltd (synthetic)"
    n_accounts: int = 200
    size_bands: tuple = ("1-49", "50-249", "250-999", "1000+")
    size_probs: tuple = (0.30, 0.35, 0.25, 0.10)
    contacts_per_size: tuple = (3.0, 6.5, 12.0, 20.0)
    roles: tuple = ROLES
    role_probs: tuple = (0.18, 0.14, 0.46, 0.22)
    industries: tuple = ("manufacturing", "financial services", "retail", "healthcare",
                         "technology", "public sector", "energy")
    regions: tuple = ("UK & Ireland", "DACH", "Nordics", "Benelux", "North America")
    n_account_managers: int = 12
    contact_churn: float = 0.15
    new_share_first_wave: float = 0.10
    tenure_mean: float = 5.0
    tenure_new_mean: float = 2.0
    long_tenure_years: float = 5.0
    dormant_rate: float = 0.08
    dormant_onset: float = 0.04
    dormant_persistence: float = 0.6
    onboarding_rate: float = 0.5
    manager_onboarding_sd: float = 1.0
    # waves
    wave_labels: tuple = ("2020", "2021", "2022", "2023")
    wave_dates: tuple = ("2020-03-02", "2021-03-01", "2022-03-07", "2023-03-06")
    confidentiality: tuple = ("none", "none", "none", "optional")
    response_rate: tuple = (0.66, 0.55, 0.48, 0.50)
    wave_shift: tuple = (0.0, 0.05, 0.12, 0.30)
    # latent model
    crq_paths: tuple = field(default_factory=_crq_paths)
    kmv: bool = False
    kmv_magnitudes: dict = field(default_factory=dict)
    exo_corr: float = 0.5
    kmv_exo_corr: float = 0.3
    variance_shares: dict = field(default_factory=_variance_shares)
    # measurement
    item_location: float = 5.6
    item_scale: float = 1.25
    item_offset_sd: float = 0.2
    loading_range: tuple = (0.78, 0.90)
    nps_location: float = 8.35
    nps_scale: float = 1.8
    dont_know_rate: float = 0.01
    dont_know_code: str = "Don't know"
    # response
    resp_role_effects: dict = field(default_factory=lambda: {
        "key decision maker": -0.3, "CX team": 0.5, "operational": 0.0, "administrative": -0.2})
    resp_onboarding: float = 0.8
    resp_dormant: float = -1.2
    resp_account_sd: float = 1.3
    resp_nmar: float = 0.25
    resp_predictor: str = "commitment"
    resp_privacy: float = -0.3
    reminder_shares: tuple = (0.5, 0.3, 0.2)
    late_quality: float = 0.15
    # confidentiality and inflation
    conf_rate: float = 0.26
    conf_rate_new: float = 0.38
    conf_dissatisfaction: float = 0.5
    conf_dissatisfaction_new: float = 0.0
    conf_predictor: str = "satisfaction"
    conf_privacy: float = 1.0
    inflation_item: float = 0.15
    inflation_nps: float = 0.25
    inflation_privacy: float = 0.0
    inflation_commitment: float = 0.0
    # retention
    retention_intercept: float = 2.4
    retention_slope: float = 2.0
    retention_dormant: float = -1.0
    retention_predictor: str = "commitment"
    # verbatims
    strength_topics: dict = field(default_factory=_strength_topics)
    weakness_topics: dict = field(default_factory=_weakness_topics)

    @property
    def n_waves(self) -> int:
        return len(self.wave_labels)

    def validate(self) -> None:
        """Raise :class:`SynthError` for inconsistent values."""
        per_wave = ("wave_dates", "confidentiality", "response_rate", "wave_shift")
        bad = [f for f in per_wave if len(getattr(self, f)) != self.n_waves]
        if bad:
            raise SynthError(f"{bad} must have one entry per wave ({self.n_waves} wave labels)")
        if self.n_waves < 1 or self.n_accounts < 1:
            raise SynthError("need at least one wave and one account")
        wrong = [c for c in self.confidentiality if c not in ("none", "optional", "all")]
        if wrong:
            raise SynthError(f"confidentiality must be none | optional | all, got {wrong}")
        if not all(0 < r < 1 for r in self.response_rate):
            raise SynthError(f"response_rate must lie in (0, 1), got {self.response_rate}")
        if not (0 < self.conf_rate < 1 and 0 < self.conf_rate_new < 1):
            raise SynthError("conf_rate and conf_rate_new must lie in (0, 1)")
        for name in ("size_probs", "role_probs", "reminder_shares"):
            v = getattr(self, name)
            if abs(sum(v) - 1) > 1e-9 or min(v) < 0:
                raise SynthError(f"{name} must be probabilities summing to 1, got {v}")
        if len({len(self.size_probs), len(self.size_bands), len(self.contacts_per_size)}) != 1:
            raise SynthError("size_bands, size_probs and contacts_per_size must match")
        if len(self.role_probs) != len(self.roles) or set(self.resp_role_effects) != set(self.roles):
            raise SynthError("roles, role_probs and resp_role_effects must match")


_SAMPLE = SynthParams()

PRESETS: dict[str, SynthParams] = {
    # Calibrated to the Deep-Insight series of docs/methods.md section 4 (2020-2023).
    "sample": _SAMPLE,
    # Small and fast, for tests.
    "tiny": dataclasses.replace(
        _SAMPLE, study="tiny", n_accounts=30, wave_labels=("2021", "2022", "2023"),
        wave_dates=("2021-03-01", "2022-03-07", "2023-03-06"),
        confidentiality=("none", "optional", "optional"), response_rate=(0.55, 0.50, 0.60),
        wave_shift=(0.0, 0.1, 0.2)),
    # Company A (docs/methods.md section 3): optional confidentiality, then removed six months later.
    "company-a": dataclasses.replace(
        _SAMPLE, study="company-a", client="Company A (synthetic)", n_accounts=150,
        wave_labels=("Survey 1", "Survey 2"), wave_dates=("2021-03-01", "2021-09-06"),
        confidentiality=("optional", "none"), response_rate=(0.60, 0.55), wave_shift=(0.0, 0.08),
        contact_churn=0.05, new_share_first_wave=0.10, conf_rate=0.35, conf_rate_new=0.45,
        conf_dissatisfaction=0.8, conf_privacy=1.0, resp_privacy=-1.2, resp_nmar=0.5,
        inflation_item=0.4, inflation_nps=0.8, inflation_privacy=0.6,
        item_location=5.1, nps_location=6.3, nps_scale=2.0),
    # Company B: named waves for years, then optional confidentiality; newly included contacts
    # choose it more and those who do are much less satisfied (the interaction).
    "company-b": dataclasses.replace(
        _SAMPLE, study="company-b", client="Company B (synthetic)", n_accounts=120,
        wave_labels=("2019", "2020", "2021", "2022"),
        wave_dates=("2019-04-01", "2020-04-06", "2021-04-05", "2022-04-04"),
        confidentiality=("none", "none", "none", "optional"),
        response_rate=(0.55, 0.55, 0.55, 0.55), wave_shift=(0.0, 0.05, 0.1, 0.1),
        contact_churn=0.12, conf_rate=0.26, conf_rate_new=0.38, conf_predictor="commitment",
        conf_dissatisfaction=0.0, conf_dissatisfaction_new=1.2, conf_privacy=0.8,
        inflation_item=0.1, inflation_nps=0.1),
}

# Morgan-Hunt battery: the KMV paths of kmv.yaml; satisfaction does not feed commitment here,
# so that among the KMV constructs the KMV model is exactly the data-generating structure.
PRESETS["kmv"] = dataclasses.replace(
    _SAMPLE, study="kmv", kmv=True, n_accounts=250,
    crq_paths=tuple((f, t, 0.0 if (f, t) == ("satisfaction", "commitment") else
                     (0.6 * c if t == "trust" else c)) for f, t, c in _crq_paths()),
    kmv_magnitudes={"termination_costs->commitment": 0.20,
                    "relationship_benefits->commitment": 0.20,
                    "shared_values->commitment": 0.15, "trust->commitment": 0.40,
                    "shared_values->trust": 0.30, "communication->trust": 0.35,
                    "opportunism->trust": 0.25, "commitment->acquiescence": 0.45,
                    "commitment->propensity_to_leave": 0.50, "commitment->cooperation": 0.35,
                    "trust->cooperation": 0.30, "trust->functional_conflict": 0.35,
                    "trust->uncertainty": 0.40})


#: Knobs added after studies had been generated and committed: at their defaults they are left
#: out of ``truth.json`` (so those studies regenerate byte for byte).
LATER_KNOBS = ("resp_predictor", "inflation_commitment", "retention_predictor")

#: Alternative generator structures for generalisation tests: overrides of any preset.
#: ``satisfaction`` is the generator's own choice (the defaults); the others are plausible
#: studies that differ in which element drives confidentiality, response and retention, in
#: the size of the named-answer inflation and in how inflation goes with commitment.
STRUCTURES: dict[str, dict] = {
    "satisfaction": {},
    "commitment": {
        # the independent simulator of issue 16: confidentiality chosen by low commitment,
        # named answers inflated more (and most by the less committed), response partly
        # driven by commitment
        "conf_predictor": "commitment", "conf_dissatisfaction": 0.8,
        "resp_predictor": "commitment", "resp_nmar": 0.5,
        "inflation_item": 0.3, "inflation_nps": 1.0, "inflation_commitment": -0.4,
        "retention_predictor": "commitment"},
    "trust": {
        # confidentiality chosen by low trust, response driven by satisfaction (a transient
        # state), retention by trust; small inflation, larger among the more committed
        "conf_predictor": "trust", "conf_dissatisfaction": 0.8,
        "resp_predictor": "satisfaction", "resp_nmar": 0.4,
        "inflation_item": 0.08, "inflation_nps": 0.3, "inflation_commitment": 0.4,
        "retention_predictor": "trust"},
}


def resolve_params(preset: str, overrides: dict) -> SynthParams:
    """The preset's parameters with ``overrides`` replacing fields; validated."""
    if preset not in PRESETS:
        raise SynthError(f"unknown preset {preset!r}; known: {sorted(PRESETS)}")
    names = {f.name for f in dataclasses.fields(SynthParams)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise SynthError(f"unknown parameter(s) {unknown}; see crqlab.synth.SynthParams")
    fixed = {k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()}
    params = dataclasses.replace(PRESETS[preset], **fixed)
    params.validate()
    return params

"""Longitudinal measurement invariance: the same respondents answering the same questions at
two or more occasions (waves), in one model.

:mod:`crqlab.models.invariance` compares *independent* groups. A panel - the same contacts in
wave 1 and wave 2 - is one group measured twice: its answers at the two occasions are
correlated, so the occasions are not groups. The longitudinal model (Meredith & Horn 2001;
Little 2013, ch. 5; lavaan users write it by hand or with semTools' ``measEq.syntax``) is
one single-group CFA on *wide* data (one row per respondent, the items of every occasion
side by side, e.g. ``trust_1_w1 ... trust_1_w2``):

- the same factor(s) at each occasion (``trust_w1 =~ trust_1_w1 + ...``,
  ``trust_w2 =~ trust_1_w2 + ...``), all factors correlated;
- the residuals of the same item correlated across occasions (``trust_1_w1 ~~ trust_1_w2``,
  every pair of occasions; lavaan's convention, never constrained);
- **marker identification**: the first item's loading is 1 at every occasion; the latent
  means are 0 until the intercepts are equal, then free from the second occasion on (the
  first occasion is the reference); latent variances free at every occasion. Effects coding
  is not offered.

The ladder is the one of :data:`crqlab.models.invariance.STEPS`, the equality now *across
occasions* within the one model: configural, metric (loadings), scalar (loadings and
intercepts; latent means free from occasion 2), strict (and residual variances). Each step is
compared with the last one that held by the chi-square difference test (Satorra-Bentler 2001
scaled under MLR) and the changes of CFI and RMSEA, with the rule of
:mod:`crqlab.models.invariance` (:data:`~crqlab.models.invariance.RULE`); a failing step
starts the same partial search (free the constraint whose release lowers the chi-square most,
up to ``max_free``). The result is an :class:`~crqlab.models.invariance.InvarianceResult`
(``groups`` are the occasions), so :func:`~crqlab.models.invariance.plain_summary` and
:func:`~crqlab.models.invariance.invariance_verdict` word it.

Estimation reuses the casewise likelihood of :mod:`crqlab.models.likelihood`: ML or MLR
(sandwich SEs, Yuan-Bentler scaled test, robust CFI/RMSEA), on the rows complete at every
occasion (``missing="listwise"``) or by FIML over the missing-data patterns
(``missing="fiml"``: a respondent who skipped an occasion still counts with the occasions
answered). Equality across occasions is a map of the model's local parameters onto shared
ones (as the groups of :mod:`crqlab.models.invariance` share them), so gradients,
information matrices and casewise scores are summed over the tied parameters.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import combinations

import numpy as np
import pandas as pd

from crqlab.errors import ConvergenceError, InsufficientDataError
from crqlab.models import invariance as _inv
from crqlab.models import likelihood as _lik
from crqlab.models import sem as _sem

__all__ = ["fit_longitudinal", "longitudinal_invariance", "longitudinal_syntax"]

_SHARED = ("loadings", "intercepts", "residuals")
_STEP_EQUAL = {s: tuple(w for w in e if w in _SHARED) for s, e in _inv.STEPS.items()}


# ----------------------------------------------------------------------------------------------
# The model: one occasion's measurement model repeated over the occasions
# ----------------------------------------------------------------------------------------------

def _measurement(model) -> dict[str, list[str]]:
    """Factor -> items of a measurement-only model written for one occasion."""
    syntax = _sem._as_model(model).syntax
    out: dict[str, list[str]] = {}
    for stmt in _sem._statements(syntax):
        parts = _sem._split_statement(stmt)
        if parts is None or parts[1] != "=~":
            raise ValueError(f"longitudinal models take measurement statements only "
                             f"('f =~ a + b + c', one occasion's items); got {stmt!r}")
        lhs, _, rhs = parts
        terms = _sem._terms(rhs)
        if any(mult is not None for mult, _ in terms):
            raise ValueError(f"{stmt!r}: write the items without labels or fixed values; the "
                             "equalities across occasions are the steps' (marker "
                             "identification)")
        out.setdefault(lhs, []).extend(var for _, var in terms)
    if not out:
        raise ValueError("the model has no measurement statement ('f =~ a + b + c')")
    items = [v for vs in out.values() for v in vs]
    if len(set(items)) < len(items):
        raise ValueError(f"an item loads on two factors: {items}")
    return out


def _column_map(factors: dict, occasions: Sequence, columns) -> dict:
    """(item, occasion) -> data column."""
    items = [v for vs in factors.values() for v in vs]
    out = {}
    for occ in occasions:
        for item in items:
            if isinstance(columns, str):
                out[item, occ] = columns.format(item=item, occasion=occ)
            else:
                try:
                    out[item, occ] = columns[occ][item]
                except KeyError:
                    raise ValueError(f"columns has no column for item {item!r} at occasion "
                                     f"{occ!r}") from None
    if len(set(out.values())) < len(out):
        raise ValueError(f"two (item, occasion) pairs share a column: {out}")
    return out


def _occasions(occasions) -> list:
    occ = list(occasions)
    if len(occ) < 2:
        raise ValueError(f"need at least two occasions, got {occ}")
    if len(set(map(str, occ))) < len(occ):
        raise ValueError(f"occasions must be distinct, got {occ}")
    return occ


def longitudinal_syntax(model, occasions: Sequence, columns: str | Mapping = "{item}_{occasion}"
                        ) -> str:
    """The configural longitudinal model in lavaan syntax.

    Parameters
    ----------
    model : SemModel or str
        One occasion's measurement model in the items' names (``"trust =~ trust_1 + trust_2 +
        trust_3"``); measurement statements only, no labels or fixed values.
    occasions : sequence
        The occasions in order (the first is the reference), e.g. ``["w1", "w2"]``.
    columns : str or mapping
        The data column of an item at an occasion: a format string with ``{item}`` and
        ``{occasion}`` (default ``"{item}_{occasion}"``) or ``{occasion: {item: column}}``.

    Returns
    -------
    str
        ``{factor}_{occasion} =~ ...`` per factor and occasion (marker: the first item) and
        ``col_t ~~ col_s`` for every item and pair of occasions. The factors' covariances are
        free (lavaan's ``cfa()``).
    """
    factors = _measurement(model)
    occ = _occasions(occasions)
    cols = _column_map(factors, occ, columns)
    lines = [f"{f}_{o} =~ " + " + ".join(cols[i, o] for i in items)
             for o in occ for f, items in factors.items()]
    lines += [f"{cols[i, a]} ~~ {cols[i, b]}" for items in factors.values() for i in items
              for a, b in combinations(occ, 2)]
    return "\n".join(lines)


class _Spec:
    """The longitudinal model: syntax and the names of its parts by (name, occasion)."""

    def __init__(self, model, occasions, columns):
        self.factors = _measurement(model)
        self.occasions = _occasions(occasions)
        self.cols = _column_map(self.factors, self.occasions, columns)
        latent = {f"{f}_{o}" for f in self.factors for o in self.occasions}
        clash = sorted(latent & set(self.cols.values()))
        if clash:
            raise ValueError(f"the factors at each occasion are named factor_occasion, and "
                             f"{clash} is also a data column of the model: rename the factor")
        self.syntax = longitudinal_syntax(model, self.occasions, columns)
        self.where = {c: (i, o) for (i, o), c in self.cols.items()}  # column -> (item, occ)
        self.where |= {f"{f}_{o}": (f, o) for f in self.factors for o in self.occasions}
        self.observed = [self.cols[i, o] for o in self.occasions
                         for items in self.factors.values() for i in items]

    def shared_key(self, key: tuple, latent: set) -> tuple[str | None, tuple | None]:
        """The step word and the occasion-free key of a local parameter (None: never tied)."""
        lhs, op, rhs = key
        if op == "=~":
            return "loadings", (self.where[lhs][0], "=~", self.where[rhs][0])
        if op == "~1" and lhs not in latent:
            item = self.where[lhs][0]
            return "intercepts", (item, "~1", "")
        if op == "~~" and lhs == rhs and lhs not in latent:
            item = self.where[lhs][0]
            return "residuals", (item, "~~", item)
        return None, None


# ----------------------------------------------------------------------------------------------
# The single-group problem with parameters tied across occasions
# ----------------------------------------------------------------------------------------------

class _Panel(_lik._MomentProblem):
    """One group whose local parameters map onto fewer shared ones (``maps[0]`` repeats ids):
    the observed information is ``J' H J`` with ``J`` the 0/1 map.

    The optimiser's Newton steps (taken when Fisher scoring is slow) need the observed
    Hessian, which on a panel model of 30-40 variables costs as much as a few hundred
    gradient evaluations; Fisher scoring alone usually converges within one or two more
    iterations. They are therefore refused for the first :attr:`fisher_first` slow
    iterations (the optimiser then takes a Fisher step), and allowed after."""

    fisher_first = 20

    def __init__(self, grp, idx):
        super().__init__([grp], [idx])
        self.jac = np.zeros((grp.k, self.k))
        self.jac[np.arange(grp.k), idx] = 1.0
        self._slow = 0

    def observed_hessian(self, theta) -> np.ndarray:
        self._slow += 1
        if self._slow <= self.fisher_first:
            raise ArithmeticError("a Fisher step first")
        return 2 * _information(self, theta)


def _pullback(grp, theta, g_mu: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``Delta(theta)' g`` at a fixed saturated gradient (``_MomentGroup._pullback``, its
    quadratic forms as one matrix product)."""
    _, m, gmat, _, eta = grp._moments(theta)
    u, v = grp.base._uv(m, gmat)
    out = grp._dmu(m, eta, u) @ g_mu
    out[:grp.kc] += grp.base._agg @ (2 * grp.base._loc_c * np.sum((u @ w) * v, axis=1))
    return out


def _information(problem: _Panel, theta, step: float = 1e-5) -> np.ndarray:
    """Observed information per observation in the shared parameters, ``0.5 J' H J``.

    As :meth:`crqlab.models.likelihood._MomentGroup.observed_hessian`: the saturated Hessian
    at the model's moments pulled back through the model's Jacobian, plus the curvature of
    the structure by central differences - here along each *shared* parameter (all its tied
    copies moved together), one pair of differences per shared parameter."""
    grp, idx, jac = problem.groups[0], problem.maps[0], problem.jac
    local = theta[idx]
    mu, sigma = grp.mu_sigma(local)
    h_sat, g_sat = _lik._saturated_derivatives(grp.patterns, mu, sigma)
    dlt = grp.delta(local) @ jac
    hess = dlt.T @ h_sat @ dlt
    p = len(mu)
    w = _lik._sigma_gradient_matrix(g_sat, p)
    curv = np.empty_like(hess)
    for col in range(problem.k):
        d = jac[:, col] * step
        curv[:, col] = jac.T @ (_pullback(grp, local + d, g_sat[:p], w)
                                - _pullback(grp, local - d, g_sat[:p], w)) / (2 * step)
    grp.mu_sigma(local)  # leave semopy's matrices at theta
    hess = hess + curv
    return 0.5 * (hess + hess.T) / 2


def _scores(problem: _Panel, theta) -> np.ndarray:
    grp, idx = problem.groups[0], problem.maps[0]
    return grp.scores(theta[idx]) @ problem.jac


class _Tied:
    """A view of the group in the shared parameters, for :func:`likelihood._fiml_robust`."""

    def __init__(self, problem: _Panel):
        self._grp, self._idx, self._jac = problem.groups[0], problem.maps[0], problem.jac

    def __getattr__(self, name):
        return getattr(self._grp, name)

    def delta(self, theta):
        return self._grp.delta(theta[self._idx]) @ self._jac

    def mu_sigma(self, theta):
        return self._grp.mu_sigma(theta[self._idx])


def _build(spec: _Spec, data: pd.DataFrame, missing: str, means_free: bool):
    """The group (complete rows, or every row with an answer under FIML) with free intercepts
    and latent means free from the second occasion when ``means_free``."""
    absent = [c for c in spec.observed if c not in data.columns]
    if absent:
        raise InsufficientDataError(f"the panel columns {absent} are not in the data "
                                    f"(n = {len(data)})")
    p = len(spec.observed)
    if missing == "listwise":
        rows, _ = _sem._complete_rows(data, spec.observed)
        if len(rows) <= p:
            raise InsufficientDataError(f"{len(rows)} respondents answered every item at every "
                                        f"occasion, for {p} observed variables: too few "
                                        f"(n = {len(rows)})")
        base = _sem._Group(spec.syntax, rows)
        x, h1 = base.x, (base.x.mean(axis=0), base.S)
        answered = {o: len(rows) for o in spec.occasions}
    else:
        base_cols, x, _ = _lik._fiml_data(spec.syntax, data)
        mu, sigma, _ = _lik.em_moments(x)
        base = _sem._Group(spec.syntax, _lik._exact_moments_frame(mu, sigma, len(x), base_cols))
        h1 = (mu, sigma)
        pos = {c: k for k, c in enumerate(base_cols)}
        answered = {}
        for o in spec.occasions:
            at = [pos[spec.cols[i, o]] for items in spec.factors.values() for i in items]
            answered[o] = int((~np.isnan(x[:, at])).any(axis=1).sum())
    means = [_lik._MeanParam("nu", i, f"{v} ~1", i) for i, v in enumerate(base.observed)]
    inner = base.sm.vars["inner"]
    nxt = len(means)
    for j, v in enumerate(inner):
        free = means_free and spec.where[v][1] != spec.occasions[0]
        means.append(_lik._MeanParam("alpha", j, f"{v} ~1", nxt if free else -1))
        nxt += free
    return _lik._MomentGroup(base, x, means, h1), answered


def _problem(spec: _Spec, grp, equal: tuple, partial: set) -> _Panel:
    latent = set(grp.sm.vars["latent"])
    ids: dict[tuple, int] = {}
    idx = np.empty(grp.k, dtype=int)
    nxt = 0
    for local, key in enumerate(_inv._keys(grp)):
        kind, shared = spec.shared_key(key, latent)
        if kind in equal and shared not in partial:
            if shared not in ids:
                ids[shared], nxt = nxt, nxt + 1
            idx[local] = ids[shared]
        else:
            idx[local], nxt = nxt, nxt + 1
    return _Panel(grp, idx)


def _check_partial(spec: _Spec, partial) -> set:
    keys = _inv._parse_partial(partial)
    items = {i for vs in spec.factors.values() for i in vs}
    for lhs, op, rhs in keys:
        ok = ((op == "~1" and lhs in items) or (op == "~~" and lhs == rhs and lhs in items)
              or (op == "=~" and lhs in spec.factors and rhs in spec.factors[lhs]))
        if not ok:
            raise ValueError(f"cannot free {_inv._key_text((lhs, op, rhs))!r} across occasions: "
                             f"name an item's intercept ('item ~1'), loading ('factor =~ "
                             f"item') or residual variance ('item ~~ item') of the "
                             f"one-occasion model; items {sorted(items)}")
    return keys


def _solve(spec, data, equal, partial, missing, seed, max_iter, std_limit, name, built):
    equal = tuple(equal)
    unknown = [w for w in equal if w not in _SHARED]
    if unknown:
        raise ValueError(f"unknown equality word(s) {unknown}; choose from {_SHARED}")
    means = "intercepts" in equal
    if means not in built:
        built[means] = _build(spec, data, missing, means)
    grp, answered = built[means]
    problem = _problem(spec, grp, equal, _check_partial(spec, partial))
    p = len(grp.observed)
    df = p * (p + 3) // 2 - problem.k
    if df < 0:
        raise ConvergenceError(f"model {name!r} is not identified: {problem.k} free parameters "
                               f"for {df + problem.k} sample moments (df = {df})")
    theta0 = problem.start()
    attempts = _lik._fiml_attempts(problem, theta0, seed, max_iter,
                                   lambda th: _inv._check(problem, th, std_limit))
    chosen = _sem._choose(attempts)
    _, reasons = _sem._verdict(chosen)
    return problem, chosen, list(reasons), answered


def _finish(name, equal, partial, solved, estimator, missing, ci) -> _inv._MultiFit:
    problem, chosen, reasons, _ = solved
    theta = chosen.theta
    grp = problem.groups[0]
    m = _inv._measures(problem, theta, chosen.fmin)
    if missing == "fiml":  # the baseline on the available values, as lavaan's FIML
        minus2_b, _, _ = _lik._independence(grp.patterns, grp.x, means=True)
        chisq_b = minus2_b - grp.f_h1
        m |= {"baseline_chisq": chisq_b,
              "cfi": _lik._cfi(m["chisq"], m["df"], chisq_b, m["baseline_df"]),
              "tli": _lik._tli(m["chisq"], m["df"], chisq_b, m["baseline_df"])}
    if estimator == "ML" and missing == "listwise":
        vcov = _sem._vcov(problem, theta)  # expected information, lavaan's default
        a0 = b0 = None
    else:
        try:
            a0 = _information(problem, theta)
        except (np.linalg.LinAlgError, ConvergenceError) as exc:
            reasons.append(str(exc))
            a0 = np.full((problem.k, problem.k), np.nan)
        b0 = None
        if estimator == "MLR":
            s = _scores(problem, theta)
            b0 = s.T @ s / problem.n
        vcov = _lik._vcov(a0, b0, problem.n, reasons)
    if np.isfinite(vcov).all() and a0 is not None:
        if missing == "fiml":
            m |= _lik._fiml_robust(_Tied(problem), theta, a0, b0, m, scaled=estimator == "MLR")
        elif estimator == "MLR":
            m |= _inv._robust(problem, theta, a0, b0, m)
    if not np.isfinite(vcov).all() and not any("singular" in r for r in reasons):
        reasons.append("information matrix is singular: the model is not identified")
    table = _inv._table(problem, theta, vcov, [None], ci).drop(columns="group")
    return _inv._MultiFit(name, tuple(equal), tuple(partial), problem, theta, vcov, m, table,
                          reasons)


def _check_options(estimator: str, missing: str, on_improper: str = "raise") -> None:
    _lik.check_options(estimator, missing)
    if on_improper not in ("raise", "flag"):
        raise ValueError(f"on_improper must be 'raise' or 'flag', got {on_improper!r}")


@_sem._single_threaded
def fit_longitudinal(model, data: pd.DataFrame, occasions: Sequence, *,
                     columns: str | Mapping = "{item}_{occasion}", equal: Sequence[str] = (),
                     partial: Sequence[str] = (), estimator: str = "ML",
                     missing: str = "listwise", on_improper: str = "raise", ci: float = 0.95,
                     seed: int = 0, max_iter: int = 300, std_limit: float = 1.0
                     ) -> tuple[pd.DataFrame, pd.Series]:
    """One longitudinal model: the same factors at every occasion, parameters equal across
    occasions as ``equal`` says.

    Parameters
    ----------
    model, occasions, columns
        See :func:`longitudinal_syntax`.
    data : DataFrame
        Wide: one row per respondent.
    equal : sequence of str
        Equal across occasions: ``loadings``, ``intercepts`` (then the latent means are free
        from the second occasion), ``residuals`` (residual variances).
    partial : sequence of str
        Exempt, in the one-occasion names: ``"trust_2 ~1"``, ``"trust =~ trust_2"``,
        ``"trust_2 ~~ trust_2"``.
    estimator : {"ML", "MLR"}
    missing : {"listwise", "fiml"}
        ``"fiml"``: every respondent with at least one answer counts (lavaan's
        ``missing = "ml"``); ``"listwise"``: only those who answered every item at every
        occasion.
    on_improper, ci, seed, max_iter, std_limit
        As in :func:`crqlab.models.sem.fit_sem`.

    Returns
    -------
    (DataFrame, Series)
        The parameter table (``lhs, op, rhs, label, free, est, se, z, p_value, ci_low,
        ci_high``; ``free`` the 1-based id, shared by equal parameters) and the fit measures
        (``chisq, df, p_value, npar, cfi, tli, rmsea, srmr, aic, bic, logl, baseline_chisq,
        baseline_df, n``; with MLR ``chisq_scaled, scaling_factor, cfi_robust, tli_robust,
        rmsea_robust``...; under FIML the robust CFI/RMSEA are lavaan's FIML-corrected ones;
        and ``proper``).

    Raises
    ------
    ConvergenceError
        Not identified, or (``on_improper="raise"``) no proper solution.
    InsufficientDataError
        A column is missing, or too few respondents.

    Notes
    -----
    Standard errors: expected information for ML on complete rows (lavaan's default), observed
    information under FIML, the sandwich with MLR. Validated against lavaan 0.6-14 on
    PoliticalDemocracy (democracy 1960 and 1965) with the equalities written as labels
    (``tests/results/lavaan/make_longitudinal.R``).
    """
    _check_options(estimator, missing, on_improper)
    spec = _Spec(model, occasions, columns)
    name = _sem._as_model(model).name
    solved = _solve(spec, data, equal, partial, missing, seed, max_iter, std_limit, name, {})
    fit = _finish(name, equal, partial, solved, estimator, missing, ci)
    _sem._enforce(on_improper, name, fit.reasons)
    return fit.parameters, pd.Series(fit.measures | {"proper": not fit.reasons})


@_sem._single_threaded
def longitudinal_invariance(model, data: pd.DataFrame, occasions: Sequence, *,
                            columns: str | Mapping = "{item}_{occasion}",
                            steps: Sequence[str] = ("metric", "scalar", "strict"),
                            estimator: str = "ML", missing: str = "listwise",
                            rule: str = "chen+test", alpha: float = 0.05, max_free: int = 3,
                            ci: float = 0.95, seed: int = 0, max_iter: int = 300,
                            std_limit: float = 1.0) -> _inv.InvarianceResult:
    """Climb the invariance ladder across occasions of a panel, freeing constraints where a
    step fails.

    Parameters
    ----------
    model, occasions, columns
        See :func:`longitudinal_syntax`.
    data : DataFrame
        Wide: one row per respondent.
    steps : sequence of str
        Steps after the configural model, in order (``metric, scalar, strict``).
    estimator : {"ML", "MLR"}
        ``"MLR"``: scaled difference tests (Satorra-Bentler 2001), robust CFI/RMSEA changes.
    missing : {"listwise", "fiml"}
        See :func:`fit_longitudinal`.
    rule, alpha, max_free
        As in :func:`crqlab.models.invariance.measurement_invariance`.
    ci, seed, max_iter, std_limit
        As in :func:`crqlab.models.sem.fit_sem`.

    Returns
    -------
    InvarianceResult
        ``groups`` are the occasions; ``n`` the respondents used; ``n_by_group`` those who
        answered each occasion (all ``n`` under listwise deletion); the freed constraints in
        the one-occasion names (``"trust_2 ~1"``).

    Raises
    ------
    ConvergenceError
        A model of the ladder has no proper solution (never reported as numbers).

    Notes
    -----
    Validated against lavaan 0.6-14 on PoliticalDemocracy, democracy in 1960 and 1965
    (``tests/results/lavaan/make_longitudinal.R``): every step's estimates, SEs and fit
    measures, ``lavTestLRT`` (ML and MLR), FIML, and the chi-square of every candidate of the
    partial search; planted intercept drift at the second wave of a simulated panel is found
    by the search (``tests/models/test_longitudinal.py``).
    """
    _check_options(estimator, missing)
    if rule not in _inv._RULES:
        raise ValueError(f"rule must be one of {_inv._RULES}, got {rule!r}")
    bad = [s for s in steps if s not in _inv.STEPS or s == "configural"]
    if bad:
        raise ValueError(f"unknown step(s) {bad}; steps after 'configural' are "
                         f"{list(_inv.STEPS)[1:]}")
    spec = _Spec(model, occasions, columns)
    model_name = _sem._as_model(model).name
    built: dict = {}

    def solve(step, partial):
        return _solve(spec, data, _STEP_EQUAL[step], partial, missing, seed, max_iter,
                      std_limit, f"{model_name} ({step})", built)

    def run(step, partial, name=None):
        fit = _finish(name or step, _STEP_EQUAL[step], partial, solve(step, partial),
                      estimator, missing, ci)
        _sem._enforce("raise", f"{model_name} ({name or step})", fit.reasons)
        return fit

    base = run("configural", ())
    latent = set(base.problem.groups[0].sm.vars["latent"])

    def release(step, step_fit, fit, current, freed, released):
        added = set(_STEP_EQUAL[step]) - set(current.equal)
        new = {shared for key in _inv._keys(step_fit.problem.groups[0])
               for kind, shared in [spec.shared_key(key, latent)] if kind in added}
        trials = []
        for key in sorted(new - _inv._parse_partial(freed + released)):
            partial = (*freed, *released, _inv._key_text(key))
            solved = solve(step, partial)
            if not solved[2]:
                trials.append((solved[0].n * solved[1].fmin, len(trials), partial, solved))
        for _, _, partial, solved in sorted(trials, key=lambda t: t[:2]):
            best = _finish(step, _STEP_EQUAL[step], partial, solved, estimator, missing, ci)
            if not best.reasons:
                return best
        return None

    climbed = _inv._climb(base, steps, run=lambda step, freed: run(step, tuple(freed)),
                          release=release, estimator=estimator, rule=rule, alpha=alpha,
                          max_free=max_free,
                          difference=lambda fit, current: _inv.difference_test(
                              fit.measures, current.measures, estimator))
    fits, freed, level = climbed.fits, climbed.freed, climbed.level
    keep = ("chisq", "df", "p_value", "npar", "cfi", "tli", "rmsea", "srmr", "aic", "bic",
            "n", "chisq_scaled", "scaling_factor", "cfi_robust", "tli_robust", "rmsea_robust")
    fit_rows = []
    for name, f in fits.items():
        r = {"model": name, "equal": ", ".join(f.equal), "partial": ", ".join(f.partial)}
        r |= {k: f.measures[k] for k in keep if k in f.measures}
        r |= {"n_groups": len(spec.occasions), "proper": not f.reasons}
        fit_rows.append(r)
    answered = built[False][1]
    return _inv.InvarianceResult(
        fits=pd.DataFrame(fit_rows), tests=climbed.tests, partial=climbed.partial,
        parameters={k: f.parameters for k, f in fits.items()}, level=level, freed=freed,
        groups=list(spec.occasions), estimator=estimator, rule=rule, alpha=alpha,
        n=base.problem.n, n_by_group=dict(answered))

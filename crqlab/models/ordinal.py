"""Ordinal indicators: thresholds, polychoric correlations and WLSMV, as lavaan 0.6 has them.

Likert answers (1-7, 1-6) are ordered categories of an underlying normal response. lavaan's
``cfa(..., ordered = TRUE, estimator = "WLSMV")`` fits a model to them in three steps, and
this module follows each step with lavaan's conventions:

1. **Thresholds** of each item: ``tau_k = Phi^-1(share of answers in categories <= k)``.
2. **Polychoric correlations** of each pair of items, two-step (lavaan, ``polycor::polychor``
   with ``ML = FALSE``): with the thresholds held at step 1, the correlation of the bivariate
   normal that maximises the likelihood of the pair's contingency table; polyserial
   correlations of a continuous and an ordinal column likewise (:func:`polychoric`,
   :func:`polyserial`), Pearson correlations of two continuous columns. Probabilities come
   from the bivariate normal distribution function (Gauss-Legendre quadrature of Sheppard's
   integral, accurate to about 1e-12).
3. **Weight matrix**: the asymptotic covariance ``Gamma`` of thresholds and correlations
   (Muthen 1984, lavaan's ``muthen1984``): ``Gamma = N B^-1 J B^-T`` with ``J`` the cross
   product of the casewise scores of the univariate and bivariate likelihoods and ``B`` the
   block-triangular matrix of their derivatives (estimated by score cross products, as
   lavaan).
4. **DWLS estimates**: minimise ``F = (s - sigma(theta))' W (s - sigma(theta))`` with ``W`` the
   inverse of the diagonal of ``Gamma``, ``s`` the thresholds and polychoric correlations and
   ``sigma(theta)`` their model-implied values (delta parameterisation: the latent responses
   have unit variance, residual variances are ``1 - R^2`` and not free).
5. **Robust standard errors**: ``(D'WD)^-1 D'W Gamma W D (D'WD)^-1 / (N - 1)`` (``D`` the
   Jacobian of ``sigma``), lavaan's ``se = "robust.sem"``; like lavaan, the sample size of
   these formulas, of the test statistic and of RMSEA is ``N - 1``.
6. **Tests**: ``T = (N - 1) F``; the mean-and-variance adjusted (``scaled.shifted``) statistic
   ``a T + b`` with ``a = sqrt(df / tr((U Gamma)^2))``, ``b = df - a tr(U Gamma)``,
   ``U = W - W D (D'WD)^-1 D' W`` (what ``estimator = "WLSMV"`` reports); the baseline model
   has free thresholds and zero correlations. CFI, TLI and RMSEA in three versions as lavaan:
   standard, ``scaled`` (from the scaled-shifted statistics) and ``robust`` (the ``catML``
   approach of Savalei 2021: the normal-theory ML discrepancy between the polychoric matrix
   and the DWLS-implied one, with its own scaling correction).

Ordinal observed outcomes may enter regressions (``nps ~ commitment``); their residual
variances follow lavaan's rule (see :meth:`_OrdinalModel._parts`).

**Continuous variables among them** (``fit_wlsmv(..., ordered=[...])``, lavaan's
``ordered = c(...)``: a 0-10 answer or an index kept numeric, the Likert items ordinal): the
sample statistics become, in lavaan's order, each variable's thresholds or minus its mean,
the variances of the continuous variables, then the correlations of each pair (polychoric,
polyserial times the continuous variable's SD, Pearson covariances). Their ``Gamma`` adds the
casewise scores of the normal likelihood of each continuous variable (mean, variance) and of
the bivariate polyserial and normal likelihoods, and moves correlations to covariances by
their Jacobian (lavaan's ``muthen1984``). The continuous variables' residual variances and
intercepts are free (the ordinal ones stay in the delta parameterisation); the thresholds
and means part is saturated, so the structural estimates come from the covariance part, and
the thresholds and intercepts that reproduce the means follow through the model's mean
structure (an intercept of a regression outcome is ``mean - b * mean of its predictor``;
an ordinal outcome predicted by a continuous one has its thresholds shifted by its latent
response's mean, as lavaan). The robust CFI, TLI and RMSEA are not defined then (lavaan's
catML needs every variable ordinal) and are NaN.

Validated against lavaan 0.6-14 (``tests/results/ordinal/make_ordinal.R``) on
HolzingerSwineford1939 cut into three ordered categories (a CFA, a structural model, and a
model with observed ordinal outcomes, one predicting the other) and on psych's ``bfi``
(25 items, 1-6, five factors), and against ``polycor::polychor`` and ``lavCor``
(``tests/models/test_ordinal.py``); mixed data against lavaan 0.6-14's ``ordered = c(...)``
(``tests/results/ordinal/make_mixed.R``) on HolzingerSwineford1939 with x1-x3 cut into three
categories and x4-x9 continuous (a CFA, a model with continuous observed outcomes, and one
with an ordinal outcome predicted by a continuous one).

**Several groups** (:func:`fit_wlsmv_multigroup`, lavaan's ``group = ..., group.equal =
...``): each group has its own thresholds, polychoric correlations and ``Gamma``; the
groups' models are those of the delta parameterisation with a mean structure,
``rho_ij = delta_i delta_j (Lambda Psi Lambda' + Theta)_ij`` and ``tau*_ik = delta_i (tau_ik -
Lambda_i alpha)`` (``delta`` the scaling factors, lavaan's ``~*~``; ``alpha`` the latent
means; the latent responses' intercepts 0). As lavaan: in the configural model every
group's scaling factors are 1 and latent means 0; once thresholds are equal, both are free
from the second group on. The estimates minimise ``sum_g (n_g - 1) F_g``, ``T`` is that sum,
the robust SEs and the scaled-shifted test stack the groups with weights ``n_g / N`` and the
SEs divide by ``N - G``; RMSEA uses ``N - G`` and is multiplied by ``sqrt(G)``.
:func:`wlsmv_difference_test` is ``lavTestLRT``'s test of two nested WLSMV fits (Satorra
2000, scaled-shifted). Validated against lavaan 0.6-14 (``tests/results/ordinal/
make_multigroup.R``) on the cut HolzingerSwineford1939 items by school: configural, equal
thresholds, equal loadings, both, and a partial model; every difference test between them.

Not covered: observed predictors (covariates, lavaan's ``conditional.x``), missing answers
other than listwise deletion, continuous variables alone (lavaan's WLSMV without
``ordered``); across groups, structural paths, continuous variables and the theta
parameterisation (so no residual variances to hold equal). The robust (catML) CFI, TLI and
RMSEA across groups exist only while thresholds are free in every group (lavaan's rule).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize as _opt
from scipy import stats as _st
from scipy.special import ndtr, ndtri

from crqlab.errors import ConvergenceError, InsufficientDataError
from crqlab.models import sem as _sem
from crqlab.stats import z_crit

__all__ = ["MAX_CATEGORIES", "MULTIGROUP_EQUAL", "bivariate_normal_cdf", "thresholds",
           "polychoric", "polyserial", "OrdinalMoments", "ordinal_moments", "fit_wlsmv",
           "fit_wlsmv_multigroup", "wlsmv_difference_test"]

#: More distinct values than this and a column is refused as ordinal (it looks continuous).
MAX_CATEGORIES = 15

_EPS_PI = float(np.sqrt(np.finfo(float).eps))  # lavaan's floor on cell probabilities
_GL_X, _GL_W = np.polynomial.legendre.leggauss(24)
_RHO_BOUND = 0.999  # lavaan's bounds on a polychoric correlation


# ----------------------------------------------------------------------------------------------
# The bivariate normal distribution
# ----------------------------------------------------------------------------------------------

# panel edges, as fractions of the way from pi/2 down to asin(rho), for |rho| > 0.925:
# graded towards pi/2, where exp(-(h - k)^2 / (2 cos^2 t)) has a boundary layer as thin as |h - k|
_HIGH_EDGES = np.array([0.0, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 0.1, 0.3, 0.6, 1.0])


def _sheppard(h, k, edges, from_top: bool = False) -> np.ndarray:
    """(1/2pi) * integral of exp(-(h^2 + k^2 - 2hk sin t) / (2 cos^2 t)) dt over the panels
    between consecutive ``edges`` (Gauss-Legendre, 24 nodes per panel). With ``from_top`` the
    edges are distances ``u = pi/2 - t``, and ``1 - sin t = 2 sin^2(u/2)``, ``cos t = sin u``
    are computed without cancellation."""
    h = np.asarray(h, dtype=float)[..., None]
    k = np.asarray(k, dtype=float)[..., None]
    total = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        t = 0.5 * (hi - lo) * _GL_X + 0.5 * (hi + lo)
        if from_top:
            one_minus_s, c2 = 2 * np.sin(t / 2) ** 2, np.sin(t) ** 2
        else:
            one_minus_s, c2 = 1 - np.sin(t), np.cos(t) ** 2
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            f = np.exp(-((h - k) ** 2 + 2 * h * k * one_minus_s) / (2 * c2))
        f = np.where(c2 > 0, f, 0.0)
        total = total + 0.5 * (hi - lo) * (f @ _GL_W)
    return total / (2 * np.pi)


def _sheppard_low(h, k, rho: float) -> np.ndarray:
    return _sheppard(h, k, np.linspace(0.0, float(np.arcsin(rho)), 3))


def _sheppard_high(h, k, rho: float) -> np.ndarray:
    """The integral from asin(rho) to pi/2, on panels graded towards pi/2."""
    return _sheppard(h, k, float(np.arccos(rho)) * _HIGH_EDGES, from_top=True)


def bivariate_normal_cdf(h, k, rho: float) -> np.ndarray:
    """P(X <= h, Y <= k) for standard bivariate normal X, Y with correlation ``rho``.

    Parameters
    ----------
    h, k : array-like
        Upper limits (broadcast against each other; infinite values allowed).
    rho : float
        Correlation, in [-1, 1].

    Returns
    -------
    ndarray

    Notes
    -----
    Sheppard's formula ``Phi2 = Phi(h) Phi(k) + (1/2pi) int_0^asin(rho) exp(...) dt`` by
    Gauss-Legendre quadrature (2 panels of 24 nodes); for ``|rho| > 0.925`` the integral is
    taken from the other end (``Phi(min(h, k))`` at ``rho = 1``), as Genz (2004) does, on
    panels graded towards ``pi/2``. Checked against 30-digit adaptive quadrature (mpmath) to
    1e-12 (``tests/models/test_ordinal.py``).
    """
    h, k = np.broadcast_arrays(np.asarray(h, dtype=float), np.asarray(k, dtype=float))
    out = np.empty(h.shape)
    inf = ~(np.isfinite(h) & np.isfinite(k))
    if inf.any():  # a limit at +-inf: a univariate probability or 0
        hi, ki = h[inf], k[inf]
        out[inf] = np.where((hi == -np.inf) | (ki == -np.inf), 0.0,
                            np.where(hi == np.inf, ndtr(ki), ndtr(hi)))
    fin = ~inf
    if not fin.any():
        return out
    hf, kf = h[fin], k[fin]
    if abs(rho) <= 0.925:
        val = ndtr(hf) * ndtr(kf) + _sheppard_low(hf, kf, rho)
    elif rho > 0:
        val = ndtr(np.minimum(hf, kf)) - _sheppard_high(hf, kf, rho)
    else:  # P(X <= h, Y <= k; rho) = Phi(h) - P(X <= h, -Y <= -k; -rho)
        val = ndtr(hf) - (ndtr(np.minimum(hf, -kf)) - _sheppard_high(hf, -kf, -rho))
    out[fin] = np.clip(val, 0.0, 1.0)
    return out


def _bvn_density(h, k, rho: float) -> np.ndarray:
    h, k = np.broadcast_arrays(np.asarray(h, dtype=float), np.asarray(k, dtype=float))
    r2 = 1 - rho * rho
    with np.errstate(invalid="ignore", over="ignore"):
        q = (h * h - 2 * rho * h * k + k * k) / r2
        d = np.exp(-q / 2) / (2 * np.pi * np.sqrt(r2))
    return np.where(np.isfinite(h) & np.isfinite(k), d, 0.0)


# ----------------------------------------------------------------------------------------------
# Step 1: thresholds
# ----------------------------------------------------------------------------------------------

def _codes(col: pd.Series, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Category codes 0..K-1 (sorted distinct values; unused levels dropped, as lavaan)."""
    x = _sem._to_float(col)
    if np.isnan(x).any():
        raise InsufficientDataError(f"column {name!r} has missing values (first at row "
                                    f"{col.index[int(np.argmax(np.isnan(x)))]!r}); drop them "
                                    f"first (n = {len(x)})")
    levels, codes = np.unique(x, return_inverse=True)
    if levels.size < 2:
        raise InsufficientDataError(f"column {name!r} has a single category "
                                    f"({levels[:1].tolist()}); an ordinal variable needs 2 or "
                                    f"more (n = {len(x)})")
    if levels.size > MAX_CATEGORIES:
        raise ValueError(f"column {name!r} has {levels.size} distinct values (more than "
                         f"{MAX_CATEGORIES}): it looks continuous, not ordinal")
    return codes.astype(int), levels


def thresholds(data: pd.DataFrame, columns=None) -> pd.DataFrame:
    """Thresholds of ordinal columns, ``tau_k = Phi^-1(cumulative share up to category k)``.

    Parameters
    ----------
    data : DataFrame
        Ordinal answers (any ordered numeric codes; no missing values).
    columns : list of str, optional
        Default every column.

    Returns
    -------
    DataFrame
        ``variable, threshold`` (``t1, t2, ...``), ``category`` (the value at or below which
        the threshold cuts), ``est, se, n``; ``se`` from the asymptotic variance
        ``p (1 - p) / (N phi(tau)^2)``.

    Notes
    -----
    Equals lavaan's sample thresholds (``lavInspect(fit, "sampstat")$th``) on the cut
    HolzingerSwineford1939 items and on bfi (``tests/models/test_ordinal.py``).
    """
    columns = list(columns if columns is not None else data.columns)
    rows = []
    for c in columns:
        codes, levels = _codes(data[c], c)
        n = codes.size
        cum = np.cumsum(np.bincount(codes, minlength=levels.size))[:-1] / n
        tau = ndtri(cum)
        se = np.sqrt(cum * (1 - cum) / n) / _st.norm.pdf(tau)
        for t in range(tau.size):
            rows.append({"variable": c, "threshold": f"t{t + 1}", "category": levels[t],
                         "est": float(tau[t]), "se": float(se[t]), "n": n})
    return pd.DataFrame(rows, columns=["variable", "threshold", "category", "est", "se", "n"])


# ----------------------------------------------------------------------------------------------
# Step 2: polychoric correlations and their scores
# ----------------------------------------------------------------------------------------------

@dataclass
class _Pair:
    """One pair's table, cell probabilities and cellwise scores at its polychoric rho."""

    i: int
    j: int
    freq: np.ndarray
    rho: float
    pi: np.ndarray
    d_rho: np.ndarray     # d log pi_ab / d rho, per cell
    d_th_i: np.ndarray    # d log pi_ab / d tau_i[t], cells x thresholds of i
    d_th_j: np.ndarray


def _bounds(tau: np.ndarray) -> np.ndarray:
    return np.concatenate([[-np.inf], tau, [np.inf]])


def _cell_pi(rho: float, ti: np.ndarray, tj: np.ndarray) -> np.ndarray:
    """Cell probabilities of the (K_i x K_j) table (lavaan's ``lav_bvord_noexo_pi``)."""
    bi, bj = _bounds(ti), _bounds(tj)
    cdf = bivariate_normal_cdf(bi[:, None], bj[None, :], rho)
    pi = cdf[1:, 1:] - cdf[:-1, 1:] - cdf[1:, :-1] + cdf[:-1, :-1]
    return np.maximum(pi, _EPS_PI)


def _cell_dpi_drho(rho: float, ti: np.ndarray, tj: np.ndarray) -> np.ndarray:
    bi, bj = _bounds(ti), _bounds(tj)
    phi2 = _bvn_density(bi[:, None], bj[None, :], rho)
    return phi2[1:, 1:] - phi2[:-1, 1:] - phi2[1:, :-1] + phi2[:-1, :-1]


def _zero_cells(freq: np.ndarray, name: str) -> np.ndarray:
    """lavaan's treatment of empty cells (``zero.add = c(0.5, 0)``, ``zero.keep.margins``)."""
    freq = freq.astype(float)
    zeros = freq == 0
    if freq.shape == (2, 2) and zeros.any():
        if zeros.sum() >= 2:
            raise InsufficientDataError(f"the 2 x 2 table of {name} has {int(zeros.sum())} "
                                        "empty cells: its polychoric correlation is +-1")
        adj = 0.5 if (zeros[0, 0] or zeros[1, 1]) else -0.5
        freq += adj * np.array([[1.0, -1.0], [-1.0, 1.0]])
    return freq


def _fit_pair(i: int, j: int, ci: np.ndarray, cj: np.ndarray, ti, tj, name: str) -> _Pair:
    ki, kj = ti.size + 1, tj.size + 1
    freq = np.bincount(ci * kj + cj, minlength=ki * kj).reshape(ki, kj)
    work = _zero_cells(freq, name)

    def score(rho):
        return float(np.sum(work * _cell_dpi_drho(rho, ti, tj) / _cell_pi(rho, ti, tj)))

    rho = _fisher_rho(work, ti, tj, ci, cj)
    if rho is None:  # scoring failed: bracket the root of the score
        lo, hi = score(-_RHO_BOUND), score(_RHO_BOUND)
        if lo <= 0 or hi >= 0:  # the likelihood does not peak inside the bounds
            raise ConvergenceError(f"the polychoric correlation of {name} is at the bound "
                                   f"+-{_RHO_BOUND} (a near-perfect association or an empty "
                                   "table corner): it cannot be estimated")
        rho = float(_opt.brentq(score, -_RHO_BOUND, _RHO_BOUND, xtol=1e-14, rtol=1e-14))
    pi = _cell_pi(rho, ti, tj)
    d_rho = _cell_dpi_drho(rho, ti, tj) / pi
    return _Pair(i, j, freq, rho, pi, d_rho, _dlogpi_dtau(rho, ti, tj, pi),
                 _dlogpi_dtau(rho, tj, ti, pi.T).reshape(kj, ki, -1).transpose(1, 0, 2))


def _fisher_rho(work, ti, tj, ci, cj, max_iter: int = 100) -> float | None:
    """Fisher scoring for rho from the Pearson correlation of the codes (lavaan's start);
    None when it leaves the bounds or does not settle."""
    rho = float(np.clip(np.corrcoef(ci, cj)[0, 1], -0.9, 0.9)) if np.std(ci) * np.std(cj) \
        > 0 else 0.0
    if not np.isfinite(rho):
        rho = 0.0
    total = work.sum()
    for _ in range(max_iter):
        pi = _cell_pi(rho, ti, tj)
        dpi = _cell_dpi_drho(rho, ti, tj)
        step = float(np.sum(work * dpi / pi)) / (total * float(np.sum(dpi * dpi / pi)))
        rho += step
        if not abs(rho) < _RHO_BOUND:
            return None
        if abs(step) < 1e-13:
            return rho
    return None


def _dlogpi_dtau(rho: float, ta: np.ndarray, tb: np.ndarray, pi: np.ndarray) -> np.ndarray:
    """d log pi_ab / d tau_a[t] for every cell (a, b): lavaan's ``dx.th.y1`` per cell."""
    ba, bb = _bounds(ta), _bounds(tb)
    r = np.sqrt(1 - rho * rho)
    # z[m, b] = phi(ba[m]) * (Phi((bb[b+1] - rho ba[m]) / r) - Phi((bb[b] - rho ba[m]) / r))
    with np.errstate(invalid="ignore"):
        arg = (bb[None, :] - rho * ba[:, None]) / r
    cdf = np.where(np.isfinite(bb)[None, :], ndtr(arg), (bb[None, :] > 0).astype(float))
    z = _st.norm.pdf(ba)[:, None] * (cdf[:, 1:] - cdf[:, :-1])  # (K_a + 1) x K_b
    ka, kb, nt = ta.size + 1, tb.size + 1, ta.size
    out = np.zeros((ka, kb, nt))
    for a in range(ka):
        if a < nt:             # threshold a is the upper limit of category a
            out[a, :, a] += z[a + 1]
        if a >= 1:             # threshold a-1 is its lower limit
            out[a, :, a - 1] -= z[a]
    return out / pi[:, :, None]


def polyserial(x, y) -> float:
    """Two-step polyserial correlation of a continuous ``x`` and an ordinal ``y`` (lavaan's).

    Parameters
    ----------
    x : array-like
        Continuous values (standardised with the ML mean and SD, divisor N).
    y : array-like
        Ordinal codes; thresholds from its margins.

    Returns
    -------
    float

    Notes
    -----
    Maximises ``sum log[Phi((tau_c - rho z) / R) - Phi((tau_{c-1} - rho z) / R)]``,
    ``R = sqrt(1 - rho^2)``, with the thresholds held (lavaan's ``lav_bvmix_cor_twostep_fit``;
    not polycor's ad hoc two-step estimator). Equals ``lavCor`` on HolzingerSwineford1939 with
    x1-x3 continuous (``tests/models/test_ordinal.py``).
    """
    xv = np.asarray(x, dtype=float)
    code, _ = _codes(pd.Series(y), "y")
    if xv.shape != code.shape or np.isnan(xv).any():
        raise ValueError("polyserial needs x and y of the same length without missing values")
    sd = xv.std()
    if sd == 0:
        raise InsufficientDataError(f"x is constant: no polyserial correlation (n = {xv.size})")
    k = int(code.max()) + 1
    tau = ndtri(np.cumsum(np.bincount(code, minlength=k))[:-1] / code.size)
    return _polyserial_rho((xv - xv.mean()) / sd, code, tau, "x and y")


def _mix_bounds(code: np.ndarray, tau: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Upper and lower threshold of each answer's category, +-100 at the ends (lavaan's)."""
    b = np.concatenate([[-100.0], tau, [100.0]])
    return b[code + 1], b[code]


def _polyserial_rho(z: np.ndarray, code: np.ndarray, tau: np.ndarray, name: str) -> float:
    """The two-step polyserial rho of standardised ``z`` and category codes (thresholds held):
    the root of the summed rho scores (:func:`_bvmix_scores`)."""
    up, lo = _mix_bounds(code, tau)

    def score(rho):
        r = np.sqrt(1 - rho * rho)
        a_up, a_lo = (up - rho * z) / r, (lo - rho * z) / r
        p = np.maximum(ndtr(a_up) - ndtr(a_lo), _EPS_PI)
        d_up = _st.norm.pdf(a_up) * (rho * up - z)
        d_lo = _st.norm.pdf(a_lo) * (rho * lo - z)
        return float(np.sum((d_up - d_lo) / p)) / r ** 3

    if score(-_RHO_BOUND) > 0 and score(_RHO_BOUND) < 0:
        return float(_opt.brentq(score, -_RHO_BOUND, _RHO_BOUND, xtol=1e-14, rtol=1e-14))
    # the floor on cell probabilities (_EPS_PI) can flip the score's sign right at a bound
    # (a 0-10 answer against a binary outcome: the extreme answers get probability ~0 there)
    # although the maximum is inside: look for interior roots on a grid, keep the best
    grid = np.linspace(-_RHO_BOUND, _RHO_BOUND, 201)
    signs = np.array([score(r) for r in grid])
    brackets = [(a, b) for a, b, sa, sb in zip(grid[:-1], grid[1:], signs[:-1], signs[1:])
                if sa > 0 >= sb]
    if not brackets:
        raise ConvergenceError(f"the polyserial correlation of {name} is at the bound "
                               f"+-{_RHO_BOUND}: it cannot be estimated")

    def loglik(rho):
        r = np.sqrt(1 - rho * rho)
        return float(np.sum(np.log(np.maximum(ndtr((up - rho * z) / r)
                                              - ndtr((lo - rho * z) / r), _EPS_PI))))

    roots = [_opt.brentq(score, a, b, xtol=1e-14, rtol=1e-14) if score(b) != 0 else b
             for a, b in brackets]
    return float(max(roots, key=loglik))


def _bvmix_scores(x: np.ndarray, mean: float, var: float, code: np.ndarray, tau: np.ndarray,
                  rho: float) -> dict:
    """Casewise scores of the polyserial likelihood of (continuous x, ordinal code) in rho,
    x's mean and variance and the ordinal thresholds (lavaan's ``lav_bvmix_cor_scores``)."""
    sd = np.sqrt(var)
    z = (x - mean) / sd
    r = np.sqrt(1 - rho * rho)
    up, lo = _mix_bounds(code, tau)
    t_up, t_lo = (up - rho * z) / r, (lo - rho * z) / r
    p = np.maximum(ndtr(t_up) - ndtr(t_lo), np.finfo(float).eps)
    d_up, d_lo = _st.norm.pdf(t_up), _st.norm.pdf(t_lo)
    nt = tau.size
    th = np.zeros((x.size, nt))
    rows = np.arange(x.size)
    upper = code < nt                   # threshold `code` is the category's upper limit
    th[rows[upper], code[upper]] += d_up[upper]
    lower = code >= 1                   # threshold `code - 1` its lower limit
    th[rows[lower], code[lower] - 1] -= d_lo[lower]
    return {"rho": (d_up * (up * rho - z) - d_lo * (lo * rho - z)) / (p * r ** 3),
            "mean": (z + rho / r * (d_up - d_lo) / p) / sd,
            "var": ((z * z - 1) + rho * z / r * (d_up - d_lo) / p) / (2 * var),
            "th": th / (r * p)[:, None]}


def _bvreg_scores(x1, m1, v1, x2, m2, v2, rho: float) -> dict:
    """Casewise scores of the bivariate normal likelihood of two continuous columns in rho and
    their means and variances (lavaan's ``lav_bvreg_cor_scores``)."""
    c1, c2 = x1 - m1, x2 - m2
    s1, s2 = np.sqrt(v1), np.sqrt(v2)
    r = 1 - rho * rho
    q = c1 * c1 / v1 - 2 * rho * c1 * c2 / (s1 * s2) + c2 * c2 / v2
    return {"rho": rho / r + (c1 * c2 / (s1 * s2 * r) - q * rho / (r * r)),
            "mean1": (c1 / v1 - rho * c2 / (s1 * s2)) / r,
            "mean2": (c2 / v2 - rho * c1 / (s1 * s2)) / r,
            "var1": -(0.5 / v1 - (c1 * c1 / (v1 * v1) - rho * c1 * c2 / (v1 * s1 * s2)) / (2 * r)),
            "var2": -(0.5 / v2 + (rho * c1 * c2 / (v2 * s1 * s2) - c2 * c2 / (v2 * v2)) / (2 * r))}


def polychoric(data: pd.DataFrame, columns=None, *, continuous=()) -> pd.DataFrame:
    """Two-step polychoric correlation matrix of ordinal columns (lavaan's ``lavCor``), with
    polyserial and Pearson correlations for ``continuous`` columns.

    Parameters
    ----------
    data : DataFrame
        Answers, no missing values (drop incomplete rows first).
    columns : list of str, optional
        Default every column.
    continuous : sequence of str
        Columns measured on a continuous scale (lavCor's variables not in ``ordered``):
        Pearson correlations among them, polyserial correlations with the ordinal ones.

    Returns
    -------
    DataFrame
        Correlation matrix with the column names; ``attrs["n"]`` the rows used.

    Raises
    ------
    ConvergenceError
        A pair whose correlation is at the bound +-0.999 (not estimable).

    Notes
    -----
    Thresholds from the margins, then each correlation by maximum likelihood with the
    thresholds fixed (``polycor::polychor(x, y, ML = FALSE)``); empty cells as lavaan (0.5
    added to an empty cell of a 2 x 2 table, margins kept). Equals ``lavCor`` to 1e-6 on
    cut HolzingerSwineford1939 items, with three of them continuous, and on binary tables
    with an empty cell; polycor to its optimiser's tolerance (``tests/models/test_ordinal.py``).
    """
    columns = list(columns if columns is not None else data.columns)
    continuous = [c for c in continuous]
    unknown = [c for c in continuous if c not in columns]
    if unknown:
        raise ValueError(f"continuous columns {unknown} are not among the columns {columns}")
    ordered = [c for c in columns if c not in continuous]
    r = pd.DataFrame(np.identity(len(columns)), index=columns, columns=columns)
    if len(ordered) >= 2:
        r.loc[ordered, ordered] = ordinal_moments(data, ordered, weights=False).correlation
    if continuous:
        cont = pd.DataFrame({c: _sem._to_float(data[c]) for c in continuous})
        if cont.isna().any().any():
            raise InsufficientDataError(f"continuous columns {continuous} have missing values; "
                                        f"drop them first (n = {len(data)})")
        r.loc[continuous, continuous] = cont.corr().to_numpy()
        for c in continuous:
            for o in ordered:
                r.loc[c, o] = r.loc[o, c] = polyserial(cont[c].to_numpy(), data[o])
    r.attrs["n"] = len(data)
    return r


# ----------------------------------------------------------------------------------------------
# Step 3: moments and their asymptotic covariance
# ----------------------------------------------------------------------------------------------

@dataclass
class OrdinalMoments:
    """Thresholds, polychoric (and polyserial, Pearson) correlations and (optionally) their
    asymptotic covariance: lavaan's WLS sample statistics.

    Attributes
    ----------
    columns : list of str
    n : int
    thresholds : list of ndarray
        Per column, its thresholds (none for a continuous column).
    correlation : DataFrame
        Polychoric correlations of ordinal pairs, polyserial of ordinal-continuous pairs,
        Pearson of continuous pairs.
    gamma : ndarray or None
        ``N`` times the asymptotic covariance of :attr:`vector` (lavaan's
        ``lavInspect(fit, "gamma")``).
    empty_cells : list of tuple
        Pairs whose table has an empty cell (reported, as lavaan's ``zero.cell.tables``).
    continuous : list of str
        The columns treated as continuous (lavaan's variables not in ``ordered``).
    means, variances : ndarray
        Per column, the ML mean and variance (divisor N) of a continuous column; NaN and 1
        for an ordinal one.
    """

    columns: list
    n: int
    thresholds: list
    correlation: pd.DataFrame
    gamma: np.ndarray | None
    empty_cells: list
    continuous: list = field(default_factory=list)
    means: np.ndarray | None = None
    variances: np.ndarray | None = None

    @property
    def covariance(self) -> pd.DataFrame:
        """The correlations with continuous columns scaled by their SDs (lavaan's
        ``sampstat$cov``): their variances, covariances, and polyserial correlation x SD."""
        sd = np.sqrt(self.variances if self.variances is not None
                     else np.ones(len(self.columns)))
        return self.correlation * np.outer(sd, sd)

    @property
    def labels(self) -> list[tuple]:
        """What each element of :attr:`vector` is: ``(column, "|", k)`` a threshold,
        ``(column, "~1")`` minus a continuous column's mean, ``(column, "~~", column)`` its
        variance, ``(a, "~~", b)`` the correlation (covariance) of a pair."""
        out = []
        for c, tau in zip(self.columns, self.thresholds):
            out += [(c, "~1")] if c in self.continuous else [(c, "|", k) for k in
                                                              range(tau.size)]
        out += [(c, "~~", c) for c in self.columns if c in self.continuous]
        rows, cols = _pair_index(len(self.columns))
        out += [(self.columns[j], "~~", self.columns[i]) for i, j in zip(rows, cols)]
        return out

    @property
    def vector(self) -> np.ndarray:
        """lavaan's ``wls.obs``: per column its thresholds, or minus its mean if continuous;
        the variances of the continuous columns; the correlations (covariances with a
        continuous column) of each pair, column-wise lower triangle: (2,1), (3,1), ..., (p,1),
        (3,2), ..."""
        first = [np.array([-self.means[q]]) if c in self.continuous else self.thresholds[q]
                 for q, c in enumerate(self.columns)]
        cov = self.covariance.to_numpy()
        num = [q for q, c in enumerate(self.columns) if c in self.continuous]
        rows, cols = _pair_index(len(self.columns))
        return np.concatenate(first + [np.diag(cov)[num], cov[rows, cols]])


def _pair_index(p: int) -> tuple[np.ndarray, np.ndarray]:
    """lavaan's vech order without the diagonal: for each column j, rows i > j."""
    rows, cols = [], []
    for j in range(p):
        for i in range(j + 1, p):
            rows.append(i)
            cols.append(j)
    return np.array(rows, dtype=int), np.array(cols, dtype=int)


def ordinal_moments(data: pd.DataFrame, columns=None, *, continuous=(),
                    weights: bool = True) -> OrdinalMoments:
    """Thresholds, polychoric correlations and their asymptotic covariance (lavaan's WLS
    sample statistics), with continuous columns among them if asked.

    Parameters
    ----------
    data : DataFrame
        Ordinal answers (and continuous columns), no missing values.
    columns : list of str, optional
        Default every column.
    continuous : sequence of str
        Columns measured on a continuous scale (lavaan's variables not in ``ordered``): they
        enter with their mean and variance, Pearson covariances among them and polyserial
        correlations with the ordinal ones.
    weights : bool
        Compute ``gamma`` (the basis of the WLSMV weight matrix); False for the correlations
        alone.

    Returns
    -------
    OrdinalMoments

    Notes
    -----
    ``gamma`` follows lavaan's ``muthen1984``: casewise scores of the univariate likelihoods
    (an ordinal column's thresholds; a continuous column's normal mean and variance) and of
    the bivariate likelihoods in rho (polychoric, polyserial, bivariate normal), ``A11`` the
    per-column blocks of the univariate score cross product, ``A21`` the cross products of
    the rho scores with the bivariate scores of the univariate parameters, ``A22`` the
    squared rho scores; ``gamma = N H B^-1 J B^-T H'`` with
    ``B^-1 = [[A11^-1, 0], [-A22^-1 A21 A11^-1, A22^-1]]`` and ``H`` the Jacobian of the
    move from correlations to covariances (``cov = rho sd_1 sd_2``); the rows of the means
    change sign (the vector holds minus the mean, as lavaan). Equals ``lavInspect(fit,
    "gamma")`` on the cut HolzingerSwineford1939 items, all ordinal and with six of them
    continuous (``tests/models/test_ordinal.py``).
    """
    columns = list(columns if columns is not None else data.columns)
    continuous = list(continuous)
    unknown = [c for c in continuous if c not in columns]
    if unknown:
        raise ValueError(f"continuous columns {unknown} are not among the columns {columns}")
    if len(columns) < 2:
        raise ValueError(f"polychoric correlations need 2 or more columns, got {columns}")
    codes, taus, xs = [], [], []
    p = len(columns)
    means, variances = np.full(p, np.nan), np.ones(p)
    for q, c in enumerate(columns):
        if c in continuous:
            x = _sem._to_float(data[c])
            if np.isnan(x).any():
                raise InsufficientDataError(
                    f"column {c!r} has missing values (first at row "
                    f"{data.index[int(np.argmax(np.isnan(x)))]!r}); drop them first "
                    f"(n = {len(x)})")
            means[q], variances[q] = x.mean(), x.var()
            if variances[q] <= 0:
                raise InsufficientDataError(f"continuous column {c!r} is constant "
                                            f"({x[:1].tolist()}) (n = {len(x)})")
            codes.append(None)
            taus.append(np.array([]))
            xs.append(x)
            continue
        code, _ = _codes(data[c], c)
        codes.append(code)
        k = int(code.max()) + 1
        cum = np.cumsum(np.bincount(code, minlength=k))[:-1] / code.size
        taus.append(ndtri(cum))
        xs.append(None)
    n = len(data)
    rows, cols = _pair_index(p)
    pairs = []
    r = np.identity(p)
    empty = []
    for i, j in zip(rows, cols):
        name = f"columns {columns[i]!r} and {columns[j]!r}"
        if xs[i] is not None and xs[j] is not None:
            rho = float(np.corrcoef(xs[i], xs[j])[0, 1])
            pairs.append(("num", i, j, rho))
        elif xs[i] is not None or xs[j] is not None:
            a, b = (i, j) if xs[i] is not None else (j, i)  # a continuous, b ordinal
            z = (xs[a] - means[a]) / np.sqrt(variances[a])
            rho = _polyserial_rho(z, codes[b], taus[b], name)
            pairs.append(("mix", a, b, rho))
        else:
            pair = _fit_pair(i, j, codes[i], codes[j], taus[i], taus[j], name)
            if (pair.freq == 0).any():
                empty.append((columns[i], columns[j]))
            rho = pair.rho
            pairs.append(("ord", i, j, pair))
        r[i, j] = r[j, i] = rho
    corr = pd.DataFrame(r, index=columns, columns=columns)
    corr.attrs["n"] = n
    gamma = _gamma(codes, taus, xs, means, variances, pairs, n) if weights else None
    return OrdinalMoments(columns=columns, n=n, thresholds=taus, correlation=corr, gamma=gamma,
                          empty_cells=empty, continuous=[c for c in columns if c in continuous],
                          means=means, variances=variances)


def _gamma(codes, taus, xs, means, variances, pairs, n: int) -> np.ndarray:
    """lavaan's ``muthen1984`` (see :func:`ordinal_moments`)."""
    p = len(codes)
    size = [1 if xs[v] is not None else taus[v].size for v in range(p)]
    start = np.concatenate([[0], np.cumsum(size)]).astype(int)
    t_all, n_pair = int(start[-1]), len(pairs)
    num = [v for v in range(p) if xs[v] is not None]
    var_col = {v: t_all + m for m, v in enumerate(num)}
    a11_size = t_all + len(num)
    sc = np.zeros((n, a11_size + n_pair))
    blocks = []
    for v in range(p):
        th = np.arange(start[v], start[v + 1])
        if xs[v] is not None:
            c = xs[v] - means[v]
            sc[:, start[v]] = c / variances[v]
            sc[:, var_col[v]] = -1 / (2 * variances[v]) + c * c / (2 * variances[v] ** 2)
            blocks.append(np.array([start[v], var_col[v]]))
            continue
        code, tau = codes[v], taus[v]
        k = tau.size + 1
        share = np.bincount(code, minlength=k) / n
        dens = _st.norm.pdf(_bounds(tau))
        table = np.zeros((k, tau.size))  # score of each threshold for an answer in category c
        for c in range(k):
            if c < tau.size:
                table[c, c] += dens[c + 1] / share[c]
            if c >= 1:
                table[c, c - 1] -= dens[c] / share[c]
        sc[:, th] = table[code]
        blocks.append(th)
    a21 = np.zeros((n_pair, a11_size))
    h21 = np.zeros((n_pair, a11_size))
    h22 = np.ones(n_pair)
    sd = np.sqrt(variances)

    def th_of(v):
        return slice(start[v], start[v + 1])

    for m, (kind, i, j, obj) in enumerate(pairs):
        col = a11_size + m
        if kind == "ord":
            pr = obj
            sc[:, col] = pr.d_rho[codes[i], codes[j]]
            w = pr.freq * pr.d_rho  # sum over cases = sum over cells of counts
            a21[m, th_of(i)] = np.einsum("ab,abt->t", w, pr.d_th_i)
            a21[m, th_of(j)] = np.einsum("ab,abt->t", w, pr.d_th_j)
            continue
        rho = obj
        if kind == "num":
            s = _bvreg_scores(xs[i], means[i], variances[i], xs[j], means[j], variances[j],
                              rho)
            sc[:, col] = s["rho"]
            a21[m, start[i]] = s["rho"] @ s["mean1"]
            a21[m, start[j]] = s["rho"] @ s["mean2"]
            a21[m, var_col[i]] = s["rho"] @ s["var1"]
            a21[m, var_col[j]] = s["rho"] @ s["var2"]
            h21[m, var_col[i]] = sd[j] * rho / (2 * sd[i])
            h21[m, var_col[j]] = sd[i] * rho / (2 * sd[j])
            h22[m] = sd[i] * sd[j]
        else:  # i continuous, j ordinal
            s = _bvmix_scores(xs[i], means[i], variances[i], codes[j], taus[j], rho)
            sc[:, col] = s["rho"]
            a21[m, start[i]] = s["rho"] @ s["mean"]
            a21[m, th_of(j)] = s["rho"] @ s["th"]
            a21[m, var_col[i]] = s["rho"] @ s["var"]
            h21[m, var_col[i]] = rho / (2 * sd[i])
            h22[m] = sd[i]
    inner = sc.T @ sc
    a11_inv = np.zeros((a11_size, a11_size))
    for idx in blocks:
        a11_inv[np.ix_(idx, idx)] = np.linalg.inv(inner[np.ix_(idx, idx)])
    a22 = np.diag(inner)[a11_size:]
    if np.any(a22 <= 0):
        raise ConvergenceError("a polychoric correlation has no information (zero scores): "
                               "the weight matrix cannot be formed")
    b_inv = np.zeros_like(inner)
    b_inv[:a11_size, :a11_size] = a11_inv
    b_inv[a11_size:, a11_size:] = np.diag(1 / a22)
    b_inv[a11_size:, :a11_size] = -(a21 / a22[:, None]) @ a11_inv
    gamma = b_inv @ inner @ b_inv.T
    if num:
        h = np.identity(inner.shape[0])
        h[a11_size:, :a11_size] = h21
        h[a11_size:, a11_size:] = np.diag(h22)
        gamma = h @ gamma @ h.T
        flip = np.ones(inner.shape[0])
        flip[[start[v] for v in num]] = -1.0  # the vector holds minus the means
        gamma = gamma * np.outer(flip, flip)
    return n * gamma


# ----------------------------------------------------------------------------------------------
# Step 4-6: DWLS estimation, robust SEs, tests
# ----------------------------------------------------------------------------------------------

class _OrdinalModel:
    """The model's sample statistics as functions of its free parameters: the thresholds and
    means part (saturated: it is fitted exactly), then the variances of continuous variables
    and the correlations (covariances) of each pair."""

    def __init__(self, syntax: str, mom: OrdinalMoments):
        cov = mom.covariance.to_numpy()
        ev, vec = np.linalg.eigh(cov)
        start_cov = (vec * np.maximum(ev, 1e-3)) @ vec.T  # a PD stand-in for semopy's starts
        d = np.sqrt(np.diag(cov)) / np.sqrt(np.diag(start_cov))
        frame = _exact_moments_frame(start_cov * np.outer(d, d), mom.n, mom.columns)
        self.grp = _sem._Group(syntax, frame)
        self.observed = self.grp.observed
        self._check_structure()
        # the data's columns in the model's order
        pos = [mom.columns.index(v) for v in self.observed]
        self.continuous = [v for v in self.observed if v in mom.continuous]
        self.taus = [mom.thresholds[q] for q in pos]
        p = len(self.observed)
        num = [q for q, v in enumerate(self.observed) if v in self.continuous]
        pr, pc = _pair_index(p)
        # the covariance part: variances of the continuous variables, then each pair
        self.rows = np.concatenate([num, pr]).astype(int)
        self.cols = np.concatenate([num, pc]).astype(int)
        self.n_var = len(num)
        cov_m = cov[np.ix_(pos, pos)]
        self.r_obs = cov_m[self.rows, self.cols]
        labels = [lab for q, v in enumerate(self.observed)
                  for lab in ([(v, "~1")] if v in self.continuous
                              else [(v, "|", k) for k in range(self.taus[q].size)])]
        self.n_th = len(labels)  # thresholds and means
        labels += [(self.observed[i], "~~", self.observed[j]) for i, j in
                   zip(self.rows, self.cols)]
        self.labels = labels
        at = {_label_key(lab): k for k, lab in enumerate(mom.labels)}
        idx = np.array([at[_label_key(lab)] for lab in labels])
        self.gamma = mom.gamma[np.ix_(idx, idx)]
        self.m_obs = mom.vector[idx[:self.n_th]]
        t = self.grp.table
        inner = list(self.grp.sm.vars["inner"])
        self.inner = inner
        ordinal = {v for v in self.observed if v not in self.continuous}
        # residual variances fixed by the delta parameterisation: an ordinal indicator's
        # (Theta) and an observed ordinal outcome's disturbance (Psi of its inner copy);
        # those of continuous variables stay free
        theta_diag = ((t["matrix"] == 3) & (t["i"] == t["j"]) & (t["free"] >= 0)
                      & np.array([m == 3 and self.observed[q] in ordinal
                                  for m, q in zip(t["matrix"], t["i"])], dtype=bool))
        psi_obs = ((t["matrix"] == 2) & (t["i"] == t["j"]) & (t["free"] >= 0)
                   & np.array([m == 2 and inner[q] in ordinal
                                for m, q in zip(t["matrix"], t["i"])], dtype=bool))
        resid = t[theta_diag | psi_obs].drop_duplicates("free")
        self.resid_ids = resid["free"].to_numpy()
        self.resid_obs = np.array([self.observed.index(inner[q]) if m == 2 else q
                                   for m, q in zip(resid["matrix"], resid["i"])], dtype=int)
        self.act = np.array([k for k in range(self.grp.k) if k not in set(self.resid_ids)],
                            dtype=int)
        self.full = np.array(self.grp.start, dtype=float)
        self.s = np.concatenate([self.m_obs, self.r_obs])
        self.w = 1.0 / np.diag(self.gamma)

    def _check_structure(self) -> None:
        sm = self.grp.sm
        t = self.grp.table
        outcomes = set(t.loc[t["op"] == "~", "lhs"])
        exogenous = [v for v in sm.vars["inner"] if v in self.observed and v not in outcomes]
        if exogenous or self.grp.fixed_x:
            raise ValueError(
                f"estimator='WLSMV' here fits indicators and observed outcomes; the observed "
                f"variables {sorted(set(exogenous) | set(self.grp.fixed_x))} are predictors "
                "(covariates need probit regressions of the thresholds, lavaan's "
                "conditional.x, not offered: model them as single-indicator factors, or use "
                "estimator='ML')")

    def _parts(self, theta_act: np.ndarray):
        """Set the residual variances of ordinal variables as lavaan does: ``1 -
        diag(Sigma)`` of the model with every such residual variance at 0 (for an ordinal
        outcome that predicts another, the other's explained variance counts only the
        explained part of the first, so its latent response's variance exceeds 1); those of
        continuous variables are free parameters. Returns Sigma and semopy's parts for
        derivatives."""
        grp = self.grp
        self.full[self.act] = theta_act
        self.full[self.resid_ids] = 0.0
        sigma0, _, _ = grp._sigma_parts(self.full)
        self.full[self.resid_ids] = 1.0 - np.diag(sigma0)[self.resid_obs]
        return grp._sigma_parts(self.full)

    def set(self, theta_act: np.ndarray) -> None:
        self._parts(theta_act)
        self.grp.sm.update_matrices(self.full)

    def implied(self, theta_act: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Implied variances and correlations (covariances) and their Jacobian in the active
        parameters.

        As lavaan (its Delta matrix), the Jacobian holds the fixed residual variances
        constant: for an ordinal outcome that predicts another, whose residual variance moves
        the implied correlations, lavaan's estimates are the zero of this gradient, not the
        exact minimum of F (they differ by about 1e-4 on the reference model; a CFA, or a model
        whose ordinal outcomes predict nothing, has no such term)."""
        sigma, m, g = self._parts(theta_act)
        u, v = self.grp._uv(m, g)
        c = self.grp._loc_c
        i, j = self.rows, self.cols
        d_loc = c[:, None] * (u[:, i] * v[:, j] + v[:, i] * u[:, j])  # locations x entries
        return sigma[i, j], (self.grp._agg @ d_loc).T[:, self.act]

    def residuals(self, theta_act):
        sig, jac = self.implied(theta_act)
        sw = np.sqrt(self.w[self.n_th:])
        return sw * (self.r_obs - sig), -sw[:, None] * jac

    def full_delta(self, jac: np.ndarray) -> np.ndarray:
        """Jacobian of (thresholds and means, covariance part) in (the same thresholds and
        means, active parameters): the first part is saturated, its own parameters."""
        k = self.act.size
        out = np.zeros((self.s.size, self.n_th + k))
        out[:self.n_th, :self.n_th] = np.identity(self.n_th)
        out[self.n_th:, self.n_th:] = jac
        return out

    def mean_parameters(self, m: np.ndarray, theta_act: np.ndarray) -> np.ndarray:
        """The thresholds of ordinal variables and intercepts of continuous ones (in the
        order of the first ``n_th`` labels) that reproduce the fitted first part ``m``
        (thresholds, minus the means). Latent means are 0; a continuous variable's intercept
        is on its inner copy when it is a regression outcome; an ordinal variable's
        threshold is its implied one plus its latent response's mean (lavaan's ``tau -
        mu*``, non-zero when continuous outcomes predict it)."""
        self._parts(theta_act)
        beta, lamb = self.grp.sm.matrices[:2]
        c = np.linalg.inv(np.identity(beta.shape[0]) - beta)
        mu = np.zeros(len(self.observed))
        for k, lab in enumerate(self.labels[:self.n_th]):
            if lab[1] == "~1":
                mu[self.observed.index(lab[0])] = -m[k]
        cont_inner = [q for q, v in enumerate(self.inner) if v in self.continuous]
        alpha = np.zeros(len(self.inner))
        if cont_inner:
            target = mu[[self.observed.index(self.inner[q]) for q in cont_inner]]
            alpha[cont_inner] = np.linalg.solve(c[np.ix_(cont_inner, cont_inner)], target)
        from_inner = lamb @ (c @ alpha)  # each observed variable's mean through the model
        out = np.empty(self.n_th)
        for k, lab in enumerate(self.labels[:self.n_th]):
            q = self.observed.index(lab[0])
            if lab[1] == "|":
                out[k] = m[k] + from_inner[q]
            elif lab[0] in self.inner:
                out[k] = alpha[self.inner.index(lab[0])]
            else:
                out[k] = mu[q] - from_inner[q]
        return out

    def mean_jacobian(self, theta_act: np.ndarray, step: float = 1e-6) -> np.ndarray:
        """d mean_parameters / d (m, active parameters): exact columns in ``m`` (the map is
        linear in it), central differences in the others (zero without continuous
        variables)."""
        nt, k = self.n_th, theta_act.size
        out = np.zeros((nt, nt + k))
        zero = self.mean_parameters(np.zeros(nt), theta_act)
        for c in range(nt):
            out[:, c] = self.mean_parameters(np.identity(nt)[c], theta_act) - zero
        if self.continuous:
            for c in range(k):
                h = step * max(1.0, abs(theta_act[c]))
                up, dn = theta_act.copy(), theta_act.copy()
                up[c] += h
                dn[c] -= h
                out[:, nt + c] = (self.mean_parameters(self.m_obs, up)
                                  - self.mean_parameters(self.m_obs, dn)) / (2 * h)
        self.set(theta_act)
        return out


def _label_key(label: tuple) -> tuple:
    """A moment's label with the pair of a covariance in a fixed order."""
    if label[1] == "~~":
        return ("~~",) + tuple(sorted(label[::2]))
    return label


def _exact_moments_frame(cov: np.ndarray, n: int, columns) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    m = max(n, len(columns) + 2)
    z = rng.standard_normal((m, len(columns)))
    z -= z.mean(axis=0)
    z = z @ np.linalg.inv(np.linalg.cholesky(z.T @ z / m)).T
    return pd.DataFrame(z @ np.linalg.cholesky(cov).T, columns=columns)


def _dwls(model: _OrdinalModel, max_iter: int) -> tuple[np.ndarray, bool, str, int]:
    """Least squares in the active parameters (trust region), then Gauss-Newton steps to the
    zero of lavaan's gradient ``-2 D'W(s - sigma)`` (steps accepted while its norm falls)."""
    x0 = model.full[model.act].copy()
    res = _opt.least_squares(lambda th: model.residuals(th)[0], x0,
                             jac=lambda th: model.residuals(th)[1], method="trf",
                             xtol=1e-15, ftol=1e-15, gtol=1e-15, max_nfev=50 * max_iter)
    theta = res.x
    e, jac = model.residuals(theta)
    grad = jac.T @ e
    for it in range(50):
        if np.max(np.abs(grad)) < 1e-12:
            return theta, True, "converged", int(res.nfev) + it
        try:
            step = np.linalg.solve(jac.T @ jac, grad)
        except np.linalg.LinAlgError:
            return theta, False, "singular information", int(res.nfev) + it
        t, norm = 1.0, float(grad @ grad)
        while t > 1e-8:
            cand = theta - t * step
            ec, jc = model.residuals(cand)
            gc = jc.T @ ec
            if float(gc @ gc) < norm:
                theta, e, jac, grad = cand, ec, jc, gc
                break
            t /= 2
        else:
            break
    ok = np.max(np.abs(grad)) < 1e-8
    return theta, ok, ("converged" if ok else "gradient not zero"), int(res.nfev) + 50


def _trace_terms(u: np.ndarray, gamma: np.ndarray) -> tuple[float, float]:
    ug = u @ gamma
    return float(np.trace(ug)), float(np.sum(ug * ug.T))


def _scaled_shifted(stat: float, df: float, tr1: float, tr2: float) -> dict:
    a = np.sqrt(df / tr2)
    b = df - a * tr1
    return {"stat": a * stat + b, "scaling_factor": 1 / a, "shift": b}


def _cfi(x2, df, x2b, dfb, c=1.0, cb=1.0) -> float:
    if df > 0 and c != 1 and cb != 1:
        t1, t2 = max(x2 - c * df, 0.0), max(x2 - c * df, x2b - cb * dfb, 0.0)
    else:
        t1, t2 = max(x2 - df, 0.0), max(x2 - df, x2b - dfb, 0.0)
    return 1.0 if (np.isclose(t1, 0) and np.isclose(t2, 0)) else 1 - t1 / t2


def _tli(x2, df, x2b, dfb, c=1.0, cb=1.0) -> float:
    if df > 0 and c != 1 and cb != 1:
        t1, t2 = (x2 - c * df) * dfb, (x2b - cb * dfb) * df
    else:
        t1, t2 = (x2 - df) * dfb, (x2b - dfb) * df
    return 1 - t1 / t2 if df > 0 and abs(t2) > 0 else 1.0


def _rmsea(x2, df, n, c=1.0) -> float:
    return float(np.sqrt(max(x2 / n / df - c / n, 0.0))) if df > 0 else 0.0


def _measures(model: _OrdinalModel, theta_act, delta, w_full, gamma, n) -> dict:
    """Test statistics and fit indices; ``n`` is lavaan's N - 1 for categorical data."""
    sig, _ = model.implied(theta_act)
    w_c = model.w[model.n_th:]
    resid = model.r_obs - sig
    chisq = float(n * np.sum(w_c * resid ** 2))
    df = float(model.rows.size - model.act.size)
    info = delta.T @ (w_full[:, None] * delta)
    info_inv = np.linalg.inv(info)
    wd = w_full[:, None] * delta
    u = np.diag(w_full) - wd @ info_inv @ wd.T
    out = {"chisq": chisq, "df": df,
           "p_value": float(_st.chi2.sf(chisq, df)) if df > 0 else np.nan}
    # baseline: free thresholds, means and variances, zero correlations (covariances)
    pairs = slice(model.n_var, None)
    w_p, r_p = w_c[pairs], model.r_obs[pairs]
    chisq_b = float(n * np.sum(w_p * r_p ** 2))
    df_b = float(r_p.size)
    g_p = gamma[model.n_th + model.n_var:, model.n_th + model.n_var:]
    out |= {"baseline_chisq": chisq_b, "baseline_df": df_b,
            "cfi": _cfi(chisq, df, chisq_b, df_b), "tli": _tli(chisq, df, chisq_b, df_b),
            "rmsea": _rmsea(chisq, df, n)}
    lo, hi = _sem._rmsea_ci(chisq, df, n)
    out |= {"rmsea_ci_low": lo, "rmsea_ci_high": hi}
    out["srmr"] = _srmr(model, sig)
    if df <= 0:
        return out
    tr1, tr2 = _trace_terms(u, gamma)
    ss = _scaled_shifted(chisq, df, tr1, tr2)
    tr1b, tr2b = _trace_terms(np.diag(w_p), g_p)
    ssb = _scaled_shifted(chisq_b, df_b, tr1b, tr2b)
    x2s, x2bs = ss["stat"], ssb["stat"]
    lo_s, hi_s = _sem._rmsea_ci(x2s, df, n)
    out |= {"chisq_scaled": x2s, "p_value_scaled": float(_st.chi2.sf(x2s, df)),
            "scaling_factor": ss["scaling_factor"], "shift_parameter": ss["shift"],
            "baseline_chisq_scaled": x2bs, "baseline_scaling_factor": ssb["scaling_factor"],
            "cfi_scaled": _cfi(x2s, df, x2bs, df_b), "tli_scaled": _tli(x2s, df, x2bs, df_b),
            "rmsea_scaled": _rmsea(x2s, df, n), "rmsea_ci_low_scaled": lo_s,
            "rmsea_ci_high_scaled": hi_s}
    out |= _catml(model, sig, delta, w_full, info_inv, gamma, n, df, df_b)
    return out


def _srmr(model: _OrdinalModel, sig: np.ndarray) -> float:
    """lavaan's srmr for categorical data (``srmr_bentler_nomean``): the residual correlations
    and covariances of each pair, divided by the sample SDs (1 for ordinal variables), root
    mean square over p(p+1)/2 elements."""
    p = len(model.observed)
    sd = np.ones(p)
    var = slice(None, model.n_var)
    sd[model.rows[var]] = np.sqrt(model.r_obs[var])
    pairs = slice(model.n_var, None)
    i, j = model.rows[pairs], model.cols[pairs]
    resid = (model.r_obs[pairs] - sig[pairs]) / (sd[i] * sd[j])
    return float(np.sqrt(np.sum(resid ** 2) / (p * (p + 1) / 2)))


def _catml(model, sig, delta, w_full, info_inv, gamma, n, df, df_b) -> dict:
    """lavaan's robust CFI, TLI, RMSEA for categorical data (``lav_fit_catml_dwls``): the
    normal-theory ML statistic of the polychoric matrix against the DWLS-implied one (with
    the full N = ``n + 1``), corrected by ``c3 = tr(U' V U Gamma) / df``."""
    p = len(model.observed)
    i, j = model.rows, model.cols
    r = np.identity(p)
    r[i, j] = r[j, i] = model.r_obs
    nan = {k: np.nan for k in ("cfi_robust", "tli_robust", "rmsea_robust",
                               "rmsea_ci_low_robust", "rmsea_ci_high_robust")}
    if model.continuous or np.linalg.eigvalsh(r).min() < np.sqrt(np.finfo(float).eps):
        return nan  # lavaan: not computed with continuous variables, or for a
        # non-positive-definite polychoric matrix
    # the implied matrix as the model has it: its diagonal is 1 except for an ordinal outcome
    # predicted by another (lavaan's residual-variance rule, see _OrdinalModel._parts)
    sigma, _, _ = model._parts(model.full[model.act])
    try:
        inv = np.linalg.inv(sigma)
        x3 = (n + 1) * float(np.linalg.slogdet(sigma)[1] + np.sum(r * inv)
                             - np.linalg.slogdet(r)[1] - p)
    except np.linalg.LinAlgError:
        return nan
    v = inv[i][:, i] * inv[j][:, j] + inv[i][:, j] * inv[j][:, i]
    nt = model.n_th
    d_c = delta[nt:]
    w_c = w_full[nt:]
    wiu = np.identity(d_c.shape[0]) - d_c @ info_inv @ d_c.T * w_c[None, :]
    g_c = gamma[nt:, nt:]
    c3 = float(np.trace(wiu.T @ v @ wiu @ g_c)) / df
    x3_b = -(n + 1) * float(np.linalg.slogdet(r)[1])
    c3_b = float(np.trace(g_c)) / df_b
    lo, hi = _sem._rmsea_ci(x3 / c3, df, n)
    return {"cfi_robust": _cfi(x3, df, x3_b, df_b, c3, c3_b),
            "tli_robust": _tli(x3, df, x3_b, df_b, c3, c3_b),
            "rmsea_robust": _rmsea(x3, df, n, c3),
            "rmsea_ci_low_robust": float(np.sqrt(c3) * lo),
            "rmsea_ci_high_robust": float(np.sqrt(c3) * hi)}


def _threshold_rows(model: _OrdinalModel, est, vcov, k_full: int, ci: float) -> pd.DataFrame:
    """Threshold rows (``x | t1``) of ordinal variables and intercept rows (``x ~1``) of
    continuous ones, in the model's order; ``std_all`` divides by the SD of the latent
    response (1 except for an ordinal outcome predicted by another, as lavaan) or of the
    continuous variable."""
    rows = []
    q = z_crit(ci)
    sigma, _, _ = model._parts(model.full[model.act])
    sd = np.sqrt(np.diag(sigma))
    for pos, lab in enumerate(model.labels[:model.n_th]):
        se = float(np.sqrt(vcov[pos, pos]))
        e = float(est[pos])
        op, rhs = ("|", f"t{lab[2] + 1}") if lab[1] == "|" else ("~1", "")
        rows.append({"lhs": lab[0], "op": op, "rhs": rhs, "label": "",
                     "free": k_full + pos + 1, "est": e, "se": se,
                     "z": e / se, "p_value": 2 * _st.norm.sf(abs(e / se)),
                     "ci_low": e - q * se, "ci_high": e + q * se,
                     "std_all": e / sd[model.observed.index(lab[0])]})
    return pd.DataFrame(rows)


_WLSMV_NOTE = ("WLSMV: the items are ordinal; thresholds and polychoric correlations, "
               "diagonally weighted least squares estimates (delta parameterisation: residual "
               "variances are 1 - R^2, not free), robust standard errors and the "
               "mean-and-variance adjusted chi-square (lavaan's estimator = 'WLSMV')")


_MIXED_NOTE = ("continuous variables (means, variances, Pearson covariances and polyserial "
               "correlations with the ordinal ones; their residual variances are free, as "
               "lavaan's ordered = c(...)): ")


def _continuous(ordered, observed: list[str], data: pd.DataFrame) -> list[str]:
    """The model's variables treated as continuous: those not in ``ordered`` (None or True:
    none, every observed variable is ordinal)."""
    if ordered is None or ordered is True:
        return []
    if ordered is False or isinstance(ordered, str):
        raise ValueError(f"ordered must be None, True or a list of column names, got "
                         f"{ordered!r} (estimator='WLSMV' needs ordinal variables; for "
                         "continuous ones alone use estimator='ML' or 'MLR')")
    ordered = list(ordered)
    unknown = [c for c in ordered if c not in data.columns]
    if unknown:
        raise InsufficientDataError(f"ordered columns {unknown} are not in the data "
                                    f"(n = {len(data)})")
    if not any(v in ordered for v in observed):
        raise ValueError(f"none of the model's variables {observed} is in ordered="
                         f"{ordered}: estimator='WLSMV' needs ordinal variables (for "
                         "continuous ones alone use estimator='ML' or 'MLR')")
    return [v for v in observed if v not in ordered]


def fit_wlsmv(sem_model, data: pd.DataFrame, *, ordered=None, missing: str = "listwise",
              on_improper: str = "raise", ci: float = 0.95, max_iter: int = 300,
              std_limit: float = 1.0):
    """Fit a model to ordinal items by WLSMV (lavaan's ``ordered = TRUE, estimator =
    "WLSMV"``); :func:`crqlab.models.sem.fit_sem` calls this for ``estimator="WLSMV"``.

    Parameters
    ----------
    sem_model : SemModel or str
        Latent variables measured by ordinal (and continuous) items; structural paths among
        latent variables and to observed outcomes, ordinal or continuous (e.g. a 0-10
        recommendation answer). Observed predictors (covariates) are refused.
    data : DataFrame
        Ordinal answers (1-7 Likert codes and the like) and continuous columns; rows missing
        any of the model's variables are dropped (listwise deletion, ``n_dropped``).
    ordered : None, True or list of str
        Which columns are ordinal (lavaan's ``ordered``). ``None`` (default) or ``True``:
        every observed variable of the model. A list: those columns are ordinal, the model's
        other variables continuous (their means, variances, Pearson covariances and
        polyserial correlations enter the fit, their residual variances are free). Names not
        in the model are ignored; names not in ``data`` are refused.
    missing : {"listwise"}
        Only listwise deletion: ``"fiml"`` is a likelihood method with no WLSMV counterpart
        (lavaan offers ``missing = "pairwise"`` for WLSMV, which crqlab does not).
    on_improper, ci, max_iter, std_limit
        As in :func:`crqlab.models.sem.fit_sem`.

    Returns
    -------
    SemFit
        ``estimator="WLSMV"``; ``parameters`` with threshold rows (``op == "|"``, ``rhs``
        ``t1, t2, ...``) and, for continuous variables, intercept rows (``op == "~1"``) after
        the model's rows; ordinal variables' residual variances fixed at ``1 - R^2``
        (``free == 0``) as lavaan shows them; ``fit_measures`` with ``chisq, df, p_value``
        (the DWLS statistic ``(N - 1) F``), ``chisq_scaled, p_value_scaled, scaling_factor,
        shift_parameter`` (the scaled-shifted test), the baseline's, ``cfi, tli, rmsea``
        (standard), ``cfi_scaled, tli_scaled, rmsea_scaled`` and ``cfi_robust, tli_robust,
        rmsea_robust`` (+ intervals; NaN with continuous variables, as lavaan), ``srmr, n,
        npar``; ``aic, bic, logl`` are NaN (no likelihood).

    Raises
    ------
    ValueError
        ``missing`` other than ``"listwise"``; observed predictors in regressions; an ordinal
        column with more than ``MAX_CATEGORIES`` values; ``ordered`` naming none of the
        model's variables (or ``False``).
    InsufficientDataError
        Items not in ``data`` (or ``ordered`` names not in it); too few rows; an item with a
        single category; a constant continuous column.
    ConvergenceError
        A polychoric correlation at its bound; not identified (negative df); with
        ``on_improper="raise"``, no converged proper solution (negative residual variance,
        standardised loading above ``std_limit``, latent covariance not positive definite).

    Notes
    -----
    Validated against lavaan 0.6-14 on HolzingerSwineford1939 cut into three categories
    (CFA, a structural model, observed ordinal outcomes) and on bfi's 25 items (1-6):
    estimates, robust SEs, std_all, the scaled-shifted chi-square and the scaled and robust
    fit indices, and the delta-method indirect effect (lavaan's ``:=``)
    (``tests/results/ordinal/make_ordinal.R``, ``tests/models/test_ordinal.py``). With
    continuous variables (``ordered = c("x1", "x2", "x3")``, x4-x9 continuous; a CFA, two
    structural models with continuous outcomes, one of them predicting an ordinal outcome):
    the sample statistics and Gamma (to 1e-6), estimates (1e-4; measured 1.3e-5), robust
    SEs of every parameter including intercepts and thresholds (measured 1e-6), std_all,
    the scaled-shifted test (relative 1e-6), the standard and scaled indices and SRMR, and
    a delta-method indirect effect through two continuous outcomes
    (``tests/results/ordinal/make_mixed.R``).
    """
    sem_model = _sem._as_model(sem_model)
    if missing != "listwise":
        raise ValueError(f"estimator='WLSMV' supports missing='listwise' only, got "
                         f"{missing!r}: FIML is a likelihood method with no WLSMV "
                         "counterpart (lavaan uses missing='pairwise' for WLSMV, which crqlab "
                         "does not offer); use estimator='ML' or 'MLR' with missing='fiml'")
    if on_improper not in _sem._ON_IMPROPER:
        raise ValueError(f"on_improper must be one of {_sem._ON_IMPROPER}, got {on_improper!r}")
    syntax, added = _sem._lavaan_auto_cov(sem_model.syntax)
    observed = list(_sem._semopy_model(syntax).vars["observed"])
    continuous = _continuous(ordered, observed, data)
    x, keep = _sem._complete_rows(data, observed)
    if len(x) <= len(observed):
        raise InsufficientDataError(f"{len(x)} complete rows for {len(observed)} observed "
                                    f"variables: too few to fit the model (n = {len(x)})")
    mom = ordinal_moments(x, observed, continuous=continuous)
    model = _OrdinalModel(syntax, mom)
    k_act = model.act.size
    df = model.rows.size - k_act
    if df < 0:
        raise ConvergenceError(f"model {sem_model.name!r} is not identified: {k_act} free "
                               f"parameters for {model.rows.size} correlations and "
                               f"variances (df = {df})")
    theta, ok, msg, its = _dwls(model, max_iter)
    model.set(theta)
    n = mom.n
    # lavaan takes N - 1 as the sample size of categorical fits: T = (N - 1) F, the SEs
    # divide by N - 1, RMSEA uses N - 1 (measured on all three reference fits)
    n_eff = n - 1
    _, jac = model.implied(theta)
    delta = model.full_delta(jac)
    w_full = model.w
    info = delta.T @ (w_full[:, None] * delta)
    reasons = [] if ok else [f"did not converge ({msg})"]
    reasons += _sem._improper_reasons(model.grp, model.full, std_limit)
    ev = np.linalg.eigvalsh(info)
    if ev.min() <= 1e-10 * max(ev.max(), 1.0):
        reasons.append("information matrix is singular: the model is not identified by these "
                       "data")
        vcov = np.full(info.shape, np.nan)
    else:
        info_inv = np.linalg.inv(info)
        wd = w_full[:, None] * delta
        vcov = info_inv @ (wd.T @ model.gamma @ wd) @ info_inv / n_eff
    # from the fitted first part (thresholds, minus the means) to the thresholds and
    # intercepts that reproduce it: the same covariance in those coordinates (the sandwich is
    # invariant to a reparameterisation of a saturated part)
    nt = model.n_th
    est_m = model.mean_parameters(model.m_obs, theta)
    move = np.identity(nt + k_act)
    move[:nt] = model.mean_jacobian(theta)
    vcov = move @ vcov @ move.T
    if reasons and on_improper == "raise":
        raise ConvergenceError(f"model {sem_model.name!r}: no proper WLSMV solution: "
                               + "; ".join(reasons))
    if any(r.startswith("information") for r in reasons):  # flagged: no tests, no indices
        chisq = n_eff * float(np.sum(model.residuals(theta)[0] ** 2))
        measures = {"chisq": chisq, "df": float(df), "p_value": np.nan, "cfi": np.nan,
                    "tli": np.nan, "rmsea": np.nan}
    else:
        measures = _measures(model, theta, delta, w_full, model.gamma, n_eff)
    k_full = model.grp.k
    # the structural parameters' covariance in semopy's full vector (residual variances fixed)
    vc_full = np.zeros((k_full + nt, k_full + nt))
    vc_full[np.ix_(model.act, model.act)] = vcov[nt:, nt:]
    vc_full[k_full:, k_full:] = vcov[:nt, :nt]
    vc_full[np.ix_(model.act, np.arange(k_full, k_full + nt))] = vcov[nt:, :nt]
    vc_full[np.ix_(np.arange(k_full, k_full + nt), model.act)] = vcov[:nt, nt:]
    params = _sem._param_table(model.grp, model.full, vc_full[:k_full, :k_full], None, ci)
    is_resid = params["free"].isin(model.resid_ids + 1)
    params.loc[is_resid, ["free"]] = 0
    params.loc[is_resid, ["se", "z", "p_value", "ci_low", "ci_high"]] = np.nan
    params = pd.concat([params, _threshold_rows(model, est_m, vcov, k_full, ci)],
                       ignore_index=True)
    measures |= {"aic": np.nan, "bic": np.nan, "logl": np.nan, "unrestricted_logl": np.nan,
                 "npar": float(k_act + nt), "n": float(n)}
    notes = tuple(sem_model.notes) + (_WLSMV_NOTE,)
    if continuous:
        notes += (_MIXED_NOTE + ", ".join(continuous),)
    if added:
        notes += ("free residual covariances among terminal endogenous variables, as lavaan's "
                  "sem() (auto.cov.y): " + ", ".join(added),)
    if np.linalg.eigvalsh(mom.correlation.to_numpy()).min() <= 0:
        notes += ("the polychoric correlation matrix is not positive definite (DWLS still "
                  "fits it; the robust CFI, TLI and RMSEA are not computed)",)
    if mom.empty_cells:
        notes += (f"{len(mom.empty_cells)} item pair(s) have empty cells in their "
                  "contingency table (kept as lavaan does)",)
    attempts = pd.DataFrame([{"solver": "dwls-trf+gauss-newton", "start": "semopy",
                              "fmin": float(np.sum(model.residuals(theta)[0] ** 2)) / 2,
                              "iterations": its, "converged": ok,
                              "proper": ok and not reasons, "message": msg}])
    theta_out = np.concatenate([model.full, est_m])
    return _sem.SemFit(model=sem_model, parameters=params, fit_measures=pd.Series(measures),
                       r_squared=_sem._r_squared(model.grp, params), n=n,
                       n_dropped=int((~keep).sum()), converged=ok, proper=not reasons,
                       reasons=tuple(reasons), attempts=attempts, notes=notes,
                       data=data.loc[keep], _problem=_sem._Problem([model.grp]),
                       _theta=theta_out, _vcov=vc_full, estimator="WLSMV", missing="listwise")


# ----------------------------------------------------------------------------------------------
# Several groups (lavaan's group = ..., group.equal = ...)
# ----------------------------------------------------------------------------------------------

#: lavaan's group.equal words a WLSMV multi-group fit accepts. "intercepts" and "residuals"
#: are accepted and change nothing, as in lavaan: with the delta parameterisation the latent
#: responses' intercepts are fixed at 0 and their residual variances are not parameters.
MULTIGROUP_EQUAL = ("thresholds", "loadings", "intercepts", "residuals", "lv.variances",
                    "lv.covariances", "residual.covariances")


@dataclass
class _MGSpec:
    """A measurement model (lavaan ``=~`` and ``~~`` lines) read from the syntax."""

    latent: list
    items: list
    loadings: list          # (item index, factor index, fixed value or None)
    psi: list               # (factor index, factor index), f <= h
    theta: list             # residual covariances (item index, item index), i > j


def _mg_spec(syntax: str) -> _MGSpec:
    """Read a measurement model: factors ``=~`` items (the first loading the marker, fixed at
    1, as lavaan), ``~~`` residual covariances of items. Every factor variance and covariance
    is free (lavaan's ``cfa``)."""
    latent, items, load, theta = [], [], [], []
    stmts = [_sem._split_statement(s) for s in _sem._statements(syntax)]
    for stmt, parts in zip(_sem._statements(syntax), stmts):
        if parts is None or parts[1] not in ("=~", "~~"):
            raise ValueError(f"estimator='WLSMV' across groups fits measurement models only "
                             f"(factors '=~' items, residual covariances '~~'); cannot use "
                             f"{stmt!r}")
        lhs, op, rhs = parts
        for mult, var in _sem._terms(rhs):
            if mult is not None:
                raise ValueError(f"estimator='WLSMV' across groups takes no modifiers "
                                 f"({mult}*{var} in {stmt!r}); the first indicator is the "
                                 "marker, group.equal sets the equalities")
            if op == "=~":
                if lhs not in latent:
                    latent.append(lhs)
                if var not in items:
                    items.append(var)
                first = not any(f == latent.index(lhs) for _, f, _ in load)
                load.append((var, latent.index(lhs), 1.0 if first else None))
            else:
                theta.append((lhs, var))
    unknown = [v for pair in theta for v in pair if v not in items]
    if unknown:
        raise ValueError(f"'~~' lines name {sorted(set(unknown))}, not indicators of the "
                         "factors: only residual covariances of items may be added")
    loadings = [(items.index(v), f, fixed) for v, f, fixed in load]
    thetas = []
    for a, b in theta:
        i, j = sorted((items.index(a), items.index(b)), reverse=True)
        if i == j:
            raise ValueError(f"the residual variance of {a} is not a parameter with the delta "
                             "parameterisation (it is 1/scale^2 minus the explained variance)")
        thetas.append((i, j))
    m = len(latent)
    psi = [(f, h) for h in range(m) for f in range(h, m)]
    return _MGSpec(latent, items, loadings, psi, thetas)


class _MGOrdinalGroup:
    """One group's sample statistics and its model-implied thresholds and correlations,
    with their Jacobian in the group's local parameters (delta parameterisation):

    ``rho_ij = delta_i delta_j (Lambda Psi Lambda' + Theta)_ij``, ``tau*_ik = delta_i
    (tau_ik - Lambda_i alpha)``; the latent responses' intercepts are 0, ``delta`` the
    scaling factors (lavaan's ``~*~``), ``alpha`` the latent means."""

    def __init__(self, spec: _MGSpec, mom: OrdinalMoments, free_scales: bool,
                 free_means: bool):
        self.spec, self.mom = spec, mom
        p, m = len(spec.items), len(spec.latent)
        self.p, self.m = p, m
        self.n = mom.n
        self.taus = mom.thresholds
        self.n_th = int(sum(t.size for t in self.taus))
        self.rows, self.cols = _pair_index(p)
        self.s = mom.vector
        self.w = 1.0 / np.diag(mom.gamma)
        self.gamma = mom.gamma
        keys, kinds = [], []
        for i, f, fixed in spec.loadings:
            if fixed is None:
                keys.append((spec.latent[f], "=~", spec.items[i]))
                kinds.append("loadings")
        for i, tau in enumerate(self.taus):
            for k in range(tau.size):
                keys.append((spec.items[i], "|", f"t{k + 1}"))
                kinds.append("thresholds")
        for f, h in spec.psi:
            keys.append((spec.latent[h], "~~", spec.latent[f]))
            kinds.append("lv.variances" if f == h else "lv.covariances")
        for i, j in spec.theta:
            keys.append((spec.items[j], "~~", spec.items[i]))
            kinds.append("residual.covariances")
        if free_scales:
            for v in spec.items:
                keys.append((v, "~*~", v))
                kinds.append("scales")
        if free_means:
            for f in spec.latent:
                keys.append((f, "~1", ""))
                kinds.append("means")
        self.keys, self.kinds = keys, kinds
        self.free_scales, self.free_means = free_scales, free_means
        self.k = len(keys)
        self._last = self.s  # the implied statistics at the last evaluation

    def unpack(self, x: np.ndarray):
        sp = self.spec
        lam = np.zeros((self.p, self.m))
        pos = 0
        for i, f, fixed in sp.loadings:
            if fixed is None:
                lam[i, f] = x[pos]
                pos += 1
            else:
                lam[i, f] = fixed
        taus = []
        for tau in self.taus:
            taus.append(x[pos:pos + tau.size])
            pos += tau.size
        psi = np.zeros((self.m, self.m))
        for f, h in sp.psi:
            psi[f, h] = psi[h, f] = x[pos]
            pos += 1
        th = np.zeros((self.p, self.p))
        for i, j in sp.theta:
            th[i, j] = th[j, i] = x[pos]
            pos += 1
        delta = np.ones(self.p)
        if self.free_scales:
            delta = x[pos:pos + self.p]
            pos += self.p
        alpha = np.zeros(self.m)
        if self.free_means:
            alpha = x[pos:pos + self.m]
        return lam, taus, psi, th, delta, alpha

    def start(self) -> np.ndarray:
        """Loadings 1 (0.8 beyond the marker), factor variances 0.5, covariances 0, sample
        thresholds, scales 1, latent means 0."""
        out = []
        for _, _, fixed in self.spec.loadings:
            if fixed is None:
                out.append(1.0)
        for tau in self.taus:
            out += list(tau)
        out += [0.5 if f == h else 0.0 for f, h in self.spec.psi]
        out += [0.0] * len(self.spec.theta)
        out += [1.0] * (self.p if self.free_scales else 0)
        out += [0.0] * (self.m if self.free_means else 0)
        return np.array(out, dtype=float)

    def implied(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Implied thresholds and correlations and their Jacobian in the local parameters."""
        sp = self.spec
        lam, taus, psi, th, delta, alpha = self.unpack(x)
        lp = lam @ psi
        sigma0 = lp @ lam.T + th
        mu = lam @ alpha
        i, j = self.rows, self.cols
        dd = delta[i] * delta[j]
        out = np.concatenate([delta[q] * (taus[q] - mu[q]) for q in range(self.p)]
                             + [dd * sigma0[i, j]])
        jac = np.zeros((out.size, self.k))
        th_start = np.concatenate([[0], np.cumsum([t.size for t in taus])]).astype(int)
        nt = self.n_th
        col = 0
        for q, f, fixed in sp.loadings:
            if fixed is not None:
                continue
            # d Sigma0_ij / d lambda_qf = [i == q] (Psi Lambda')_fj + [j == q] (Lambda Psi)_if
            d = np.where(i == q, lp[j, f], 0.0) + np.where(j == q, lp[i, f], 0.0)
            jac[nt:, col] = dd * d
            jac[th_start[q]:th_start[q + 1], col] = -delta[q] * alpha[f]
            col += 1
        for q in range(self.p):
            for k in range(taus[q].size):
                jac[th_start[q] + k, col] = delta[q]
                col += 1
        for f, h in sp.psi:
            d = lam[i, f] * lam[j, h] + (lam[i, h] * lam[j, f] if f != h else 0.0)
            jac[nt:, col] = dd * d
            col += 1
        for a, b in sp.theta:
            jac[nt:, col] = dd * ((i == a) & (j == b))
            col += 1
        if self.free_scales:
            for q in range(self.p):
                jac[th_start[q]:th_start[q + 1], col] = taus[q] - mu[q]
                jac[nt:, col] = sigma0[i, j] * (np.where(i == q, delta[j], 0.0)
                                                + np.where(j == q, delta[i], 0.0))
                col += 1
        if self.free_means:
            for f in range(self.m):
                for q in range(self.p):
                    jac[th_start[q]:th_start[q + 1], col] = -delta[q] * lam[q, f]
                col += 1
        return out, jac

    def residual_variances(self, x: np.ndarray) -> np.ndarray:
        """lavaan's fixed residual variances: ``1 / delta^2 - diag(Lambda Psi Lambda')``."""
        lam, _, psi, _, delta, _ = self.unpack(x)
        return 1.0 / delta ** 2 - np.einsum("if,fh,ih->i", lam, psi, lam)


def _mg_partial_key(text: str) -> tuple:
    """``"x3|t1"``, ``"visual =~ x2"``, ``"f1 ~~ f2"`` -> a parameter key."""
    t = str(text).replace(" ", "")
    for op in ("=~", "~~", "|"):
        if op in t:
            lhs, rhs = t.split(op, 1)
            return (lhs, op, rhs)
    raise ValueError(f"cannot read {text!r} as a parameter ('x3|t1', 'visual=~x2', "
                     "'f1~~f2')")


def _key_matches(key: tuple, partial: set) -> bool:
    if key in partial:
        return True
    return key[1] == "~~" and (key[2], "~~", key[0]) in partial


@dataclass
class _MGWlsmvFit:
    """A solved multi-group WLSMV model with what difference tests need."""

    groups: list
    maps: list
    theta: np.ndarray
    vcov: np.ndarray
    delta: list             # per group, Jacobian in the global parameters
    measures: dict
    parameters: pd.DataFrame
    reasons: list
    levels: list
    equal: tuple
    partial: tuple
    n: int


def _mg_maps(groups, equal: set, partial: set) -> list[np.ndarray]:
    ids: dict = {}
    maps, nxt = [], 0
    for g in groups:
        m = np.empty(g.k, dtype=int)
        for local, (key, kind) in enumerate(zip(g.keys, g.kinds)):
            if kind in equal and not _key_matches(key, partial):
                if key not in ids:
                    ids[key], nxt = nxt, nxt + 1
                m[local] = ids[key]
            else:
                m[local], nxt = nxt, nxt + 1
        maps.append(m)
    return maps


def _mg_stacked(groups, maps, theta, k):
    jacs, sig = [], []
    for g, idx in zip(groups, maps):
        s_hat, j_loc = g.implied(theta[idx])
        g._last = s_hat
        jac = np.zeros((s_hat.size, k))
        np.add.at(jac.T, idx, j_loc.T)
        sig.append(s_hat)
        jacs.append(jac)
    return sig, jacs


def _mg_solve(groups, maps, k: int, max_iter: int, start=None):
    """Minimise ``sum_g (n_g - 1) (s_g - sigma_g)' W_g (s_g - sigma_g)`` (lavaan's
    multi-group DWLS objective: each group's fit weighted by ``(n_g - 1) / N``)."""
    x0 = np.zeros(k)
    for gi, (g, idx) in enumerate(zip(groups, maps)):
        x0[idx] = g.start() if start is None else start[gi]
    sw = [np.sqrt((g.n - 1) * g.w) for g in groups]

    def fun(th):
        sig, _ = _mg_stacked(groups, maps, th, k)
        return np.concatenate([s * (g.s - e) for s, g, e in zip(sw, groups, sig)])

    def jac(th):
        _, jacs = _mg_stacked(groups, maps, th, k)
        return np.vstack([-s[:, None] * j for s, j in zip(sw, jacs)])

    res = _opt.least_squares(fun, x0, jac=jac, method="trf", xtol=1e-15, ftol=1e-15,
                             gtol=1e-15, max_nfev=50 * max_iter)
    theta, its = res.x, int(res.nfev)
    e, jm = fun(theta), jac(theta)
    for _ in range(20):  # Gauss-Newton steps to the zero of the gradient
        grad = jm.T @ e
        if np.max(np.abs(grad)) < 1e-10:
            break
        try:
            step = np.linalg.solve(jm.T @ jm, grad)
        except np.linalg.LinAlgError:
            break
        cand = theta - step
        ec = fun(cand)
        if float(ec @ ec) > float(e @ e) * (1 + 1e-12):
            break
        theta, e, jm, its = cand, ec, jac(cand), its + 1
    # converged when the Gauss-Newton step left is negligible
    crit = float(np.max(np.abs(np.linalg.lstsq(jm, e, rcond=None)[0])))
    ok = crit < 1e-6
    return theta, ok, ("converged" if ok else f"gradient not zero ({res.message})"), its


def _mg_information(groups, jacs, weights) -> np.ndarray:
    return sum(wt * j.T @ (g.w[:, None] * j) for g, j, wt in zip(groups, jacs, weights))


def _mg_measures(groups, sig, jacs, k: int) -> dict:
    """Test statistics and fit indices summed over groups, as lavaan (``N - G`` where the
    single-group formulas have ``N - 1``)."""
    ng = len(groups)
    n_tot = sum(g.n for g in groups)
    chisq = float(sum((g.n - 1) * np.sum(g.w * (g.s - e) ** 2) for g, e in zip(groups, sig)))
    df = float(sum(g.s.size for g in groups) - k)
    stat_group = [float((g.n - 1) * np.sum(g.w * (g.s - e) ** 2)) for g, e in zip(groups, sig)]
    out = {"chisq": chisq, "df": df,
           "p_value": float(_st.chi2.sf(chisq, df)) if df > 0 else np.nan,
           "stat_group": stat_group}
    # baseline: free thresholds, zero correlations, in every group
    chisq_b = float(sum((g.n - 1) * np.sum(g.w[g.n_th:] * g.s[g.n_th:] ** 2) for g in groups))
    df_b = float(sum(g.s.size - g.n_th for g in groups))
    n_eff = n_tot - ng
    out |= {"baseline_chisq": chisq_b, "baseline_df": df_b,
            "cfi": _cfi(chisq, df, chisq_b, df_b), "tli": _tli(chisq, df, chisq_b, df_b),
            "rmsea": _rmsea(chisq, df, n_eff) * np.sqrt(ng)}
    lo, hi = _sem._rmsea_ci(chisq, df, n_eff)
    out |= {"rmsea_ci_low": lo * np.sqrt(ng), "rmsea_ci_high": hi * np.sqrt(ng)}
    out["srmr"] = float(sum(g.n / n_tot * np.sqrt(
        np.sum((g.s[g.n_th:] - e[g.n_th:]) ** 2) / (g.p * (g.p + 1) / 2))
        for g, e in zip(groups, sig)))
    if df <= 0:
        return out
    tr1, tr2 = _mg_traces(groups, jacs)
    ss = _scaled_shifted(chisq, df, tr1, tr2)
    tr1b = sum(float(np.sum(g.w[g.n_th:] * np.diag(g.gamma)[g.n_th:])) for g in groups)
    tr2b = 0.0
    for g in groups:
        wg = g.w[g.n_th:, None] * g.gamma[g.n_th:, g.n_th:]
        tr2b += float(np.sum(wg * wg.T))
    ssb = _scaled_shifted(chisq_b, df_b, tr1b, tr2b)
    x2s, x2bs = ss["stat"], ssb["stat"]
    lo_s, hi_s = _sem._rmsea_ci(x2s, df, n_eff)
    out |= {"chisq_scaled": x2s, "p_value_scaled": float(_st.chi2.sf(x2s, df)),
            "scaling_factor": ss["scaling_factor"], "shift_parameter": ss["shift"],
            "baseline_chisq_scaled": x2bs, "baseline_scaling_factor": ssb["scaling_factor"],
            "cfi_scaled": _cfi(x2s, df, x2bs, df_b), "tli_scaled": _tli(x2s, df, x2bs, df_b),
            "rmsea_scaled": _rmsea(x2s, df, n_eff) * np.sqrt(ng),
            "rmsea_ci_low_scaled": lo_s * np.sqrt(ng),
            "rmsea_ci_high_scaled": hi_s * np.sqrt(ng)}
    out |= _mg_catml(groups, jacs, df, df_b, n_eff)
    return out


def _mg_catml(groups, jacs, df: float, df_b: float, n_eff: int) -> dict:
    """lavaan's robust CFI, TLI and RMSEA across groups (``lav_fit_catml_dwls``): the
    normal-theory ML discrepancy of each group's polychoric matrix against its DWLS-implied
    one (weighted by ``n_g``), corrected by ``c3 = tr(U' V U Gamma) / df`` of the stacked
    groups. NaN when a group's polychoric matrix is not positive definite and, as lavaan,
    when thresholds are held equal (lavaan's catML refit has no thresholds to constrain)."""
    nan = {k: np.nan for k in ("cfi_robust", "tli_robust", "rmsea_robust")}
    if any(g.free_scales or g.free_means for g in groups):
        return nan
    n_tot = sum(g.n for g in groups)
    fg = [g.n / n_tot for g in groups]
    x3, x3_b, blocks_w, blocks_v, blocks_g, d_c = 0.0, 0.0, [], [], [], []
    for f, g, jac in zip(fg, groups, jacs):
        r = np.identity(g.p)
        r[g.rows, g.cols] = r[g.cols, g.rows] = g.s[g.n_th:]
        if np.linalg.eigvalsh(r).min() < np.sqrt(np.finfo(float).eps):
            return nan
        sigma = np.identity(g.p)
        implied = g._last[g.n_th:]
        sigma[g.rows, g.cols] = sigma[g.cols, g.rows] = implied
        inv = np.linalg.inv(sigma)
        x3 += g.n * float(np.linalg.slogdet(sigma)[1] + np.sum(r * inv)
                          - np.linalg.slogdet(r)[1] - g.p)
        x3_b += -g.n * float(np.linalg.slogdet(r)[1])
        i, j = g.rows, g.cols
        blocks_v.append(f * (inv[i][:, i] * inv[j][:, j] + inv[i][:, j] * inv[j][:, i]))
        blocks_w.append(f * g.w[g.n_th:])
        blocks_g.append(g.gamma[g.n_th:, g.n_th:] / f)
        d_c.append(jac[g.n_th:])
    info = _mg_information(groups, jacs, fg)
    d = np.vstack(d_c)
    w = np.concatenate(blocks_w)
    size = [b.shape[0] for b in blocks_v]
    v_all = np.zeros((sum(size), sum(size)))
    g_all = np.zeros_like(v_all)
    at = 0
    for s_, v_, g_ in zip(size, blocks_v, blocks_g):
        v_all[at:at + s_, at:at + s_] = v_
        g_all[at:at + s_, at:at + s_] = g_
        at += s_
    wiu = np.identity(d.shape[0]) - d @ np.linalg.inv(info) @ d.T * w[None, :]
    c3 = float(np.trace(wiu.T @ v_all @ wiu @ g_all)) / df
    c3_b = float(np.trace(g_all)) / df_b
    ng = len(groups)
    return {"cfi_robust": _cfi(x3, df, x3_b, df_b, c3, c3_b),
            "tli_robust": _tli(x3, df, x3_b, df_b, c3, c3_b),
            "rmsea_robust": _rmsea(x3, df, n_eff, c3) * np.sqrt(ng)}


def _mg_traces(groups, jacs) -> tuple[float, float]:
    """tr(U Gamma) and tr((U Gamma)^2) of the stacked groups (lavaan's
    ``lav_test_satorra_bentler_trace_original``: ``V_g = f_g W_g``, ``Gamma_g / f_g``,
    ``f_g = n_g / N``)."""
    n_tot = sum(g.n for g in groups)
    f = [g.n / n_tot for g in groups]
    v = np.concatenate([fg * g.w for fg, g in zip(f, groups)])
    d = np.vstack(jacs)
    e_inv = np.linalg.inv(d.T @ (v[:, None] * d))
    vd = v[:, None] * d
    u = np.diag(v) - vd @ e_inv @ vd.T
    size = [g.s.size for g in groups]
    gam = np.zeros((sum(size), sum(size)))
    at = 0
    for fg, g, s in zip(f, groups, size):
        gam[at:at + s, at:at + s] = g.gamma / fg
        at += s
    return _trace_terms(u, gam)


def _mg_table(groups, maps, theta, vcov, levels, ci: float) -> pd.DataFrame:
    """lavaan's parameter table of each group: loadings, thresholds, residual variances
    (fixed), residual and factor (co)variances, scaling factors, intercepts (0) and latent
    means; ``free`` the 1-based global id (shared by equal parameters)."""
    q = z_crit(ci)
    rows = []

    def add(level, lhs, op, rhs, gid, est):
        free = gid is not None
        se = float(np.sqrt(vcov[gid, gid])) if free else np.nan
        z = est / se if free and se > 0 else np.nan
        rows.append({"group": level, "lhs": lhs, "op": op, "rhs": rhs, "label": "",
                     "free": gid + 1 if free else 0, "est": float(est), "se": se, "z": z,
                     "p_value": 2 * _st.norm.sf(abs(z)) if np.isfinite(z) else np.nan,
                     "ci_low": est - q * se, "ci_high": est + q * se})

    for level, g, idx in zip(levels, groups, maps):
        sp = g.spec
        x = theta[idx]
        lam, taus, psi, th, delta, alpha = g.unpack(x)
        at = {key: int(gid) for key, gid in zip(g.keys, idx)}
        for i, f, _ in sp.loadings:
            key = (sp.latent[f], "=~", sp.items[i])
            add(level, *key, at.get(key), lam[i, f])
        for i, v in enumerate(sp.items):
            for k in range(taus[i].size):
                add(level, v, "|", f"t{k + 1}", at[(v, "|", f"t{k + 1}")], taus[i][k])
        resid = g.residual_variances(x)
        for i, v in enumerate(sp.items):
            add(level, v, "~~", v, None, resid[i])
        for i, j in sp.theta:
            key = (sp.items[j], "~~", sp.items[i])
            add(level, *key, at[key], th[i, j])
        for f, h in sp.psi:
            key = (sp.latent[h], "~~", sp.latent[f])
            add(level, *key, at[key], psi[f, h])
        for i, v in enumerate(sp.items):
            add(level, v, "~*~", v, at.get((v, "~*~", v)), delta[i])
        for v in sp.items:
            add(level, v, "~1", "", None, 0.0)
        for f, v in enumerate(sp.latent):
            add(level, v, "~1", "", at.get((v, "~1", "")), alpha[f])
    return pd.DataFrame(rows)


def _mg_improper(groups, maps, theta, std_limit: float) -> list[str]:
    reasons = []
    for gi, (g, idx) in enumerate(zip(groups, maps)):
        x = theta[idx]
        _, _, psi, _, delta, _ = g.unpack(x)
        resid = g.residual_variances(x)
        bad = [v for v, r in zip(g.spec.items, resid) if r < 0]
        if bad:
            reasons.append(f"group {gi + 1}: negative residual variance of {', '.join(bad)}")
        if np.linalg.eigvalsh(psi).min() <= 0:
            reasons.append(f"group {gi + 1}: latent covariance matrix not positive definite")
        if np.any(delta <= 0):
            reasons.append(f"group {gi + 1}: a scaling factor is not positive")
        explained = 1.0 - resid * delta ** 2  # standardised: share of the latent response
        if np.any(explained > std_limit ** 2 + 1e-9):
            reasons.append(f"group {gi + 1}: a standardised loading above {std_limit:g}")
    return reasons


def _mg_fit(syntax: str, data: pd.DataFrame, group: str, equal=(), partial=(), *,
            ci: float = 0.95, max_iter: int = 300, std_limit: float = 1.0,
            built: dict | None = None, start: _MGWlsmvFit | None = None) -> _MGWlsmvFit:
    """Solve one multi-group WLSMV model (see :func:`fit_wlsmv_multigroup`); ``built`` keeps
    each group's moments for the next model of a ladder (they depend only on the data);
    ``start`` a fitted model with the same groups' parameters (a partial model's estimates
    start from the model it relaxes)."""
    equal = tuple(equal)
    unknown = [w for w in equal if w not in MULTIGROUP_EQUAL]
    if unknown:
        raise ValueError(f"unknown or unsupported group.equal word(s) {unknown} for "
                         f"estimator='WLSMV'; choose from {MULTIGROUP_EQUAL}")
    spec = _mg_spec(syntax)
    if built is not None and "moments" in built:
        moms, levels, cats = built["moments"]
    else:
        moms, levels, cats = _mg_moments(spec, data, group)
        if built is not None:
            built["moments"] = (moms, levels, cats)
    # lavaan (delta parameterisation): once thresholds are equal, the scaling factors and
    # the latent means are free from the second group on
    th_equal = "thresholds" in equal
    groups = [_MGOrdinalGroup(spec, mom, th_equal and gi > 0, th_equal and gi > 0)
              for gi, mom in enumerate(moms)]
    if th_equal:  # a threshold is shared only if it cuts the same answers in every group
        for q, v in enumerate(spec.items):
            for level, mom, cat in zip(levels[1:], moms[1:], cats[1:]):
                if not np.array_equal(cats[0][q], cat[q]):
                    raise InsufficientDataError(
                        f"item {v!r} has answer categories {cats[0][q].tolist()} in group "
                        f"{group} = {levels[0]!r} and {cat[q].tolist()} in {group} = "
                        f"{level!r}: equal thresholds need the same categories in every "
                        f"group (n = {mom.n})")
    partial_keys = {_mg_partial_key(t) for t in partial}
    maps = _mg_maps(groups, set(equal), partial_keys)
    k = int(max(m.max() for m in maps)) + 1
    n_stats = sum(g.s.size for g in groups)
    if n_stats - k < 0:
        raise ConvergenceError(f"the model is not identified: {k} free parameters for "
                               f"{n_stats} thresholds and correlations (df = {n_stats - k})")
    x0 = None
    if start is not None and [g.keys for g in start.groups] == [g.keys for g in groups]:
        x0 = [start.theta[idx] for idx in start.maps]
    theta, ok, msg, _ = _mg_solve(groups, maps, k, max_iter, x0)
    sig, jacs = _mg_stacked(groups, maps, theta, k)
    n_tot = sum(g.n for g in groups)
    fg = [g.n / n_tot for g in groups]
    info = _mg_information(groups, jacs, fg)
    reasons = [] if ok else [f"did not converge ({msg})"]
    reasons += _mg_improper(groups, maps, theta, std_limit)
    ev = np.linalg.eigvalsh(info)
    if ev.min() <= 1e-10 * max(ev.max(), 1.0):
        reasons.append("information matrix is singular: the model is not identified by these "
                       "data")
        vcov = np.full(info.shape, np.nan)
        measures = {"chisq": float(sum((g.n - 1) * np.sum(g.w * (g.s - e) ** 2)
                                       for g, e in zip(groups, sig))),
                    "df": float(n_stats - k)}
    else:
        info_inv = np.linalg.inv(info)
        meat = sum(f * (g.w[:, None] * j).T @ g.gamma @ (g.w[:, None] * j)
                   for f, g, j in zip(fg, groups, jacs))
        vcov = info_inv @ meat @ info_inv / (n_tot - len(groups))
        measures = _mg_measures(groups, sig, jacs, k)
    measures |= {"npar": float(k), "n": float(n_tot), "n_groups": float(len(groups)),
                 "aic": np.nan, "bic": np.nan, "logl": np.nan}
    table = _mg_table(groups, maps, theta, vcov, levels, ci)
    return _MGWlsmvFit(groups, maps, theta, vcov, jacs, measures, table, reasons, levels,
                       equal, tuple(partial), n_tot)


def _mg_moments(spec: _MGSpec, data: pd.DataFrame, group: str):
    """Each group's thresholds, polychoric correlations and Gamma, on its rows complete on
    the model's items (groups in sorted order), and each item's answer categories."""
    if group not in data.columns:
        raise InsufficientDataError(f"grouping column {group!r} is not in the data "
                                    f"(n = {len(data)})")
    missing = [v for v in spec.items if v not in data.columns]
    if missing:
        raise InsufficientDataError(f"items {missing} are not in the data (n = {len(data)})")
    sub = data[data[group].notna()]
    levels = sorted(sub[group].unique(), key=str)
    if len(levels) < 2:
        raise InsufficientDataError(f"column {group!r} has {len(levels)} group(s); need 2 "
                                    f"(n = {len(sub)})")
    moms, cats = [], []
    for level in levels:
        rows, _ = _sem._complete_rows(sub[sub[group] == level], spec.items)
        if len(rows) <= len(spec.items):
            raise InsufficientDataError(
                f"group {group} = {level!r} has {len(rows)} complete rows for "
                f"{len(spec.items)} items: too few (n = {len(rows)})")
        try:
            mom = ordinal_moments(rows, spec.items)
        except InsufficientDataError as err:
            raise InsufficientDataError(f"group {group} = {level!r}: {err}") from err
        moms.append(mom)
        cats.append([_codes(rows[v], v)[1] for v in spec.items])
    return moms, levels, cats


def wlsmv_difference_test(restricted: _MGWlsmvFit, free: _MGWlsmvFit) -> dict:
    """lavaan's ``lavTestLRT`` for two nested WLSMV fits: Satorra's (2000) scaled-shifted
    difference test (``method = "satorra.2000"``, ``A.method = "delta"``).

    ``A`` spans the directions of the free model's parameters that the restricted model
    cannot move (the orthogonal complement of ``pinv(Delta_1) Delta_0``, both Jacobians at
    their own estimates); with ``P`` the free model's information, ``M = P^-1 A'(A P^-1
    A')^+ A P^-1`` and ``U = V Delta_1 M Delta_1' V``: ``T = a (T_0 - T_1) + b``,
    ``a = sqrt(m / tr((U Gamma)^2))``, ``b = m - a tr(U Gamma)``, on ``m`` df."""
    m = restricted.measures["df"] - free.measures["df"]
    if m <= 0:
        raise ValueError(f"the restricted model must have more df "
                         f"({restricted.measures['df']:g} vs {free.measures['df']:g})")
    d_chi = restricted.measures["chisq"] - free.measures["chisq"]
    d1, d0 = np.vstack(free.delta), np.vstack(restricted.delta)
    h = np.linalg.pinv(d1) @ d0
    u_svd, sv, _ = np.linalg.svd(h, full_matrices=True)
    rank = int(np.sum(sv > sv.max() * max(h.shape) * np.finfo(float).eps))
    a_mat = u_svd[:, rank:].T
    groups = free.groups
    n_tot = sum(g.n for g in groups)
    fg = [g.n / n_tot for g in groups]
    p_inv = np.linalg.inv(_mg_information(groups, free.delta, fg))
    apa = a_mat @ p_inv @ a_mat.T
    keep = ~((np.abs(apa.sum(axis=0)) < np.sqrt(np.finfo(float).eps))
             & (np.abs(apa.sum(axis=1)) < np.sqrt(np.finfo(float).eps)))
    a_mat = a_mat[keep]
    mid = p_inv @ a_mat.T @ np.linalg.pinv(a_mat @ p_inv @ a_mat.T) @ a_mat @ p_inv
    v = np.concatenate([g.w for g in groups])
    u = (v[:, None] * d1) @ mid @ (v[:, None] * d1).T
    size = [g.s.size for g in groups]
    gam = np.zeros((sum(size), sum(size)))
    at = 0
    for f, g, s in zip(fg, groups, size):
        gam[at:at + s, at:at + s] = f * g.gamma
        at += s
    ug = u @ gam
    tr1, tr2 = float(np.trace(ug)), float(np.sum(ug * ug.T))
    a = np.sqrt(m / tr2)
    b = m - a * tr1
    stat = a * d_chi + b
    return {"stat": float(stat), "df": float(m), "p_value": float(_st.chi2.sf(stat, m)),
            "chisq_diff": float(d_chi), "a": float(a), "b": float(b),
            "trace_ugamma": tr1, "trace_ugamma2": tr2}


def fit_wlsmv_multigroup(model, data: pd.DataFrame, group: str, *, group_equal=(),
                         group_partial=(), on_improper: str = "raise", ci: float = 0.95,
                         max_iter: int = 300,
                         std_limit: float = 1.0) -> tuple[pd.DataFrame, pd.Series]:
    """A measurement model of ordinal items fitted by WLSMV in several groups at once, as
    ``lavaan::cfa(model, data, ordered = TRUE, estimator = "WLSMV", group = ...,
    group.equal = ...)``.

    Parameters
    ----------
    model : SemModel or str
        Factors measured by ordinal items (``f =~ a + b + c``; the first item is the marker,
        its loading fixed at 1) and, if wanted, residual covariances of items (``a ~~ b``).
        Regressions and modifiers are refused.
    data : DataFrame
        Ordinal answers and the grouping column; rows missing the group are dropped, rows
        missing an item are dropped within their group (listwise).
    group : str
        Grouping column; groups in sorted order, the first is the reference (latent means 0,
        scaling factors 1).
    group_equal : sequence of str
        lavaan's words from :data:`MULTIGROUP_EQUAL`. With ``"thresholds"`` the scaling
        factors (``~*~``) and the latent means are free from the second group on (lavaan's
        default for ordered items); ``"intercepts"`` and ``"residuals"`` change nothing, as
        in lavaan.
    group_partial : sequence of str
        Parameters exempt from ``group_equal`` (``"x3|t1"``, ``"visual=~x2"``).
    on_improper, ci, max_iter, std_limit
        As in :func:`crqlab.models.sem.fit_sem`.

    Returns
    -------
    (DataFrame, Series)
        The parameter table (``group, lhs, op, rhs, label, free, est, se, z, p_value,
        ci_low, ci_high``; thresholds ``x | t1``, fixed residual variances, scaling factors
        ``x ~*~ x``, intercepts fixed at 0 and latent means ``f ~1``) and the fit measures
        (``chisq, df, p_value`` - the DWLS statistic summed over groups - ``chisq_scaled,
        p_value_scaled, scaling_factor, shift_parameter`` (scaled-shifted), baseline,
        ``cfi, tli, rmsea`` and their ``_scaled`` versions, ``srmr, npar, n, n_groups``,
        ``proper``; the robust (catML) ``cfi_robust, tli_robust, rmsea_robust`` while
        thresholds are free in every group, NaN once they are equal, as lavaan).

    Raises
    ------
    ValueError
        Structural paths, modifiers, unknown group.equal words.
    InsufficientDataError
        Missing columns, fewer than 2 groups, a group too small, an item with a single
        category in a group, or equal thresholds for an item whose categories differ
        between groups.
    ConvergenceError
        Not identified, or (``on_improper="raise"``) no proper solution.

    Notes
    -----
    Each group has its own thresholds, polychoric correlations and Gamma
    (:func:`ordinal_moments`); the estimates minimise ``sum_g (n_g - 1) F_g``, ``F_g`` the
    group's DWLS discrepancy; ``T = sum_g (n_g - 1) F_g``; robust SEs
    ``E^-1 (sum_g f_g D_g' W_g Gamma_g W_g D_g) E^-1 / (N - G)`` with ``E = sum_g f_g D_g'
    W_g D_g``, ``f_g = n_g / N``; the scaled-shifted test from the stacked ``U Gamma``;
    RMSEA with ``N - G`` and times ``sqrt(G)``; the robust CFI, TLI and RMSEA (catML)
    from each group's ML discrepancy, as lavaan. Validated against lavaan 0.6-14
    on HolzingerSwineford1939 cut into three categories, grouped by school: configural,
    equal thresholds, equal loadings, equal thresholds and loadings, and a partial model
    (``tests/results/ordinal/make_multigroup.R``, ``tests/models/test_ordinal.py``).
    """
    if on_improper not in _sem._ON_IMPROPER:
        raise ValueError(f"on_improper must be one of {_sem._ON_IMPROPER}, got {on_improper!r}")
    sem_model = _sem._as_model(model)
    fit = _mg_fit(sem_model.syntax, data, group, group_equal, group_partial, ci=ci,
                  max_iter=max_iter, std_limit=std_limit)
    _sem._enforce(on_improper, sem_model.name, fit.reasons)
    measures = {k: v for k, v in fit.measures.items() if k != "stat_group"}
    return fit.parameters, pd.Series(measures | {"proper": not fit.reasons})

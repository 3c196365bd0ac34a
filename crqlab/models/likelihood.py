"""Casewise normal likelihood for :mod:`crqlab.models.sem`: robust (MLR) statistics and
full-information maximum likelihood (FIML) over missing-data patterns, as lavaan 0.6 has them.

:func:`crqlab.models.sem.fit_sem` calls this module for ``estimator="MLR"`` and
``missing="fiml"``; plain ML on complete cases never comes here, so its results are unchanged.

- **Mean structure.** ``mu = nu + Lambda (I - B)^-1 alpha``: an intercept ``nu`` for every
  observed variable and a mean ``alpha`` for every latent or structural variable (fixed at 0
  unless freed, as in the scalar step of an invariance test). With complete data and free
  intercepts the means are saturated and the covariance estimates are the ML ones.
- **Missing patterns.** Rows are grouped by which variables they answer; each pattern
  contributes ``n_j (log|Sigma_oo| + tr(Sigma_oo^-1 (S_j + d_j d_j')))`` with ``d_j`` its
  mean minus the model mean (``lavaan``'s ``missing = "ml"``). The discrepancy is
  ``F = -2 (logL - logL_h1) / N`` so that ``N F`` is the likelihood-ratio test against the
  saturated model, whose moments come from the EM algorithm (:func:`em_moments`).
- **Standard errors.** FIML: inverse observed information (the Hessian of the log-likelihood,
  central differences of the analytic gradient). MLR: the sandwich ``A^-1 B A^-1 / N`` with
  ``A`` the observed information and ``B`` the mean outer product of the casewise scores
  (lavaan's ``robust.huber.white``).
- **Speed (complete data).** One missing-data pattern takes closed forms: the saturated
  Hessian projected on the structure as traces over parameter locations, the casewise
  scores from M'z and G'z, the curvature's central differences in one batch with
  ``np.einsum``'s own arithmetic (differences divided by 2e-5 would show any rounding
  change); each checked against the general route in ``tests/models/test_likelihood.py``.
- **Scaled test.** Yuan-Bentler, lavaan's ``yuan.bentler.mplus``: the scaling factor is
  ``c = (tr(A1^-1 B1) - tr(A0^-1 B0)) / df`` with ``A1, B1`` the observed and first-order
  information of the saturated model and ``A0, B0`` those of the fitted model; the baseline
  (independence) model is scaled the same way. Robust CFI, TLI and RMSEA follow lavaan's
  ``cfi.robust`` (Brosseau-Liard & Savalei 2014) and ``rmsea.robust`` (Brosseau-Liard, Savalei
  & Li 2012) for complete data, and the FIML-corrected ``V3`` versions (Zhang & Savalei 2023)
  under FIML.

Validated against lavaan 0.6-14 (``tests/results/lavaan/make_lavaan_robust.R``).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy import stats as _st

from crqlab.errors import ConvergenceError, InsufficientDataError
from crqlab.models import sem as _sem
from crqlab.stats import z_crit

__all__ = ["ESTIMATORS", "MISSING", "em_moments", "check_options", "fit_fiml", "robustify"]

#: Estimators of :func:`crqlab.models.sem.fit_sem`.
ESTIMATORS = ("ML", "MLR")
#: Missing-data treatments of :func:`crqlab.models.sem.fit_sem`.
MISSING = ("listwise", "fiml")

_LOG2PI = float(np.log(2 * np.pi))


def check_options(estimator: str, missing: str) -> None:
    """Refuse an unknown ``estimator`` or ``missing`` (ValueError naming the choices)."""
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
    if missing not in MISSING:
        raise ValueError(f"missing must be one of {MISSING}, got {missing!r}")


# ----------------------------------------------------------------------------------------------
# Missing-data patterns and the saturated (h1) moments
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Pattern:
    """Rows answering the same variables: their positions, the variables, n, mean, covariance."""

    obs: np.ndarray
    rows: np.ndarray
    n: int
    mean: np.ndarray
    cov: np.ndarray  # divisor n


def _patterns(x: np.ndarray) -> list[_Pattern]:
    """Missing-data patterns of ``x`` (rows with nothing observed must be removed first)."""
    miss = np.isnan(x)
    if not miss.any():  # complete data: one pattern (and no sort of n rows)
        mean = x.mean(axis=0)
        xc = x - mean
        return [_Pattern(np.arange(x.shape[1]), np.arange(x.shape[0]), x.shape[0], mean,
                         xc.T @ xc / x.shape[0])]
    keys, inverse = np.unique(miss, axis=0, return_inverse=True)
    out = []
    for k, key in enumerate(keys):
        rows = np.flatnonzero(inverse.ravel() == k)
        obs = np.flatnonzero(~key)
        xo = x[np.ix_(rows, obs)]
        mean = xo.mean(axis=0)
        xc = xo - mean
        out.append(_Pattern(obs, rows, len(rows), mean, xc.T @ xc / len(rows)))
    return out


def _minus2_logl(pats: list[_Pattern], mu: np.ndarray, sigma: np.ndarray) -> float:
    """-2 log-likelihood of the rows under N(mu, sigma), pattern by pattern."""
    total = 0.0
    for pat in pats:
        o = pat.obs
        chol = np.linalg.cholesky(sigma[np.ix_(o, o)])
        k = np.linalg.inv(sigma[np.ix_(o, o)])
        d = pat.mean - mu[o]
        total += pat.n * (2 * np.log(np.diag(chol)).sum() + np.sum(k * (pat.cov + np.outer(d, d)))
                          + len(o) * _LOG2PI)
    return float(total)


def em_moments(x, *, tol: float = 1e-10, max_iter: int = 10_000):
    """Maximum-likelihood mean and covariance of incomplete multivariate normal data (EM).

    Parameters
    ----------
    x : array-like, shape (n, p)
        Rows with NaN for missing values; every row must have at least one value.
    tol : float
        Convergence: largest absolute change of a mean or covariance element.
    max_iter : int
        EM iterations at most.

    Returns
    -------
    tuple
        ``(mu, sigma, iterations)``; ``sigma`` has divisor n.

    Raises
    ------
    ConvergenceError
        No convergence within ``max_iter`` iterations, or a singular covariance estimate.

    Notes
    -----
    Starts, as lavaan's ``lav_mvnorm_missing_h1_estimate_moments``, from the available-case
    means and a diagonal covariance of the available-case variances. lavaan stops at a change
    of 1e-5; the default here is tighter, so the saturated log-likelihood (and through it the
    FIML chi-square) agrees with lavaan's to about 1e-6 (``tests/models/test_likelihood.py``).
    """
    x = np.asarray(x, dtype=float)
    pats = _patterns(x)
    n, p = x.shape
    mu = np.nanmean(x, axis=0)
    sigma = np.diag(np.nanmean((x - mu) ** 2, axis=0))
    for it in range(1, max_iter + 1):
        t1, t2 = np.zeros(p), np.zeros((p, p))
        for pat in pats:
            o = pat.obs
            m = np.setdiff1d(np.arange(p), o)
            xo = x[np.ix_(pat.rows, o)]
            full = np.empty((pat.n, p))
            full[:, o] = xo
            if m.size:
                b = np.linalg.solve(sigma[np.ix_(o, o)], sigma[np.ix_(o, m)])
                full[:, m] = mu[m] + (xo - mu[o]) @ b
                t2[np.ix_(m, m)] += pat.n * (sigma[np.ix_(m, m)] - sigma[np.ix_(m, o)] @ b)
            t1 += full.sum(axis=0)
            t2 += full.T @ full
        new_mu = t1 / n
        new_sigma = t2 / n - np.outer(new_mu, new_mu)
        change = max(np.abs(new_mu - mu).max(), np.abs(new_sigma - sigma).max())
        mu, sigma = new_mu, (new_sigma + new_sigma.T) / 2
        if np.linalg.eigvalsh(sigma).min() <= 0:
            raise ConvergenceError(f"EM: the saturated covariance matrix of {p} variables is "
                                   f"singular at iteration {it} (n = {n})")
        if change < tol:
            return mu, sigma, it
    raise ConvergenceError(f"EM for the saturated moments did not converge in {max_iter} "
                           f"iterations (n = {n})")


# ----------------------------------------------------------------------------------------------
# One group's likelihood with a mean structure, over missing patterns
# ----------------------------------------------------------------------------------------------

def _quad(u: np.ndarray, w: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Row-wise bilinear forms ``u_l' W v_l`` (``einsum("lp,pq,lq->l")`` by one matrix
    product: einsum's unoptimised loop dominated MLR's time; equal up to rounding)."""
    return np.sum((u @ w) * v, axis=1)


def _kind_index(base) -> list[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
    """Per matrix kind present (0 Beta, 1 Lambda, 2 Psi, 3 Theta) its locations' positions
    and their row and column indices, computed once per group."""
    kind, i, j = base._loc_kind, base._loc_i, base._loc_j
    out = []
    for k in range(4):
        sel = np.flatnonzero(kind == k)
        if sel.size:
            out.append((k, sel, i[sel], j[sel]))
    return out


def _location_forms(kinds, m: np.ndarray, g: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``u_l' W v_l`` for every free-parameter location without building u and v: u, v are
    columns of M = Lambda C, G = Lambda P or unit vectors (``crqlab.models.sem._Group._uv``),
    so the forms are elements of M'WG (Beta), WG (Lambda), M'WM (Psi) and W (Theta);
    ``kinds`` from :func:`_kind_index`.

    Notes
    -----
    Equal, up to rounding, to ``_quad(*base._uv(m, g), w)`` (``tests/models/test_likelihood.py``).
    """
    mw = m.T @ w
    mats = (lambda: mw @ g, lambda: w @ g, lambda: mw @ m, lambda: w)
    out = np.empty(sum(len(sel) for _, sel, _, _ in kinds))
    for k, sel, i, j in kinds:
        out[sel] = mats[k]()[i, j]
    return out


def _row_forms(kinds, zt: np.ndarray, m: np.ndarray, g: np.ndarray):
    """``u_l'z`` and ``v_l'z`` (L x n each, ``zt`` = z' p x n) for every location, read off
    the rows of M'z, z and G'z (u, v as in :func:`_location_forms`) instead of n x p x L
    products; rows, not columns, so that every gather is contiguous.

    Notes
    -----
    The scores built on it equal the direct ``(z u')(z v')`` formula up to rounding
    (``tests/models/test_likelihood.py``).
    """
    mz, gz = m.T @ zt, g.T @ zt
    n_loc = sum(len(sel) for _, sel, _, _ in kinds)
    zu, zv = np.empty((n_loc, zt.shape[1])), np.empty((n_loc, zt.shape[1]))
    for k, sel, i, j in kinds:
        uu, vv = ((mz, gz), (zt, gz), (mz, mz), (zt, zt))[k]
        zu[sel], zv[sel] = uu[i], vv[j]
    return zu, zv


def _einsum_forms(kinds, m: np.ndarray, g: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``einsum("lp,pq,lq->l", u, w, v)`` for a batch of (M, G) (B x p x q each), B x L,
    with the einsum's own arithmetic: one accumulator, terms ``(u_a w_aq) v_q`` added in
    (a, q) order. A term with u_a = 0 or v_q = 0 adds an exact zero and is skipped, so a
    Theta form is w_ij and a Lambda form (u = e_i) p steps.

    Notes
    -----
    Bit for bit ``np.einsum`` on each member (``tests/models/test_likelihood.py``), so the
    central differences of :meth:`_MomentGroup.observed_hessian` keep their values.
    """
    out = np.empty((len(m), sum(len(sel) for _, sel, _, _ in kinds)))
    for k, sel, i, j in kinds:
        if k == 3:
            out[:, sel] = w[i, j]
            continue
        v = np.ascontiguousarray((g if k < 2 else m)[:, :, j].transpose(1, 0, 2))  # p x B x L
        cols = np.flatnonzero(v.any(axis=(1, 2)))
        v = v[cols]
        if k == 1:  # u = e_i: the terms w_iq v_q
            out[:, sel] = np.add.reduce(w[np.ix_(i, cols)].T[:, None, :] * v, axis=0)
            continue
        u = np.ascontiguousarray(m[:, :, i].transpose(1, 0, 2))
        acc = np.zeros(v.shape[1:])
        for a in np.flatnonzero(u.any(axis=(1, 2))):
            terms = u[a] * w[a, cols][:, None, None] * v
            terms[0] += acc
            acc = np.add.reduce(terms, axis=0)  # row after row: the einsum's order
        out[:, sel] = acc
    return out


def _aggregate(base, per_location: np.ndarray) -> np.ndarray:
    """Rows per location summed into rows per free parameter (``base._agg @``); a row
    permutation when no two locations share a parameter (no equality labels).

    Notes
    -----
    Both branches checked through the casewise scores, with and without an equality label
    (``tests/models/test_likelihood.py``).
    """
    free = base._loc_free
    if len(free) != base.k or len(np.unique(free)) != base.k:
        return base._agg @ per_location
    out = np.empty((base.k, per_location.shape[1]))
    out[free] = per_location
    return out


@dataclass(frozen=True)
class _MeanParam:
    """One intercept (``kind="nu"``, an observed variable) or mean (``"alpha"``, inner)."""

    kind: str
    index: int
    name: str
    free: int  # local id among this group's mean parameters, -1 when fixed
    value: float = 0.0


class _MomentGroup:
    """Casewise normal likelihood of one group: semopy's covariance structure plus means.

    The free-parameter vector is the covariance parameters of ``base`` (a
    :class:`crqlab.models.sem._Group`, same order) followed by the free mean parameters.
    Implements the interface of :class:`crqlab.models.sem._Problem` (``k, n, start, table, S,
    observed, evaluate``).
    """

    def __init__(self, base, x: np.ndarray, mean_params: list[_MeanParam], h1: tuple):
        self.base, self.sm, self.table = base, base.sm, base.table
        self.observed = base.observed
        self.x = x
        self.patterns = _patterns(x)
        self.n = int(x.shape[0])
        self.kc = base.k
        self.mean_params = mean_params
        self._free_means = [mp for mp in mean_params if mp.free >= 0]
        self.k = self.kc + len(self._free_means)
        self.mu_h1, self.S = h1
        self.f_h1 = _minus2_logl(self.patterns, self.mu_h1, self.S)
        start = {mp.free: (self.mu_h1[mp.index] if mp.kind == "nu" else 0.0)
                 for mp in self._free_means}
        self.start = np.concatenate([base.start, [start[i] for i in range(len(start))]])
        self._index_means(len(base.sm.vars["inner"]))
        self._kinds = _kind_index(base)

    def _index_means(self, n_inner: int) -> None:
        """Index arrays for assembling nu and alpha from theta without a Python loop."""
        p = len(self.observed)
        self._fixed = {"nu": np.zeros(p), "alpha": np.zeros(n_inner)}
        self._free_at = {}
        for kind in ("nu", "alpha"):
            mps = [mp for mp in self.mean_params if mp.kind == kind]
            for mp in mps:
                if mp.free < 0:
                    self._fixed[kind][mp.index] = mp.value
            free = [mp for mp in mps if mp.free >= 0]
            self._free_at[kind] = (np.array([mp.index for mp in free], dtype=int),
                                   np.array([self.kc + mp.free for mp in free], dtype=int))
        self._static_means = (not self._free_at["alpha"][0].size
                              and not self._fixed["alpha"].any())
        self._dmu_nu = np.zeros((self.k, p))
        idx, pos = self._free_at["nu"]
        self._dmu_nu[pos, idx] = 1.0

    # -- model moments and their derivatives -------------------------------------------------
    def _moments(self, theta):
        sigma, m, gmat = self.base._sigma_parts(theta[:self.kc])
        nu, alpha = self._fixed["nu"].copy(), self._fixed["alpha"].copy()
        for vec, (idx, pos) in ((nu, self._free_at["nu"]), (alpha, self._free_at["alpha"])):
            vec[idx] = theta[pos]
        if self._static_means:  # latent means all 0: the means are the intercepts
            return sigma, m, gmat, nu, alpha
        beta = self.sm.matrices[0]
        c = np.linalg.inv(np.identity(beta.shape[0]) - beta)
        return sigma, m, gmat, nu + m @ alpha, c @ alpha

    def _dmu(self, m, eta, u) -> np.ndarray:
        """d mu / d theta (k x p): loadings and paths move the means when latent means are not 0."""
        d = self._dmu_nu.copy()
        if self._static_means:
            return d
        base = self.base
        dloc = np.zeros_like(u)
        sel = base._loc_kind <= 1
        dloc[sel] = u[sel] * eta[base._loc_j[sel]][:, None]
        d[:self.kc] = base._agg @ dloc
        idx, pos = self._free_at["alpha"]
        d[pos] = m[:, idx].T
        return d

    def mu_sigma(self, theta) -> tuple[np.ndarray, np.ndarray]:
        """Model-implied mean vector and covariance matrix."""
        sigma, _, _, mu, _ = self._moments(theta)
        return mu, sigma

    def evaluate(self, theta, grad: bool = True, info: bool = False):
        """F = (-2 logL + 2 logL_h1) / n, its gradient and expected information (E[Hessian])."""
        try:
            sigma, m, gmat, mu, eta = self._moments(theta)
        except np.linalg.LinAlgError:
            return np.inf, None, None
        p = len(mu)
        need = grad or info
        if need:
            u, v = self.base._uv(m, gmat)
            dmu = self._dmu(m, eta, u)
        f, w, gmu = 0.0, np.zeros((p, p)), np.zeros(p)
        h_loc = np.zeros((u.shape[0], u.shape[0])) if info else None
        h_mu = np.zeros((self.k, self.k)) if info else None
        for pat in self.patterns:
            o = pat.obs
            s_oo = sigma[np.ix_(o, o)]
            try:
                chol = np.linalg.cholesky(s_oo)
            except np.linalg.LinAlgError:
                return np.inf, None, None
            kinv = np.linalg.inv(s_oo)
            d = pat.mean - mu[o]
            cp = pat.cov + np.outer(d, d)
            f += pat.n * (2 * np.log(np.diag(chol)).sum() + np.sum(kinv * cp) + len(o) * _LOG2PI)
            if grad:
                w[np.ix_(o, o)] += pat.n * (kinv - kinv @ cp @ kinv)
                gmu[o] -= 2 * pat.n * (kinv @ d)
            if info:
                uo, vo = u[:, o], v[:, o]
                ui, vi = uo @ kinv, vo @ kinv
                b = ui @ vo.T
                h_loc += pat.n * ((ui @ uo.T) * (vi @ vo.T) + b * b.T)
                dm = dmu[:, o]
                h_mu += pat.n * (dm @ kinv @ dm.T)
        n = self.n
        fval = (f - self.f_h1) / n
        if not need:
            return fval, None, None
        cc, agg = self.base._loc_c, self.base._agg
        g = h = None
        if grad:
            g = dmu @ gmu
            g[:self.kc] += agg @ (2 * cc * np.einsum("lp,pq,lq->l", u, w, v))
            g /= n
        if info:
            h = 2 * h_mu
            h[:self.kc, :self.kc] += agg @ (2 * np.outer(cc, cc) * h_loc) @ agg.T
            h /= n
        return fval, g, h

    def scores(self, theta) -> np.ndarray:
        """Casewise scores d log L_i / d theta (rows of ``x`` in order): per location
        ``c ((z'u)(z'v) - u'K v)`` with z = K (x_i - mu), K = Sigma_oo^-1 embedded in p x p."""
        sigma, m, gmat, mu, eta = self._moments(theta)
        dmu = (self._dmu(m, eta, self.base._uv(m, gmat)[0]) if not self._static_means
               else self._dmu_nu)
        base, p = self.base, len(mu)
        out = np.zeros((self.k, self.n))  # transposed: every row a contiguous gather
        for pat in self.patterns:
            o = pat.obs
            kinv = np.zeros((p, p))
            kinv[np.ix_(o, o)] = np.linalg.inv(sigma[np.ix_(o, o)])
            zt = np.zeros((p, pat.n))  # z' = K (x_i - mu) as columns
            zt[o] = kinv[np.ix_(o, o)] @ (self.x[np.ix_(pat.rows, o)] - mu[o]).T
            zu, zv = _row_forms(self._kinds, zt, m, gmat)
            const = _location_forms(self._kinds, m, gmat, kinv)[:, None]
            s_loc = base._loc_c[:, None] * (zu * zv - const)
            block = dmu @ zt if dmu.any() else np.zeros((self.k, pat.n))
            block[:self.kc] += _aggregate(base, s_loc)
            if len(self.patterns) == 1:
                return block.T  # the rows of x in order (one pattern: every row)
            out[:, pat.rows] = block
        return out.T

    def delta(self, theta) -> np.ndarray:
        """Jacobian of (mu, vech Sigma) with respect to theta ((p + p*) x k)."""
        sigma, m, gmat, mu, eta = self._moments(theta)
        u, v = self.base._uv(m, gmat)
        dmu = self._dmu(m, eta, u)
        rows, cols = np.tril_indices(len(mu))
        cc = self.base._loc_c
        dsig_loc = cc[:, None] * (u[:, rows] * v[:, cols] + v[:, rows] * u[:, cols])
        dsig = np.zeros((self.k, len(rows)))
        dsig[:self.kc] = self.base._agg @ dsig_loc
        return np.vstack([dmu.T, dsig.T])

    def _pullback(self, theta, g_mu: np.ndarray, w: np.ndarray) -> np.ndarray:
        """``Delta(theta)' g`` for a fixed gradient g in (mu, Sigma): ``g_mu' dmu/dtheta +
        tr(W dSigma/dtheta)``, W the symmetric matrix of the Sigma gradient."""
        _, m, gmat, _, eta = self._moments(theta)
        base = self.base
        out = (self._dmu(m, eta, base._uv(m, gmat)[0]) @ g_mu if not self._static_means
               else self._dmu_nu @ g_mu)
        u, v = base._uv(m, gmat)
        out[:self.kc] += base._agg @ (2 * base._loc_c * np.einsum("lp,pq,lq->l", u, w, v))
        return out

    def _pullbacks(self, thetas: np.ndarray, g_mu: np.ndarray, w: np.ndarray) -> np.ndarray:
        """:meth:`_pullback` at each row of ``thetas`` (static means only: d mu / d theta is
        constant), semopy's matrices filled as its ``update_matrices`` does, all rows in one
        batch (:func:`_einsum_forms`) instead of a Python loop.

        Notes
        -----
        Bit for bit the rows' :meth:`_pullback` (``tests/models/test_likelihood.py``): the
        central differences divide by 2e-5, so rounding differences would show in the SEs'
        tenth digit (and in results.json).
        """
        sm, kc = self.sm, self.kc
        mats = [np.repeat(mx[None], len(thetas), axis=0) for mx in sm.matrices[:4]]
        for mx, (r1, r2) in zip(mats, sm.param_ranges[:4]):
            if r1:
                mx[(slice(None), *r1)] = thetas[:, :kc][:, r2]
        beta, lamb, psi, _ = mats
        c = np.linalg.inv(np.identity(beta.shape[1]) - beta)
        m = lamb @ c
        g = lamb @ (c @ psi @ c.transpose(0, 2, 1))
        forms = _einsum_forms(self._kinds, m, g, w)
        out = np.repeat((self._dmu_nu @ g_mu)[None], len(thetas), axis=0)
        out[:, :kc] += (2 * self.base._loc_c * forms) @ self.base._agg.T
        return out

    def _projected_hessian(self, theta, mu, sigma):
        """``Delta' H_sat Delta`` and ``g_sat`` for one pattern without the p* x p* block of
        H_sat: its Sigma part is ``tr(dSigma_a K dSigma_b A)``, A = 2P - K (the closed form
        of :func:`_one_pattern_hessian`), summed over locations as products of the
        bilinear forms of u, v in K and A.

        Notes
        -----
        Equal, up to rounding, to ``delta' @ _saturated_derivatives(...)[0] @ delta``
        (``tests/models/test_likelihood.py``).
        """
        ks, ps, kd, weights = _pattern_inverses(self.patterns, mu, sigma)
        k, a = ks[0], 2 * ps[0] - ks[0]
        p = len(mu)
        dlt = self.delta(theta)
        dmu, dsig = dlt[:p].T, dlt[p:].T
        cross = dmu @ _mean_cov_block(k, kd[0]) @ dsig.T
        hess = dmu @ (2 * k) @ dmu.T + cross + cross.T
        _, m, gmat, _, _ = self._moments(theta)
        u, v = self.base._uv(m, gmat)
        xk, xa = u @ k @ v.T, u @ a @ v.T
        h_loc = (xk.T * xa + (v @ k @ v.T) * (u @ a @ u.T) + (u @ k @ u.T) * (v @ a @ v.T)
                 + xk * xa.T) * np.outer(self.base._loc_c, self.base._loc_c)
        hess[:self.kc, :self.kc] += self.base._agg @ h_loc @ self.base._agg.T
        return hess, _saturated_gradient(ks, ps, kd, weights)

    def observed_hessian(self, theta, step: float = 1e-5) -> np.ndarray:
        """Hessian of F: ``Delta' H_sat Delta`` (the saturated Hessian at the model's moments,
        analytic; one pattern: :meth:`_projected_hessian`) plus the curvature of the
        structure, ``d(Delta' g_sat)/d theta`` at fixed ``g_sat``, by central differences
        (cheap: no pass over the data; the error, of order step^2 times a third derivative,
        is far below the SEs' last reported digit), all 2k pullbacks in one batch when the
        means are static (:meth:`_pullbacks`)."""
        mu, sigma = self.mu_sigma(theta)
        if len(self.patterns) == 1:
            hess, g_sat = self._projected_hessian(theta, mu, sigma)
        else:
            h_sat, g_sat = _saturated_derivatives(self.patterns, mu, sigma)
            dlt = self.delta(theta)
            hess = dlt.T @ h_sat @ dlt
        p = len(mu)
        w = _sigma_gradient_matrix(g_sat, p)
        shifts = step * np.identity(self.k)
        if self._static_means:  # all 2k pullbacks at once
            ups = self._pullbacks(theta + shifts, g_sat[:p], w)
            downs = self._pullbacks(theta - shifts, g_sat[:p], w)
            curv = (ups - downs).T / (2 * step)
        else:
            curv = np.empty_like(hess)
            for col in range(self.k):
                curv[:, col] = (self._pullback(theta + shifts[col], g_sat[:p], w)
                                - self._pullback(theta - shifts[col], g_sat[:p], w)) / (2 * step)
        self.mu_sigma(theta)  # leave semopy's matrices at theta
        hess = hess + curv
        return (hess + hess.T) / 2


# ----------------------------------------------------------------------------------------------
# Information matrices, sandwich and scaled test
# ----------------------------------------------------------------------------------------------

class _MomentProblem(_sem._Problem):
    """A multi-group likelihood problem whose Newton steps use :meth:`observed_hessian`."""

    def observed_hessian(self, theta) -> np.ndarray:
        return 2 * _observed_information(self, theta)


def _sigma_gradient_matrix(g_sat: np.ndarray, p: int) -> np.ndarray:
    """The saturated gradient's vech Sigma part as the symmetric matrix W with
    ``g' dvech(Sigma) = tr(W dSigma)`` (off-diagonal entries halved: each appears twice)."""
    i, j = np.tril_indices(p)
    w = np.zeros((p, p))
    w[i, j] = g_sat[p:] / np.where(i == j, 1.0, 2.0)
    w[j, i] = w[i, j]
    return w


def _observed_information(problem, theta) -> np.ndarray:
    """Observed information per observation, ``0.5 * Hessian of F`` (F = -2 logL / N + c),
    summed over groups with weights n_g / N as the discrepancy."""
    info = np.zeros((problem.k, problem.k))
    for grp, idx in zip(problem.groups, problem.maps):
        w = grp.n / problem.n
        info[np.ix_(idx, idx)] += 0.5 * w * grp.observed_hessian(theta[idx])
    return info


def _inverse(matrix: np.ndarray, what: str) -> np.ndarray:
    try:
        inv = np.linalg.inv(matrix)
    except np.linalg.LinAlgError:
        raise ConvergenceError(f"the {what} is singular: the model is not identified by these "
                               "data") from None
    return inv


def _duplication(p: int) -> np.ndarray:
    """Duplication matrix D (p^2 x p*): vec(S) = D vech(S), vech over the lower triangle."""
    rows, cols = np.tril_indices(p)
    dup = np.zeros((p * p, len(rows)))
    dup[rows * p + cols, np.arange(len(rows))] = 1.0
    dup[cols * p + rows, np.arange(len(rows))] = 1.0
    return dup


def _saturated_derivatives(pats, mu, sigma) -> tuple[np.ndarray, np.ndarray]:
    """Hessian and gradient of F = -2 logL / n with respect to (mu, vech Sigma) at ``mu,
    sigma``.

    Per pattern, with K = Sigma_oo^-1, C = S_j + d d' and P = KCK embedded in p x p, the
    second derivative in the symmetric directions E_r, E_s is
    ``n_j (tr(E_r K E_s P) + tr(E_r P E_s K) - tr(E_r K E_s K))``, in (mu_m, E_s)
    ``2 n_j e_m' K E_s K d`` and in (mu, mu) ``2 n_j K``. One pattern (complete data): in
    closed form (:func:`_one_pattern_hessian`); several: :func:`_pattern_sum_hessian`.
    """
    ks, ps, kd, weights = _pattern_inverses(pats, mu, sigma)
    if len(pats) == 1:  # complete data: the traces factor into elements of K and P
        hess = _one_pattern_hessian(ks[0], ps[0], kd[0], weights[0]) / weights[0]
    else:
        hess = _pattern_sum_hessian(ks, ps, kd, weights) / weights.sum()
    return hess, _saturated_gradient(ks, ps, kd, weights)


def _pattern_inverses(pats, mu, sigma):
    """Per pattern K = Sigma_oo^-1, P = K (S_j + d d') K and Kd embedded in p x p (p), and
    the patterns' sizes n_j (``_saturated_derivatives``)."""
    p = len(mu)
    ks, ps, kd = np.zeros((len(pats), p, p)), np.zeros((len(pats), p, p)), np.zeros((len(pats), p))
    weights = np.array([pat.n for pat in pats], dtype=float)
    for t, pat in enumerate(pats):
        o = pat.obs
        kinv = np.linalg.inv(sigma[np.ix_(o, o)])
        d = pat.mean - mu[o]
        ks[t][np.ix_(o, o)] = kinv
        ps[t][np.ix_(o, o)] = kinv @ (pat.cov + np.outer(d, d)) @ kinv
        kd[t, o] = kinv @ d
    return ks, ps, kd, weights


def _saturated_gradient(ks, ps, kd, weights) -> np.ndarray:
    """Gradient of F = -2 logL / n in (mu, vech Sigma) from :func:`_pattern_inverses`."""
    p = ks.shape[1]
    i, j = np.tril_indices(p)
    w = np.einsum("t,tab->ab", weights, ks - ps)
    g_mu = -2 * weights @ kd
    g_sig = w[i, j] * np.where(i == j, 1.0, 2.0)
    return np.concatenate([g_mu, g_sig]) / weights.sum()


def _pattern_sum_hessian(ks, ps, kd, weights) -> np.ndarray:
    """n F's Hessian in (mu, vech Sigma) summed over patterns (``_saturated_derivatives``):
    the weighted cross-products of the stacked vec(K), vec(P) and Kd summed first, the traces
    then read off those p^2 x p^2 sums (no Kronecker product per pattern)."""
    p = ks.shape[1]
    vk, vp = ks.reshape(len(ks), -1), ps.reshape(len(ps), -1)
    m_kk = (vk * weights[:, None]).T @ vk
    m_kp = (vk * weights[:, None]).T @ vp
    m_kd = (vk * weights[:, None]).T @ kd
    i, j = np.tril_indices(p)
    half = np.where(i == j, 0.5, 1.0)

    def trace_terms(m):  # sum_j n_j tr(E_r B E_s A) for m = sum_j n_j vec(B) vec(A)'
        r1, r2 = (j * p)[:, None], (i * p)[:, None]
        return (m[r1 + i[None, :], (j * p)[None, :] + i[:, None]]
                + m[r1 + j[None, :], (i * p)[None, :] + i[:, None]]
                + m[r2 + i[None, :], (j * p)[None, :] + j[:, None]]
                + m[r2 + j[None, :], (i * p)[None, :] + j[:, None]])

    h_ss = trace_terms(m_kp) + trace_terms(m_kp.T) - trace_terms(m_kk)
    h_ss *= np.outer(half, half)
    rows = np.arange(p)[:, None] * p
    h_ms = 2 * (m_kd[rows + i[None, :], j[None, :]] + m_kd[rows + j[None, :], i[None, :]]) * half
    h_mm = 2 * np.einsum("t,tab->ab", weights, ks)
    return np.block([[h_mm, h_ms], [h_ms.T, h_ss]])


def _one_pattern_hessian(k, pk, kd, n) -> np.ndarray:
    """n F's Hessian in (mu, vech Sigma) for one pattern (K, P = KCK and Kd embedded in p x p,
    ``_saturated_derivatives``), in closed form: for symmetric A, B and r = (i, j),
    s = (k, l), ``B_jk A_li + B_jl A_ki + B_ik A_lj + B_il A_kj``, halved once for each of
    i = j and k = l, is the (r, s) element of ``D'(A x B)D`` (D the duplication matrix), so
    ``h_ss = D'(P x K + K x P - K x K)D = D'((2P - K) x K)D`` (``D'(A x B)D = D'(B x A)D``
    for symmetric A, B, as the commutation matrix fixes D) without a Kronecker product.

    Notes
    -----
    Equal, up to rounding, to :func:`_pattern_sum_hessian` with one pattern
    (``tests/models/test_likelihood.py``), at O(p^4 / 4) instead of building and gathering
    from p^2 x p^2 cross-products.
    """
    p = len(kd)
    i, j = np.tril_indices(p)
    half = np.where(i == j, 0.5, 1.0)

    def trace_terms(b, a):  # the four-term sums over r, s in vech order
        return (b[np.ix_(j, i)] * a[np.ix_(i, j)] + b[np.ix_(j, j)] * a[np.ix_(i, i)]
                + b[np.ix_(i, i)] * a[np.ix_(j, j)] + b[np.ix_(i, j)] * a[np.ix_(j, i)])

    h_ss = n * trace_terms(k, 2 * pk - k) * np.outer(half, half)
    h_ms = n * _mean_cov_block(k, kd)
    return np.block([[2 * n * k, h_ms], [h_ms.T, h_ss]])


def _mean_cov_block(k, kd) -> np.ndarray:
    """The (mu, vech Sigma) block of one pattern's Hessian of F per observation,
    ``2 e_m' K E_s K d`` (``_saturated_derivatives``)."""
    i, j = np.tril_indices(len(kd))
    return 2 * (k[:, i] * kd[j] + k[:, j] * kd[i]) * np.where(i == j, 0.5, 1.0)


def _h1_information(pats, x, mu, sigma, means: bool) -> tuple[np.ndarray, np.ndarray]:
    """Observed (A1) and first-order (B1) information of the saturated model per observation,
    parameters (mu, vech Sigma) (or vech Sigma alone without means), at ``mu, sigma``."""
    p = len(mu)
    n = sum(pat.n for pat in pats)
    hess, _ = _saturated_derivatives(pats, mu, sigma)
    a1 = 0.5 * (hess if means else hess[p:, p:])
    rows, cols = np.tril_indices(p)
    twice = np.where(rows == cols, 1.0, 2.0)
    scores = np.zeros((x.shape[0], (p if means else 0) + len(rows)))
    for pat in pats:
        o = pat.obs
        kinv = np.zeros((p, p))
        kinv[np.ix_(o, o)] = np.linalg.inv(sigma[np.ix_(o, o)])
        z = np.zeros((pat.n, p))
        z[:, o] = x[np.ix_(pat.rows, o)] - mu[o]
        z = z @ kinv
        sig_scores = 0.5 * (z[:, rows] * z[:, cols] - kinv[rows, cols]) * twice
        scores[pat.rows] = np.hstack([z, sig_scores]) if means else sig_scores
    return a1, scores.T @ scores / n


def _complete_h1_trace(x, mean, cov) -> float:
    """tr(A1^-1 B1) of the saturated covariance model for complete data, in closed form.

    With ``A1 = D'(K x K)D / 2`` and casewise scores ``D' vec(K d d' K - K) / 2`` (K = S^-1),
    each case contributes ``tr(G S G S) / 2`` with ``G = K d d' K - K``, i.e.
    ``((d'Kd)^2 - 2 d'Kd + p) / 2``; the mean of d'Kd is p, so the trace is
    ``(mean of squared Mahalanobis distances - p) / 2`` (Mardia's kurtosis: p* under
    normality). Equal to the general :func:`_h1_information` route, checked in
    ``tests/models/test_likelihood.py``, at O(n p^2) instead of O(n p^4).
    """
    d = x - mean
    maha = _quad(d, np.linalg.inv(cov), d)
    return float(0.5 * (np.mean(maha ** 2) - x.shape[1]))


def _independence(pats, x, means: bool):
    """The baseline (independence) model by ML on the available values: -2 logL, its observed
    information and casewise scores per observation (variances, and means when ``means``)."""
    n, p = x.shape
    obs = ~np.isnan(x)
    n_j = obs.sum(axis=0)
    mu = np.nanmean(x, axis=0)
    var = np.nanmean((x - mu) ** 2, axis=0)
    minus2 = float(np.sum(n_j * (_LOG2PI + np.log(var) + 1)))
    d = np.where(obs, x - mu, 0.0)
    s_var = np.where(obs, 0.5 * (d ** 2 / var ** 2 - 1 / var), 0.0)
    info_var = 0.5 * n_j / var ** 2 / n
    if means:
        scores = np.hstack([d / var, s_var])
        info = np.concatenate([n_j / var / n, info_var])
    else:
        scores, info = s_var, info_var
    return minus2, np.diag(info), scores.T @ scores / n


def _scaling(trace_h1: float, a0: np.ndarray, b0: np.ndarray, df: float) -> float:
    """Yuan-Bentler (Mplus variant) scaling factor (tr(A1^-1 B1) - tr(A0^-1 B0)) / df."""
    if df <= 0:
        return np.nan
    c = (trace_h1 - float(np.sum(b0 * _inverse(a0, "observed information").T))) / df
    return c if c > 0 else np.nan


def _cfi(x2, df, x2_b, df_b, c=1.0, c_b=1.0) -> float:
    t1 = max(x2 - c * df, 0.0)
    t2 = max(x2 - c * df, x2_b - c_b * df_b, 0.0)
    return 1.0 if np.isclose(t1, 0) and np.isclose(t2, 0) else 1 - t1 / t2


def _tli(x2, df, x2_b, df_b, c=1.0, c_b=1.0) -> float:
    t1, t2 = (x2 - c * df) * df_b, (x2_b - c_b * df_b) * df
    return 1 - t1 / t2 if df > 0 and abs(t2) > 0 else 1.0


def _rmsea(x2, df, n, c=1.0, groups=1) -> float:
    return float(np.sqrt(max(x2 / n / df - c / n, 0.0)) * np.sqrt(groups)) if df > 0 else 0.0


def _robust_measures(chisq, df, n, c, chisq_b, df_b, c_b, x3=None, x3_b=None, c3=None,
                     c3_b=None, trace=None, groups=1) -> dict:
    """lavaan's scaled and robust CFI, TLI and RMSEA (see the module notes)."""
    x3 = chisq if x3 is None else x3
    x3_b = chisq_b if x3_b is None else x3_b
    c3 = c if c3 is None else c3
    c3_b = c_b if c3_b is None else c3_b
    scaled, scaled_b = chisq / c, chisq_b / c_b
    out = {"chisq_scaled": scaled, "df_scaled": float(df),
           "p_value_scaled": float(_st.chi2.sf(scaled, df)), "scaling_factor": c,
           "baseline_chisq_scaled": scaled_b, "baseline_scaling_factor": c_b,
           "cfi_scaled": _cfi(scaled, df, scaled_b, df_b),
           "tli_scaled": _tli(scaled, df, scaled_b, df_b),
           "cfi_robust": _cfi(x3, df, x3_b, df_b, c3, c3_b),
           "tli_robust": _tli(x3, df, x3_b, df_b, c3, c3_b),
           "rmsea_scaled": _rmsea(chisq, trace if trace is not None else c * df, n, 1.0, groups),
           "rmsea_robust": _rmsea(x3, df, n, c3, groups)}
    return out | _robust_ci(x3, df, n, c3, groups)


def _vcov(a: np.ndarray, b: np.ndarray | None, n: int, reasons: list[str]) -> np.ndarray:
    """``A^-1 / n`` (b None) or the sandwich ``A^-1 B A^-1 / n``; NaN, with a reason added,
    when the observed information is singular (an improper solution kept under "flag")."""
    try:
        a_inv = _inverse(a, "observed information matrix")
    except ConvergenceError as exc:
        reasons.append(str(exc))
        return np.full_like(a, np.nan)
    return a_inv / n if b is None else a_inv @ b @ a_inv / n


# ----------------------------------------------------------------------------------------------
# MLR on complete data: the ML fit with robust SEs and a scaled test
# ----------------------------------------------------------------------------------------------

def _complete_group(fit) -> _MomentGroup:
    """The ML fit's group as a likelihood with means fixed at the sample means (lavaan's MLR
    without a mean structure)."""
    base = fit._problem.groups[0]
    x = base.x
    means = [_MeanParam("nu", i, f"{v} ~1", -1, float(x[:, i].mean()))
             for i, v in enumerate(base.observed)]
    return _MomentGroup(base, x, means, (x.mean(axis=0), base.S))


def robustify(fit, ci: float = 0.95):
    """An ML fit on complete data turned into lavaan's MLR: the same estimates, sandwich SEs,
    the Yuan-Bentler scaled test and robust fit indices.

    Parameters
    ----------
    fit : SemFit
        From :func:`crqlab.models.sem.fit_sem` with ``estimator="ML"`` and listwise deletion.
    ci : float
        Level of the Wald intervals.

    Returns
    -------
    SemFit
        ``estimator="MLR"``; ``parameters`` with robust ``se, z, p_value, ci_low, ci_high``;
        ``fit_measures`` with ``chisq_scaled, p_value_scaled, scaling_factor,
        baseline_chisq_scaled, cfi_scaled, tli_scaled, cfi_robust, tli_robust, rmsea_scaled,
        rmsea_robust, rmsea_ci_low_robust, rmsea_ci_high_robust`` added.

    Notes
    -----
    Equals lavaan 0.6-14 ``estimator = "MLR"`` (``information = "observed"``, no mean
    structure) on HolzingerSwineford1939 and PoliticalDemocracy
    (``tests/models/test_likelihood.py``).
    """
    base = fit._problem.groups[0]
    if base.fixed_x:
        raise ValueError(f"estimator='MLR' does not support observed exogenous covariates "
                         f"{base.fixed_x} (lavaan's fixed.x); model them as latent "
                         "single-indicator factors or use estimator='ML'")
    grp = _complete_group(fit)
    problem = _sem._Problem([grp])
    theta = fit._theta
    a0 = _observed_information(problem, theta)
    scores = grp.scores(theta)
    b0 = scores.T @ scores / grp.n
    reasons = list(fit.reasons)
    vcov = _vcov(a0, b0, grp.n, reasons)
    if len(reasons) > len(fit.reasons):  # singular: no scaled test either
        _sem._enforce("raise" if fit.proper else "flag", fit.model.name, reasons)
        return replace(fit, _vcov=vcov, reasons=tuple(reasons), proper=False, estimator="MLR",
                       parameters=_sem._param_table(base, theta, vcov, None, ci))
    trace_h1 = _complete_h1_trace(grp.x, grp.mu_h1, grp.S)
    fm = fit.fit_measures
    c = _scaling(trace_h1, a0, b0, fm["df"])
    _, a_b, b_b = _independence(grp.patterns, grp.x, means=False)
    c_b = _scaling(trace_h1, a_b, b_b, fm["baseline_df"])
    measures = pd.concat([fm, pd.Series(_robust_measures(
        fm["chisq"], fm["df"], fm["n"], c, fm["baseline_chisq"], fm["baseline_df"], c_b,
        trace=c * fm["df"]))])
    base.sm.update_matrices(theta)
    params = _sem._param_table(base, theta, vcov, None, ci)
    notes = fit.notes + (_MLR_NOTE,)
    return replace(fit, parameters=params, fit_measures=measures, _vcov=vcov, notes=notes,
                   estimator="MLR")


_MLR_NOTE = ("MLR: robust (Huber-White sandwich) standard errors and the Yuan-Bentler scaled "
             "chi-square (lavaan's estimator = 'MLR'); the estimates are the ML ones")


# ----------------------------------------------------------------------------------------------
# FIML
# ----------------------------------------------------------------------------------------------

def _exact_moments_frame(mu, sigma, n: int, columns) -> pd.DataFrame:
    """n rows whose mean and covariance (divisor n) are exactly ``mu`` and ``sigma``: semopy
    takes its starting values from data, and the EM moments stand in for incomplete rows."""
    rng = np.random.default_rng(0)
    z = rng.standard_normal((n, len(mu)))
    z -= z.mean(axis=0)
    z = z @ np.linalg.inv(np.linalg.cholesky(z.T @ z / n)).T
    return pd.DataFrame(mu + z @ np.linalg.cholesky(sigma).T, columns=columns)


def _fiml_attempts(problem, theta0, seed: int, max_iter: int, check):
    """Fisher scoring from the two-stage start, then L-BFGS-B from simple starts, then a
    jittered start; stops at the first proper solution."""
    rng = np.random.default_rng(seed)
    plan = [("fisher", "two-stage", lambda: theta0),
            ("l-bfgs-b", "simple", lambda: _sem._scipy_solve(
                problem, _sem._simple_start(problem), "L-BFGS-B", max_iter)),
            ("fisher", "jittered", lambda: theta0 * np.exp(rng.normal(0, 0.3, theta0.size))
             + rng.normal(0, 0.05, theta0.size))]
    attempts = []
    for solver, start, make in plan:
        try:
            theta, f, ok, its, msg = _sem._fisher_scoring(problem, make(), max_iter)
        except (np.linalg.LinAlgError, ValueError, FloatingPointError, ZeroDivisionError) as exc:
            attempts.append(_sem._Attempt(solver, start, theta0, np.inf, False, 0, str(exc)))
            continue
        att = _sem._Attempt(solver, start, theta, f, ok, its, msg)
        if ok:
            att.reasons = tuple(check(theta))
        attempts.append(att)
        if ok and not att.reasons:
            break
    return attempts


def _two_stage(base, seed: int, max_iter: int) -> np.ndarray:
    """ML estimates on the EM moments (crqlab.models.sem's attempts), the FIML start."""
    ml = _sem._Problem([base])
    attempts = _sem._optimise(ml, seed=seed, max_iter=max_iter, check=lambda th: [])
    chosen = _sem._choose(attempts)
    return chosen.theta if np.isfinite(chosen.fmin) else base.start


def _check_group(problem, grp: _MomentGroup, theta, std_limit) -> list[str]:
    reasons = _sem._improper_reasons(grp.base, theta[:grp.kc], std_limit)
    _, _, h = problem.evaluate(theta, False, True)
    ev = np.linalg.eigvalsh(h) if h is not None else np.array([0.0])
    if ev.min() <= 1e-10 * max(ev.max(), 1.0):
        reasons.append("information matrix is singular: the model is not identified by these "
                       "data")
    return reasons


def _mean_rows(grp: _MomentGroup, theta, vcov, ci: float) -> pd.DataFrame:
    """Parameter-table rows ``lhs ~1`` of the intercepts and means, lavaan's layout."""
    _, _, total = _sem._variances(grp.base)
    q = z_crit(ci)
    rows = []
    for mp in grp.mean_params:
        free = mp.free >= 0
        pos = grp.kc + mp.free
        est = float(theta[pos]) if free else mp.value
        se = float(np.sqrt(vcov[pos, pos])) if free else np.nan
        lhs = mp.name.split()[0]
        rows.append({"lhs": lhs, "op": "~1", "rhs": "", "label": "",
                     "free": pos + 1 if free else 0, "est": est, "se": se,
                     "z": est / se if free else np.nan,
                     "p_value": 2 * _st.norm.sf(abs(est / se)) if free else np.nan,
                     "ci_low": est - q * se, "ci_high": est + q * se,
                     "std_all": est / np.sqrt(total[lhs])})
    return pd.DataFrame(rows)


def _fiml_data(syntax: str, data: pd.DataFrame):
    observed = list(_sem._semopy_model(syntax).vars["observed"])
    absent = [c for c in observed if c not in data.columns]
    if absent:
        raise InsufficientDataError(f"the model's variables {absent} are not in the data "
                                    f"(n = {len(data)})")
    num = pd.DataFrame({c: _sem._to_float(data[c]) for c in observed}, index=data.index)
    keep = num.notna().any(axis=1)
    x = num[keep].to_numpy()
    if len(x) <= len(observed):
        raise InsufficientDataError(f"{len(x)} rows with any answer for {len(observed)} "
                                    f"observed variables: too few to fit the model "
                                    f"(n = {len(x)})")
    return observed, x, keep


def _fiml_group(syntax: str, data: pd.DataFrame):
    observed, x, keep = _fiml_data(syntax, data)
    mu, sigma, _ = em_moments(x)
    base = _sem._Group(syntax, _exact_moments_frame(mu, sigma, len(x), observed))
    if base.fixed_x:
        raise ValueError(f"missing='fiml' does not support observed exogenous covariates "
                         f"{base.fixed_x} (lavaan's fixed.x); model them as latent "
                         "single-indicator factors or use missing='listwise'")
    return _MomentGroup(base, x, _default_means(base), (mu, sigma)), keep


def _default_means(base) -> list[_MeanParam]:
    """Free intercepts of the observed variables, latent means fixed at 0 (lavaan's default)."""
    means = [_MeanParam("nu", i, f"{v} ~1", i) for i, v in enumerate(base.observed)]
    inner, latent = base.sm.vars["inner"], set(base.sm.vars["latent"])
    means += [_MeanParam("alpha", j, f"{v} ~1", -1) for j, v in enumerate(inner) if v in latent]
    return means


def _fiml_measures(grp: _MomentGroup, theta, fmin: float) -> dict:
    """lavaan's fit measures under FIML (mean structure; h1 from EM)."""
    n, p, k = grp.n, len(grp.observed), grp.k
    chisq = n * fmin
    df = p * (p + 1) // 2 + p - k
    minus2_b, _, _ = _independence(grp.patterns, grp.x, means=True)
    chisq_b = minus2_b - grp.f_h1
    df_b = p * (p - 1) // 2
    logl, logl_h1 = -(grp.f_h1 + chisq) / 2, -grp.f_h1 / 2
    mu, sigma = grp.mu_sigma(theta)
    sd = np.sqrt(np.diag(grp.S))
    res_cov = ((grp.S - sigma) / np.outer(sd, sd))[np.tril_indices(p)]
    res_mean = (grp.mu_h1 - mu) / sd
    srmr = np.sqrt((np.sum(res_cov ** 2) + np.sum(res_mean ** 2)) / (res_cov.size + p))
    out = {"chisq": chisq, "df": float(df),
           "p_value": float(_st.chi2.sf(chisq, df)) if df > 0 else np.nan,
           "cfi": _cfi(chisq, df, chisq_b, df_b), "tli": _tli(chisq, df, chisq_b, df_b),
           "rmsea": _rmsea(chisq, df, n)}
    lo, hi = _sem._rmsea_ci(chisq, df, n)
    out |= {"rmsea_ci_low": lo, "rmsea_ci_high": hi,
            "rmsea_p_close": float(_st.ncx2.sf(chisq, df, n * df * 0.05 ** 2)) if df > 0
            else np.nan,
            "srmr": float(srmr), "aic": -2 * logl + 2 * k, "bic": -2 * logl + k * np.log(n),
            "logl": logl, "unrestricted_logl": logl_h1, "npar": float(k),
            "baseline_chisq": chisq_b, "baseline_df": float(df_b), "n": float(n)}
    return out


def fit_fiml(sem_model, data: pd.DataFrame, *, estimator: str, on_improper: str, ci: float,
             seed: int, max_iter: int, std_limit: float):
    """Fit by full-information ML over the missing-data patterns (lavaan's
    ``missing = "ml"``), with ML or MLR standard errors and tests.

    Called by :func:`crqlab.models.sem.fit_sem` for ``missing="fiml"``; see there for the
    parameters. Rows with no answer at all are dropped (``n_dropped``), as in lavaan.

    Notes
    -----
    Starts from the two-stage estimates (ML on the EM covariance) and the EM means. Validated
    against lavaan 0.6-14 ``missing = "fiml"`` (ML and MLR) on psych's bfi items
    (``tests/models/test_likelihood.py``).
    """
    syntax, added = _sem._lavaan_auto_cov(sem_model.syntax)
    grp, keep = _fiml_group(syntax, data)
    p = len(grp.observed)
    df = p * (p + 1) // 2 + p - grp.k
    if df < 0:
        raise ConvergenceError(f"model {sem_model.name!r} is not identified: {grp.k} free "
                               f"parameters for {df + grp.k} sample moments (df = {df})")
    two_stage = _two_stage(grp.base, seed, max_iter)
    problem = _MomentProblem([grp])
    theta0 = np.concatenate([two_stage, grp.start[grp.kc:]])
    attempts = _fiml_attempts(problem, theta0, seed, max_iter,
                              lambda th: _check_group(problem, grp, th, std_limit))
    chosen = _sem._choose(attempts)
    converged, reasons = _sem._verdict(chosen)
    _sem._enforce(on_improper, sem_model.name, reasons)
    theta = chosen.theta
    try:
        a0 = _observed_information(problem, theta)
    except ConvergenceError as exc:  # not finite next to a flagged, non-converged solution
        reasons.append(str(exc))
        a0 = np.full((grp.k, grp.k), np.nan)
    measures = _fiml_measures(grp, theta, chosen.fmin)
    notes = tuple(sem_model.notes) + (_FIML_NOTE,)
    if added:
        notes += ("free residual covariances among terminal endogenous variables, as lavaan's "
                  "sem() (auto.cov.y): " + ", ".join(added),)
    b0 = None
    if estimator == "MLR":
        scores = grp.scores(theta)
        b0 = scores.T @ scores / grp.n
        notes += (_MLR_NOTE,)
    vcov = _vcov(a0, b0, grp.n, reasons)
    _sem._enforce(on_improper, sem_model.name, reasons)
    if np.isfinite(vcov).all():
        measures |= _fiml_robust(grp, theta, a0, b0, measures, scaled=estimator == "MLR")
    grp.base.sm.update_matrices(theta[:grp.kc])
    params = _sem._param_table(grp.base, theta[:grp.kc], vcov[:grp.kc, :grp.kc], None, ci)
    params = pd.concat([params, _mean_rows(grp, theta, vcov, ci)], ignore_index=True)
    grp.base.sm.update_matrices(theta[:grp.kc])
    return _sem.SemFit(model=sem_model, parameters=params, fit_measures=pd.Series(measures),
                       r_squared=_sem._r_squared(grp.base, params), n=grp.n,
                       n_dropped=int((~keep).sum()), converged=converged, proper=not reasons,
                       reasons=tuple(reasons), attempts=_sem._attempts_frame(attempts),
                       notes=notes, data=data.loc[keep], _problem=problem, _theta=theta,
                       _vcov=vcov, estimator=estimator, missing="fiml")


_FIML_NOTE = ("missing answers handled by full-information maximum likelihood (FIML, lavaan's "
              "missing = 'ml'): every row with at least one answer contributes its observed "
              "values; valid when answers are missing at random given the observed ones")


def _fiml_robust(grp: _MomentGroup, theta, a0, b0, measures: dict, scaled: bool) -> dict:
    """Scaled test (yuan.bentler.mplus) and robust indices under FIML.

    The robust CFI, TLI and RMSEA are lavaan's FIML-corrected ones (``lav_fit_fiml_corrected``,
    Zhang & Savalei 2023): the model and the baseline are evaluated at their FIML estimates on
    the EM moments as if complete (``XX3``), with a correction ``c3 = k / df`` from the
    observed (``Wm``) and first-order (``Jm``) saturated information under missingness and
    the complete-data information at the EM moments (``Wc``); version V3 with a scaled test
    (MLR), V6 without (ML).
    """
    p, n = len(grp.observed), grp.n
    if measures["df"] <= 0:  # saturated: nothing to correct
        return {}
    mu1, s1 = grp.mu_h1, grp.S
    wm, jm = _h1_information(grp.patterns, grp.x, mu1, s1, means=True)
    wm_inv = _inverse(wm, "saturated information")
    complete = [_Pattern(np.arange(p), np.arange(0), n, mu1, s1)]
    wc = 0.5 * _saturated_derivatives(complete, mu1, s1)[0]
    gamma = wm_inv @ jm @ wm_inv
    df, df_b = measures["df"], measures["baseline_df"]

    def correction(dlt):  # lavaan evaluates the information here as Delta' Wm Delta
        info = _inverse(dlt.T @ wm @ dlt, "observed information")
        u = wm - wm @ dlt @ info @ dlt.T @ wm
        if scaled:  # V3
            return float(np.trace(u @ wm_inv @ wc @ wm_inv @ u @ gamma))
        return float(np.trace(wc @ wm_inv @ u @ wm_inv))  # V6

    mu, sigma = grp.mu_sigma(theta)
    x3 = n * _complete_discrepancy(mu1, s1, mu, sigma)
    c3 = correction(grp.delta(theta)) / df
    mu_b = np.nanmean(grp.x, axis=0)
    var_b = np.nanmean((grp.x - mu_b) ** 2, axis=0)
    x3_b = n * _complete_discrepancy(mu1, s1, mu_b, np.diag(var_b))
    rows, cols = np.tril_indices(p)
    delta_b = np.zeros((p + len(rows), 2 * p))
    delta_b[np.arange(p), np.arange(p)] = 1.0
    delta_b[p + np.flatnonzero(rows == cols), p + np.arange(p)] = 1.0
    c3_b = correction(delta_b) / df_b
    if not scaled:
        return {"cfi_robust": _cfi(x3, df, x3_b, df_b, c3, c3_b),
                "tli_robust": _tli(x3, df, x3_b, df_b, c3, c3_b),
                "rmsea_robust": _rmsea(x3, df, n, c3)} | _robust_ci(x3, df, n, c3)
    a1_trace = float(np.sum(jm * wm_inv.T))
    c = _scaling(a1_trace, a0, b0, df)
    _, a_b, b_b = _independence(grp.patterns, grp.x, means=True)
    c_b = _scaling(a1_trace, a_b, b_b, df_b)
    return _robust_measures(measures["chisq"], df, n, c, measures["baseline_chisq"], df_b, c_b,
                            x3=x3, x3_b=x3_b, c3=c3, c3_b=c3_b, trace=c * df)


def _complete_discrepancy(mean, cov, mu, sigma) -> float:
    """F_ML with a mean structure for complete data with moments ``mean, cov``."""
    p = len(mean)
    inv = np.linalg.inv(sigma)
    d = mean - mu
    return float(np.linalg.slogdet(sigma)[1] + np.sum(inv * cov) + d @ inv @ d
                 - np.linalg.slogdet(cov)[1] - p)


def _robust_ci(x3, df, n, c3, groups=1) -> dict:
    lo, hi = _sem._rmsea_ci(x3 / c3, df, n)
    return {"rmsea_ci_low_robust": float(np.sqrt(c3) * lo * np.sqrt(groups)),
            "rmsea_ci_high_robust": float(np.sqrt(c3) * hi * np.sqrt(groups))}

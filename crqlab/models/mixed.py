"""Random-intercept linear mixed models, fitted with every convergence failure caught.

``y = X b + u_group + e``, ``u ~ N(0, var_group)``, ``e ~ N(0, var_residual)``: the model of
:func:`crqlab.models.bias.clustered_effects` (``method="mixed"``) and
:func:`crqlab.models.association.within_between`. Both fit it through
:func:`fit_random_intercept`, which never returns a wrong fit silently:

* statsmodels' ``MixedLM`` is tried with the optimisers ``lbfgs``, ``bfgs``, ``powell`` and
  ``nm`` in turn; a ``ConvergenceWarning`` is an error (the next optimiser is tried), and so are
  a fit that says it did not converge, a log-likelihood that is not finite and standard errors
  that are not finite;
* each fit is checked against the profiled (restricted) log-likelihood, a function of the one
  variance ratio ``var_group / var_residual`` that is maximised here by a bounded scalar
  search: a fit whose log-likelihood falls short of that maximum is refused (statsmodels'
  ``lbfgs`` can report convergence at a point far from the optimum);
* when the maximum lies on the boundary (``var_group = 0``, where statsmodels warns on every
  optimiser), the boundary solution is returned from the profile and flagged
  (``boundary = True``), as lme4 does (``isSingular``);
* if nothing passes, :class:`~crqlab.errors.ConvergenceError` lists what each optimiser did.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar

from crqlab.errors import ConvergenceError, InsufficientDataError

__all__ = ["MixedFit", "fit_random_intercept", "profile_loglik", "OPTIMISERS",
           "SINGULAR_TOL"]

#: statsmodels optimisers tried in turn.
OPTIMISERS = ("lbfgs", "bfgs", "powell", "nm")
#: A fit is singular (on the boundary) when sqrt(var_group / var_residual) is below this
#: (lme4's ``isSingular`` default tolerance on the relative standard deviation).
SINGULAR_TOL = 1e-4
# How far a fit's log-likelihood may fall short of the profiled maximum (log-likelihood units)
_LLF_TOL = 1e-3
# Upper bound of the relative standard deviation searched by the profile (sd_group/sd_resid)
_THETA_MAX = 1e3


@dataclass(frozen=True)
class MixedFit:
    """A random-intercept fit.

    Attributes
    ----------
    fe_params : ndarray
        Fixed effects, in the order of the design's columns.
    cov_fe : ndarray
        Their covariance ``(X' V^-1 X)^-1`` at the estimated variances (lme4's ``vcov``).
    var_group, var_residual : float
        Variance of the group intercepts and of the residual.
    loglik : float
        Log-likelihood (restricted under REML), on lme4's scale.
    reml : bool
    boundary : bool
        ``var_group`` is on the boundary of the parameter space (a singular fit): the data
        show no between-group variance, and the fixed effects are those of ordinary least
        squares.
    optimiser : str
        The statsmodels optimiser whose fit was accepted, or ``"profile"`` (boundary
        solution from the profiled likelihood).
    attempts : tuple of str
        What happened to each optimiser tried before the accepted one.
    n, n_groups : int
    """

    fe_params: np.ndarray
    cov_fe: np.ndarray
    var_group: float
    var_residual: float
    loglik: float
    reml: bool
    boundary: bool
    optimiser: str
    attempts: tuple
    n: int
    n_groups: int

    @property
    def se(self) -> np.ndarray:
        """Standard errors of the fixed effects."""
        return np.sqrt(np.diag(self.cov_fe))

    @property
    def icc(self) -> float:
        """Intra-class correlation ``var_group / (var_group + var_residual)``."""
        return self.var_group / (self.var_group + self.var_residual)


class _Profile:
    """The profiled (RE)ML log-likelihood of a random-intercept model as a function of
    ``theta = sd_group / sd_residual``, with group sums precomputed."""

    def __init__(self, y: np.ndarray, X: np.ndarray, codes: np.ndarray, reml: bool):
        self.y, self.X, self.codes, self.reml = y, X, codes, reml
        self.n_g = np.bincount(codes).astype(float)
        G = self.n_g.size
        self.Xs = np.zeros((G, X.shape[1]))
        np.add.at(self.Xs, codes, X)
        self.ys = np.bincount(codes, weights=y, minlength=G)
        self.XtX, self.Xty, self.yty = X.T @ X, X.T @ y, float(y @ y)

    def solve(self, theta: float) -> tuple[float, np.ndarray, float, np.ndarray]:
        """Profiled log-likelihood, fixed effects, residual variance and ``X' W X``."""
        r = theta * theta
        c = r / (1 + self.n_g * r)                    # V_g^-1 = (I - c_g 11') / sigma2
        A = self.XtX - (self.Xs * c[:, None]).T @ self.Xs
        b_vec = self.Xty - (self.Xs * c[:, None]).T @ self.ys
        beta = np.linalg.solve(A, b_vec)
        rss = self.yty - np.sum(c * self.ys**2) - beta @ b_vec
        N, p = len(self.y), self.X.shape[1]
        dof = N - p if self.reml else N
        sigma2 = rss / dof
        logdet = float(np.sum(np.log1p(self.n_g * r)))
        # -2 llf = dof log(2 pi sigma2) + log|V_r| + dof [+ log|X' V_r^-1 X| under REML]
        llf = -0.5 * (dof * np.log(2 * np.pi * sigma2) + logdet + dof)
        if self.reml:
            llf -= 0.5 * np.linalg.slogdet(A)[1]
        return float(llf), beta, float(sigma2), A

    def maximum(self) -> tuple[float, float]:
        """``(theta, loglik)`` at the maximum over ``[0, _THETA_MAX]``: the best point of a
        log-spaced grid (with the boundary theta = 0, which a bounded search never lands on),
        refined by a bounded scalar search between its neighbours."""
        grid = np.concatenate([[0.0], np.geomspace(1e-4, _THETA_MAX, 50)])
        values = np.array([self.solve(float(t))[0] for t in grid])
        i = int(np.argmax(values))
        lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, grid.size - 1)]
        res = minimize_scalar(lambda t: -self.solve(t)[0], bounds=(lo, hi), method="bounded",
                              options={"xatol": 1e-12})
        if -res.fun > values[i]:
            return float(res.x), -float(res.fun)
        return float(grid[i]), float(values[i])


def profile_loglik(y, X, groups, theta: float, reml: bool = True) -> float:
    """Profiled log-likelihood of a random-intercept model at ``theta = sd_group / sd_resid``.

    Parameters
    ----------
    y : array-like, shape (n,)
    X : array-like, shape (n, p)
        Fixed-effects design (with an intercept column).
    groups : array-like, shape (n,)
        Group labels.
    theta : float
        Relative standard deviation of the group intercepts (>= 0).
    reml : bool
        Restricted (REML) or full maximum likelihood.

    Notes
    -----
    Closed-form GLS for a compound-symmetric covariance (``V_g^-1 = (I - c_g 11') / sigma2``,
    ``c_g = r / (1 + n_g r)``, ``r = theta^2``). At the optimum it equals lme4's
    ``logLik(lmer(...))`` (``tests/models/test_mixed.py``).
    """
    y, X, codes = _arrays(y, X, groups)
    return _Profile(y, X, codes, reml).solve(float(theta))[0]


def _arrays(y, X, groups) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    import pandas as pd

    y = np.asarray(y, dtype=float)
    X = np.asarray(X, dtype=float)
    codes = pd.factorize(np.asarray(groups), sort=True)[0]
    if X.ndim != 2 or len(y) != len(X) or len(codes) != len(y):
        raise ValueError(f"y ({len(y)}), X ({X.shape}) and groups ({len(codes)}) must align")
    if not (np.all(np.isfinite(y)) and np.all(np.isfinite(X))) or (codes < 0).any():
        raise ValueError("y, X and groups must be complete (no missing or infinite values)")
    return y, X, codes


def _statsmodels_fit(y, X, codes, reml: bool, method: str):
    """One guarded statsmodels fit; returns (fit or None, what happened)."""
    from statsmodels.regression.mixed_linear_model import MixedLM
    from statsmodels.tools.sm_exceptions import ConvergenceWarning, SingularMatrixWarning

    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        # raised while the optimiser probes a zero variance; the final fit is checked below
        warnings.simplefilter("ignore", SingularMatrixWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            fit = MixedLM(y, X, groups=codes).fit(reml=reml, method=method)
        except (ConvergenceWarning, np.linalg.LinAlgError, ValueError) as exc:
            return None, f"{method}: {type(exc).__name__}: {str(exc).splitlines()[0]}"
    if not fit.converged:
        return None, f"{method}: did not converge"
    if not np.isfinite(fit.llf):
        return None, f"{method}: log-likelihood is not finite ({fit.llf})"
    if not np.all(np.isfinite(np.asarray(fit.bse_fe))):
        return None, f"{method}: standard errors are not finite"
    return fit, f"{method}: ok"


def fit_random_intercept(y, X, groups, reml: bool = True,
                         optimisers: tuple = OPTIMISERS) -> MixedFit:
    """Fit ``y ~ X + (1 | groups)`` by (RE)ML and refuse any fit that is not the optimum.

    Parameters
    ----------
    y : array-like, shape (n,)
        Outcome.
    X : array-like, shape (n, p)
        Fixed-effects design, with an intercept column; full column rank.
    groups : array-like, shape (n,)
        Cluster labels (accounts, schools).
    reml : bool
        Restricted maximum likelihood (default, as lme4) or ML.
    optimisers : tuple of str
        statsmodels optimisers tried in turn.

    Returns
    -------
    MixedFit

    Raises
    ------
    InsufficientDataError
        Fewer than 3 groups, no group with repeated rows, or a rank-deficient design.
    ConvergenceError
        No optimiser reached the profiled maximum and the maximum is not on the boundary.

    Notes
    -----
    Validated against R ``lme4::lmer`` on the High School and Beyond data (mlmRev ``Hsb82``,
    7185 students in 160 schools; ``tests/results/mixed/make_mixed.R``): fixed effects,
    standard errors, both variance components and the log-likelihood under REML and ML, and a
    singular fit (random pseudo-schools) that lme4 puts on the boundary. On these data
    statsmodels' ``lbfgs`` alone reports convergence with an infinite log-likelihood, a zero
    intercept and a zero school variance; the guard refuses it and ``bfgs`` reaches lme4's
    optimum (``tests/models/test_mixed.py``).
    """
    y, X, codes = _arrays(y, X, groups)
    n, p = X.shape
    G = int(codes.max()) + 1 if n else 0
    if G < 3 or n - G < 1:
        raise InsufficientDataError(f"a random-intercept model needs 3+ groups and a group "
                                    f"with repeated rows (n={n}, n_groups={G})")
    if np.linalg.matrix_rank(X) < p:
        raise InsufficientDataError(f"design is rank deficient (n={n}, {p} columns): a term "
                                    f"does not vary")
    prof = _Profile(y, X, codes, reml)
    theta_max, llf_max = prof.maximum()
    attempts: list[str] = []
    for method in optimisers:
        fit, what = _statsmodels_fit(y, X, codes, reml, method)
        if fit is not None and fit.llf < llf_max - _LLF_TOL:
            fit, what = None, (f"{method}: stopped short of the optimum (log-likelihood "
                               f"{fit.llf:.4f} < {llf_max:.4f})")
        if fit is None:
            attempts.append(what)
            continue
        var_g, var_r = float(np.asarray(fit.cov_re)[0, 0]), float(fit.scale)
        beta = np.asarray(fit.fe_params, dtype=float)
        return _result(prof, beta, var_g, var_r, float(fit.llf), reml, method, attempts, G)
    if theta_max < SINGULAR_TOL:
        llf, beta, sigma2, _ = prof.solve(0.0)
        attempts.append("profile: maximum on the boundary (var_group = 0)")
        return _result(prof, beta, 0.0, sigma2, llf, reml, "profile", attempts, G)
    raise ConvergenceError("random-intercept model did not converge: " + "; ".join(attempts))


def _result(prof: _Profile, beta, var_g, var_r, llf, reml, method, attempts, G) -> MixedFit:
    theta = np.sqrt(max(var_g, 0.0) / var_r)
    _, _, _, A = prof.solve(theta)
    return MixedFit(fe_params=beta, cov_fe=np.linalg.inv(A) * var_r, var_group=max(var_g, 0.0),
                    var_residual=var_r, loglik=llf, reml=reml,
                    boundary=bool(theta < SINGULAR_TOL), optimiser=method,
                    attempts=tuple(attempts), n=len(prof.y), n_groups=G)

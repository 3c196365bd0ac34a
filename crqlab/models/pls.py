"""PLS path modelling (PLS-SEM) with bootstrap intervals, HTMT, f2, Q2predict and IPMA.

A composite model: each construct is a weighted sum of its indicators (``blocks``), the
constructs are linked by directed paths. The estimator is Lohmoeller's PLS algorithm as
SmartPLS and R seminr run it:

1. indicators standardised; every outer weight starts at 1;
2. inner proxies from the construct scores by the *path weighting* scheme (regression
   coefficients on predecessors, correlations with successors; ``"centroid"``: signs of the
   correlations with adjacent constructs; ``"factorial"``: those correlations);
3. outer weights by **Mode A** (correlations of the indicators with the inner proxy,
   reflective-style) or **Mode B** (multiple regression of the proxy on the indicators,
   formative-style); scores rescaled to unit variance;
4. repeat 2-3 until the weights change by less than ``tol``; then paths by OLS of each
   endogenous construct on its predecessors, loadings as indicator-score correlations.

Every standardised quantity depends on the data only through the indicator correlation
matrix, so the estimator runs on that matrix, and a bootstrap resample needs only its
weighted covariance (frequency weights = how often each account was drawn): 5,000
account-cluster resamples on N = 1,000 take seconds, not minutes (``benchmarks/``).

Beside the standardised estimates: HTMT (Henseler, Ringle & Sarstedt 2015) with bootstrap
intervals, R2, Cohen's f2 (R2 with and without the predictor), Q2predict by k-fold PLSpredict at
construct level (Shmueli et al. 2016: holdout scores predicted from the exogenous constructs
through the model against the training-mean benchmark), and the importance-performance map
(IPMA, Ringle & Sarstedt 2016): indicators rescaled to 0-100 on their scale range,
*unstandardised* weights (standardised weight / indicator SD, normalised to sum 1) giving
0-100 construct performance, and unstandardised total effects on the target construct from
the rescaled scores as importance.

Notes
-----
Validated in ``tests/models/test_pls.py`` against (a) published seminr results: the corporate
reputation model of Hair et al.'s PLS-SEM primer (path coefficients, seminr's test fixture) and
seminr's ECSI ``mobi`` model fixtures (weights, loadings, paths, HTMT, AVE, rhoC, alpha, rhoA)
to 1e-8; (b) an independent base-R implementation (``tests/results/pls/make_pls.R``) on the
corporate reputation data for every quantity (including f2, Q2predict, IPMA and the unstandardised
paths) to 1e-7 or better; (c) planted truth: a simulated composite model whose population weights, paths,
R2 and IPMA are recovered, and bootstrap intervals that cover; (d) IPMA recomputed by hand on a
six-row example.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from crqlab.errors import ConvergenceError, CrqlabError, InsufficientDataError
from crqlab.stats import cluster_bootstrap_weights, htmt_matrix, z_crit

__all__ = ["PlsModel", "PlsFit", "fit_pls", "bootstrap_pls", "PlsBootstrap", "htmt",
           "q2_predict", "ipma", "IPMA_QUADRANTS", "ipma_quadrant", "unstandardised"]

_SCHEMES = ("path", "centroid", "factorial")

#: Quadrant names of the importance-performance map (importance high/low x performance high/low).
IPMA_QUADRANTS = {
    (True, False): "concentrate here",
    (True, True): "keep up the good work",
    (False, False): "low priority",
    (False, True): "possible overkill",
}


@dataclass(frozen=True)
class PlsModel:
    """A PLS path model.

    Parameters
    ----------
    blocks : dict of str -> list of str
        Construct name -> its indicator columns (an indicator belongs to one block).
    paths : list of (str, str)
        Directed structural paths ``(from, to)``; the graph must be acyclic.
    modes : dict of str -> {"A", "B"}, optional
        Outer-weight mode per construct (default ``"A"``).
    """

    blocks: dict
    paths: tuple
    modes: dict = field(default_factory=dict)

    def __post_init__(self):
        blocks = {str(k): [str(i) for i in v] for k, v in dict(self.blocks).items()}
        if not blocks or any(len(v) == 0 for v in blocks.values()):
            raise CrqlabError("every construct of a PLS model needs at least one indicator")
        seen: dict = {}
        for c, items in blocks.items():
            for i in items:
                if i in seen:
                    raise CrqlabError(f"indicator {i!r} is in two blocks ({seen[i]!r} and {c!r})")
                seen[i] = c
        paths = tuple((str(a), str(b)) for a, b in self.paths)
        for a, b in paths:
            for c in (a, b):
                if c not in blocks:
                    raise CrqlabError(f"path {a!r} -> {b!r} names construct {c!r}, which has no block")
            if a == b:
                raise CrqlabError(f"path {a!r} -> {b!r} is a loop")
        modes = {c: str(dict(self.modes).get(c, "A")).upper() for c in blocks}
        for c, m in modes.items():
            if m not in ("A", "B"):
                raise CrqlabError(f"construct {c!r}: mode must be 'A' or 'B', got {m!r}")
        object.__setattr__(self, "blocks", blocks)
        object.__setattr__(self, "paths", paths)
        object.__setattr__(self, "modes", modes)
        b = self.path_matrix()
        reach = b.copy()
        for _ in range(len(blocks)):
            reach = ((reach + reach @ b) > 0).astype(float)
        if np.trace(reach) > 0:
            raise CrqlabError("the structural model of a PLS model must be acyclic")

    @property
    def constructs(self) -> list[str]:
        return list(self.blocks)

    @property
    def indicators(self) -> list[str]:
        return [i for items in self.blocks.values() for i in items]

    @property
    def endogenous(self) -> list[str]:
        targets = {b for _, b in self.paths}
        return [c for c in self.constructs if c in targets]

    @property
    def exogenous(self) -> list[str]:
        return [c for c in self.constructs if c not in set(self.endogenous)]

    def predecessors(self, c: str) -> list[str]:
        return [a for a, b in self.paths if b == c]

    def path_matrix(self) -> np.ndarray:
        """0/1 matrix ``B[i, j] = 1`` for a path from construct i to construct j."""
        idx = {c: k for k, c in enumerate(self.blocks)}
        b = np.zeros((len(idx), len(idx)))
        for a, t in self.paths:
            b[idx[a], idx[t]] = 1.0
        return b


@dataclass
class _Core:
    weights: np.ndarray        # (p, m) standardised outer weights (block-diagonal pattern)
    construct_cor: np.ndarray  # (m, m)
    loadings: np.ndarray       # (p, m) indicator-construct correlations
    paths: np.ndarray          # (m, m) standardised path coefficients B[from, to]
    r2: np.ndarray             # (m,) NaN for exogenous
    iterations: int


def _graph(model_b: np.ndarray) -> tuple:
    """Predecessors, successors and adjacency of each construct (computed once per fit)."""
    m = model_b.shape[0]
    pred = [np.flatnonzero(model_b[:, j]) for j in range(m)]
    succ = [np.flatnonzero(model_b[j, :]) for j in range(m)]
    return pred, succ, ((model_b + model_b.T) > 0).astype(float)


def _inner_weights(graph: tuple, c: np.ndarray, scheme: str) -> np.ndarray:
    pred, succ, adj = graph
    if scheme == "centroid":
        return np.sign(c) * adj
    if scheme == "factorial":
        return c * adj
    e = np.zeros_like(c)
    for j in range(c.shape[0]):
        pj = pred[j]
        if pj.size == 1:
            e[pj, j] = c[pj, j]          # one predecessor: its correlation (c[pj, pj] = 1)
        elif pj.size:
            e[pj, j] = np.linalg.solve(c[pj][:, pj], c[pj, j])
        e[succ[j], j] = c[succ[j], j]
    return e


def _structural(model_b: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    m = c.shape[0]
    paths = np.zeros((m, m))
    r2 = np.full(m, np.nan)
    for j in range(m):
        pred = np.flatnonzero(model_b[:, j])
        if pred.size:
            beta = np.linalg.solve(c[np.ix_(pred, pred)], c[pred, j])
            paths[pred, j] = beta
            r2[j] = float(beta @ c[pred, j])
    return paths, r2


def _pls_core(r: np.ndarray, block_idx: list[np.ndarray], modes: list[str], model_b: np.ndarray,
              scheme: str, max_iter: int, tol: float, w0: np.ndarray | None = None) -> _Core:
    """The PLS algorithm on an indicator correlation matrix ``r`` (``w0``: starting weights)."""
    p, m = r.shape[0], len(block_idx)
    mask = np.zeros((p, m))
    for j, idx in enumerate(block_idx):
        mask[idx, j] = 1.0
    w = mask.copy() if w0 is None else w0.copy()
    w = w / np.sqrt(np.einsum("pj,pq,qj->j", w, r, w))
    graph = _graph(model_b)
    # Mode B regresses the proxy on the block: the block's inverse correlation is fixed
    inv_b = {j: np.linalg.inv(r[np.ix_(idx, idx)]) for j, idx in enumerate(block_idx)
             if modes[j] == "B" and idx.size > 1}
    it = 0
    for it in range(1, max_iter + 1):
        c = w.T @ r @ w
        e = _inner_weights(graph, c, scheme)
        # covariance of each indicator with each inner proxy: r @ w @ e
        cov_xz = r @ (w @ e)
        w_new = cov_xz * mask
        for j, inv in inv_b.items():
            idx = block_idx[j]
            w_new[idx, j] = inv @ cov_xz[idx, j]
        var = np.einsum("pj,pq,qj->j", w_new, r, w_new)
        if np.any(~np.isfinite(var)) or np.any(var <= 0):
            raise ConvergenceError("PLS: a construct's inner proxy vanished (no correlation with "
                                   "its neighbours); the model cannot be estimated on these data")
        w_new = w_new / np.sqrt(var)
        delta = float(np.max(np.abs(w_new - w)))
        w = w_new
        if delta < tol:
            break
    else:
        raise ConvergenceError(f"PLS outer weights did not converge in {max_iter} iterations")
    c = w.T @ r @ w
    loadings = (r @ w) * mask
    paths, r2 = _structural(model_b, c)
    return _Core(w, c, loadings, paths, r2, it)


def _cov_to_cor(s: np.ndarray) -> np.ndarray:
    d = np.sqrt(np.diag(s))
    return s / np.outer(d, d)


def _total_effects(paths: np.ndarray) -> np.ndarray:
    m = paths.shape[0]
    return np.linalg.inv(np.eye(m) - paths) - np.eye(m)


def _f2(model_b: np.ndarray, c: np.ndarray, r2: np.ndarray) -> np.ndarray:
    m = c.shape[0]
    f2 = np.full((m, m), np.nan)
    for j in range(m):
        pred = np.flatnonzero(model_b[:, j])
        for k in pred:
            rest = pred[pred != k]
            r2_ex = float(c[rest, j] @ np.linalg.solve(c[np.ix_(rest, rest)], c[rest, j])) if rest.size else 0.0
            f2[k, j] = (r2[j] - r2_ex) / (1 - r2[j])
    return f2


def _weighted_moments(x: np.ndarray, freq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    tot = freq.sum()
    mean = freq @ x / tot
    xc = x - mean
    cov = (xc * freq[:, None]).T @ xc / (tot - 1)
    return mean, cov


@dataclass
class _Ipma:
    performance: np.ndarray   # (m,) 0-100
    importance: np.ndarray    # (m,) unstandardised total effect on the target
    paths_unstd: np.ndarray   # (m, m) unstandardised paths on 0-100 scores
    weights_rescaled: np.ndarray  # (p, m) unstandardised weights summing to 1 per block


def _ipma_core(mean: np.ndarray, cov: np.ndarray, w_std: np.ndarray, mask: np.ndarray,
               scale_min: np.ndarray, scale_max: np.ndarray, model_b: np.ndarray,
               target: int) -> _Ipma:
    sd = np.sqrt(np.diag(cov))
    w_u = (w_std / sd[:, None]) * mask
    sums = w_u.sum(axis=0)
    if np.any(np.abs(sums) < 1e-12):
        raise ConvergenceError("IPMA: a construct's unstandardised weights sum to zero")
    w_r = w_u / sums
    span = scale_max - scale_min
    mean_r = (mean - scale_min) / span * 100
    cov_r = cov / np.outer(span, span) * 100 ** 2
    perf = w_r.T @ mean_r
    c_u = w_r.T @ cov_r @ w_r
    paths_u, _ = _structural(model_b, c_u)
    tot = _total_effects(paths_u)
    return _Ipma(perf, tot[:, target], paths_u, w_r)


class PlsFit:
    """A fitted PLS path model (see :func:`fit_pls`).

    Attributes
    ----------
    model : PlsModel
    n : int
        Rows used.
    n_imputed : int
        Indicator cells filled by mean replacement.
    scheme : str
    iterations : int
    weights, loadings, paths, total_effects, r2, f2, htmt : DataFrame
        Tidy tables (``est`` and ``n``; intervals come from :func:`bootstrap_pls`).
    scores : DataFrame
        Standardised construct scores (one row per used respondent, original index).
    """

    def __init__(self, model: PlsModel, core: _Core, data: pd.DataFrame, x: np.ndarray,
                 scheme: str, n_imputed: int, cor: np.ndarray, mean: np.ndarray, cov: np.ndarray):
        self.model, self._core, self.scheme = model, core, scheme
        self.n, self.n_imputed, self.iterations = int(x.shape[0]), int(n_imputed), core.iterations
        self._x, self._index, self._cor, self._mean, self._cov = x, data.index, cor, mean, cov
        cons, inds = model.constructs, model.indicators
        owner = {i: c for c, items in model.blocks.items() for i in items}
        col = {c: k for k, c in enumerate(cons)}
        rows_w, rows_l = [], []
        for p_i, i in enumerate(inds):
            j = col[owner[i]]
            rows_w.append({"construct": owner[i], "indicator": i, "mode": model.modes[owner[i]],
                           "est": core.weights[p_i, j], "n": self.n})
            rows_l.append({"construct": owner[i], "indicator": i, "est": core.loadings[p_i, j], "n": self.n})
        self.weights = pd.DataFrame(rows_w)
        self.loadings = pd.DataFrame(rows_l)
        self.paths = pd.DataFrame([{"from": a, "to": b, "est": core.paths[col[a], col[b]], "n": self.n}
                                   for a, b in model.paths])
        tot = _total_effects(core.paths)
        reach = _total_effects(model.path_matrix())
        self.total_effects = pd.DataFrame([
            {"from": a, "to": b, "est": tot[col[a], col[b]], "n": self.n}
            for a in cons for b in cons if reach[col[a], col[b]] != 0])
        self.r2 = pd.DataFrame([{"construct": c, "est": core.r2[col[c]], "n": self.n}
                                for c in model.endogenous])
        f2 = _f2(model.path_matrix(), core.construct_cor, core.r2)
        self.f2 = pd.DataFrame([{"from": a, "to": b, "est": f2[col[a], col[b]], "n": self.n}
                                for a, b in model.paths])
        h = htmt_matrix(cor, _block_idx(model))
        self.htmt = pd.DataFrame([{"construct_a": cons[a], "construct_b": cons[b], "est": h[a, b], "n": self.n}
                                  for a in range(len(cons)) for b in range(a + 1, len(cons))])
        z = (x - x.mean(axis=0)) / x.std(axis=0, ddof=1)
        self.scores = pd.DataFrame(z @ core.weights, index=data.index, columns=cons)

    @property
    def construct_correlations(self) -> pd.DataFrame:
        cons = self.model.constructs
        return pd.DataFrame(self._core.construct_cor, index=cons, columns=cons)

    def reliability(self) -> pd.DataFrame:
        """Cronbach's alpha, composite reliability rhoC, rhoA (Dijkstra-Henseler) and AVE per construct.

        Notes
        -----
        As seminr's ``summary()$reliability`` (checked on its ``mobi`` fixture); single-item
        constructs get 1 for all four.
        """
        rows = []
        for j, (c, idx) in enumerate(zip(self.model.constructs, _block_idx(self.model))):
            lam = self._core.loadings[idx, j]
            k = idx.size
            if k == 1:
                rows.append({"construct": c, "alpha": 1.0, "rho_c": 1.0, "rho_a": 1.0, "ave": 1.0, "n": self.n})
                continue
            sub = self._cor[np.ix_(idx, idx)]
            alpha = k / (k - 1) * (1 - k / sub.sum())
            rho_c = lam.sum() ** 2 / (lam.sum() ** 2 + (1 - lam ** 2).sum())
            w = self._core.weights[idx, j]
            off = sub - np.diag(np.diag(sub))
            ww = np.outer(w, w)
            rho_a = (w @ w) ** 2 * (w @ off @ w) / (w @ (ww - np.diag(np.diag(ww))) @ w)
            rows.append({"construct": c, "alpha": alpha, "rho_c": rho_c, "rho_a": rho_a,
                         "ave": float(np.mean(lam ** 2)), "n": self.n})
        return pd.DataFrame(rows)


def _mask(model: PlsModel) -> np.ndarray:
    out = np.zeros((len(model.indicators), len(model.blocks)))
    for j, idx in enumerate(_block_idx(model)):
        out[idx, j] = 1.0
    return out


def _block_idx(model: PlsModel) -> list[np.ndarray]:
    pos = {i: k for k, i in enumerate(model.indicators)}
    return [np.array([pos[i] for i in items]) for items in model.blocks.values()]


def _prepare(model: PlsModel, data: pd.DataFrame, missing: str, where: str = "data"
             ) -> tuple[pd.DataFrame, np.ndarray, int]:
    if missing not in ("mean", "listwise"):
        raise CrqlabError(f"missing must be 'mean' or 'listwise', got {missing!r}")
    absent = [i for i in model.indicators if i not in data.columns]
    if absent:
        raise InsufficientDataError(f"{where}: PLS indicator column(s) missing: {absent}")
    frame = data[model.indicators]
    vals = {}
    for col in model.indicators:
        v = pd.to_numeric(frame[col], errors="coerce")
        bad = frame[col].notna() & v.isna()
        if bad.any():
            row = bad.idxmax()
            raise CrqlabError(f"{where}, column {col!r}, row {row!r}: not a number "
                              f"(value {frame[col].loc[row]!r})")
        vals[col] = v.astype(float)
    num = pd.DataFrame(vals, index=data.index)
    all_missing = num.isna().all(axis=1)
    num = num[~all_missing]
    if missing == "listwise":
        num = num.dropna()
        n_imp = 0
    else:
        n_imp = int(num.isna().sum().sum())
        num = num.fillna(num.mean())
    x = num.to_numpy(dtype=float)
    if x.shape[0] < len(model.indicators) + 2:
        raise InsufficientDataError(f"{where}: PLS needs more rows than indicators + 1 "
                                    f"({x.shape[0]} rows, {len(model.indicators)} indicators)")
    sd = x.std(axis=0, ddof=1)
    const = [c for c, s in zip(model.indicators, sd) if not np.isfinite(s) or s == 0]
    if const:
        raise InsufficientDataError(f"{where}: PLS indicator(s) without variance: {const}")
    return num, x, n_imp


def fit_pls(model: PlsModel, data: pd.DataFrame, *, scheme: str = "path", missing: str = "mean",
            max_iter: int = 300, tol: float = 1e-10) -> PlsFit:
    """Estimate a PLS path model.

    Parameters
    ----------
    model : PlsModel
    data : DataFrame
        One row per respondent with the indicator columns.
    scheme : {"path", "centroid", "factorial"}
        Inner weighting scheme (path weighting is SmartPLS's and seminr's default).
    missing : {"mean", "listwise"}
        Mean replacement of missing indicator values (seminr's and SmartPLS's default; rows with
        every indicator missing are dropped) or listwise deletion.
    max_iter, tol : int, float
        Iteration cap and the largest change of any outer weight that counts as converged.

    Returns
    -------
    PlsFit

    Raises
    ------
    InsufficientDataError
        Missing columns, too few rows, an indicator without variance.
    ConvergenceError
        No convergence, or an inner proxy without signal.

    Notes
    -----
    See the module docstring for the algorithm and what it was validated against.
    """
    if scheme not in _SCHEMES:
        raise CrqlabError(f"scheme must be one of {_SCHEMES}, got {scheme!r}")
    num, x, n_imp = _prepare(model, data, missing)
    mean, cov = _weighted_moments(x, np.ones(x.shape[0]))
    cor = _cov_to_cor(cov)
    modes = [model.modes[c] for c in model.constructs]
    try:
        core = _pls_core(cor, _block_idx(model), modes, model.path_matrix(), scheme, max_iter, tol)
    except np.linalg.LinAlgError as exc:
        raise ConvergenceError(f"PLS: singular correlation matrix ({exc})") from exc
    return PlsFit(model, core, num, x, scheme, n_imp, cor, mean, cov)


def htmt(fit: PlsFit) -> pd.DataFrame:
    """Heterotrait-monotrait ratio of correlations for every pair of constructs.

    Mean heterotrait indicator correlation over the geometric mean of the two mean monotrait
    correlations (Henseler, Ringle & Sarstedt 2015); a single-item construct's monotrait mean is 1.
    """
    return fit.htmt.copy()


def _scale_bounds(model: PlsModel, x: np.ndarray, scale) -> tuple[np.ndarray, np.ndarray]:
    inds = model.indicators
    if scale is None:
        return x.min(axis=0), x.max(axis=0)
    if isinstance(scale, tuple) and len(scale) == 2 and not isinstance(scale[0], (tuple, list)):
        lo, hi = float(scale[0]), float(scale[1])
        return np.full(len(inds), lo), np.full(len(inds), hi)
    lo = np.array([float(scale[i][0]) for i in inds])
    hi = np.array([float(scale[i][1]) for i in inds])
    return lo, hi


def ipma(fit: PlsFit, target: str, *, scale=None) -> pd.DataFrame:
    """Importance-performance map of the constructs that reach ``target``.

    Parameters
    ----------
    fit : PlsFit
    target : str
        Target construct (e.g. commitment).
    scale : (min, max) or dict of indicator -> (min, max), optional
        The answer scale used to rescale indicators to 0-100 (e.g. ``(1, 7)``); default the
        observed minimum and maximum of each indicator.

    Returns
    -------
    DataFrame
        ``construct, importance, performance, n``: importance is the unstandardised total effect
        on ``target`` of a one-point (0-100) rise in the construct; performance its mean 0-100
        score (Ringle & Sarstedt 2016).
    """
    model = fit.model
    if target not in model.constructs:
        raise CrqlabError(f"IPMA target {target!r} is not a construct of the model")
    lo, hi = _scale_bounds(model, fit._x, scale)
    if np.any(hi <= lo):
        raise CrqlabError("IPMA: every indicator needs a scale maximum above its minimum")
    t = model.constructs.index(target)
    res = _ipma_core(fit._mean, fit._cov, fit._core.weights, _mask(model), lo, hi,
                     model.path_matrix(), t)
    reach = _total_effects(model.path_matrix())[:, t]
    return pd.DataFrame([{"construct": c, "importance": res.importance[j], "performance": res.performance[j],
                          "n": fit.n} for j, c in enumerate(model.constructs) if reach[j] != 0])


def unstandardised(fit: PlsFit, *, scale=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Unstandardised outer weights and path coefficients on the 0-100 rescaled indicators.

    Parameters
    ----------
    fit : PlsFit
    scale : (min, max) or dict of indicator -> (min, max), optional
        As in :func:`ipma`.

    Returns
    -------
    weights : DataFrame
        ``construct, indicator, est, n``: standardised weight / indicator SD, normalised to sum
        1 per construct (a construct's 0-100 score is the weighted sum of its rescaled questions).
    paths : DataFrame
        ``from, to, est, n``: OLS coefficients between the 0-100 construct scores (points of the
        target per point of the predictor), as used by the importance-performance map.
    """
    model = fit.model
    lo, hi = _scale_bounds(model, fit._x, scale)
    res = _ipma_core(fit._mean, fit._cov, fit._core.weights, _mask(model), lo, hi,
                     model.path_matrix(), 0)
    col = {c: j for j, c in enumerate(model.constructs)}
    w = fit.weights[["construct", "indicator"]].copy()
    w["est"] = [res.weights_rescaled[model.indicators.index(i), col[c]]
                for c, i in zip(w["construct"], w["indicator"])]
    w["n"] = fit.n
    p = pd.DataFrame([{"from": a, "to": b, "est": res.paths_unstd[col[a], col[b]], "n": fit.n}
                      for a, b in model.paths])
    return w, p


def ipma_quadrant(importance: float, performance: float, mean_importance: float,
                  mean_performance: float) -> str:
    """The IPMA quadrant of one construct, split at the mean importance and mean performance.

    ``"concentrate here"`` (important, performing below average), ``"keep up the good work"``,
    ``"low priority"``, ``"possible overkill"`` (unimportant, performing above average).
    """
    return IPMA_QUADRANTS[(bool(importance >= mean_importance), bool(performance >= mean_performance))]


def q2_predict(fit: PlsFit, data: pd.DataFrame, *, k: int = 10, folds=None,
               ci: float = 0.95) -> pd.DataFrame:
    """Q2predict of every endogenous construct by k-fold PLSpredict at construct level.

    Each fold is held out in turn: the model is refitted on the rest, the holdout's exogenous
    construct scores (training weights, means and SDs) predict its endogenous scores through the
    reduced form (total effects), and the squared prediction errors are compared with those of the
    training mean: ``Q2 = 1 - SSE_model / SSE_mean``. Above 0 the model predicts better than the
    mean.

    Parameters
    ----------
    fit : PlsFit
    data : DataFrame
        The data the model was fitted on.
    k : int
        Number of folds (rows assigned in order ``row % k`` unless ``folds`` is given).
    folds : array-like, optional
        Fold label per used row (e.g. by account, so that an account is never split).
    ci : float
        Level of the interval: a grouped jackknife over the folds (each fold's prediction
        errors left out in turn) gives ``se``, and ``est -/+ z se`` the interval.

    Returns
    -------
    DataFrame
        ``construct, est, se, ci_low, ci_high, n, k``.
    """
    model = fit.model
    num, x, _ = _prepare(model, data, "mean" if fit.n_imputed else "listwise")
    n = x.shape[0]
    lab = np.arange(n) % k if folds is None else np.asarray(folds)
    if lab.shape[0] != n:
        raise CrqlabError("q2_predict: one fold label per used row is needed")
    exo = [model.constructs.index(c) for c in model.exogenous]
    endo = [model.constructs.index(c) for c in model.endogenous]
    labels = np.unique(lab)
    sse_m = np.zeros((len(labels), len(endo)))
    sse_0 = np.zeros((len(labels), len(endo)))
    modes = [model.modes[c] for c in model.constructs]
    for g, f in enumerate(labels):
        tr, te = lab != f, lab == f
        mean, cov = _weighted_moments(x[tr], np.ones(int(tr.sum())))
        core = _pls_core(_cov_to_cor(cov), _block_idx(model), modes, model.path_matrix(), fit.scheme,
                         300, 1e-10)
        sd = np.sqrt(np.diag(cov))
        y_tr = ((x[tr] - mean) / sd) @ core.weights
        y_te = ((x[te] - mean) / sd) @ core.weights
        tot = _total_effects(core.paths)
        pred = y_te[:, exo] @ tot[np.ix_(exo, endo)]
        sse_m[g] = ((y_te[:, endo] - pred) ** 2).sum(axis=0)
        sse_0[g] = ((y_te[:, endo] - y_tr[:, endo].mean(axis=0)) ** 2).sum(axis=0)
    est = 1 - sse_m.sum(axis=0) / sse_0.sum(axis=0)
    # grouped jackknife over folds (each fold's errors left out in turn): SE and normal interval
    k_f = len(labels)
    loo = 1 - (sse_m.sum(axis=0) - sse_m) / (sse_0.sum(axis=0) - sse_0)
    se = np.sqrt((k_f - 1) / k_f * ((loo - loo.mean(axis=0)) ** 2).sum(axis=0))
    z = z_crit(ci)
    return pd.DataFrame({"construct": model.endogenous, "est": est, "se": se, "ci_low": est - z * se,
                         "ci_high": est + z * se, "n": n, "k": k_f})


@dataclass
class PlsBootstrap:
    """Bootstrap intervals of a PLS fit (see :func:`bootstrap_pls`).

    Attributes
    ----------
    weights, loadings, paths, total_effects, r2, htmt, ipma : DataFrame
        The fit's tables with ``se`` (bootstrap SD), ``z`` (est / se), ``p_value`` (normal),
        percentile ``ci_low``, ``ci_high``; ``ipma`` has importance and performance intervals.
    n_boot : int
        Resamples requested; ``n_failed`` those that could not be estimated (left out).
    n_clusters : int
        Accounts resampled.
    draws : dict of str -> ndarray
        The resampled estimates (rows: resamples; columns: rows of the table of that name).
    """

    weights: pd.DataFrame
    loadings: pd.DataFrame
    paths: pd.DataFrame
    total_effects: pd.DataFrame
    r2: pd.DataFrame
    htmt: pd.DataFrame
    ipma: pd.DataFrame | None
    n_boot: int
    n_failed: int
    n_clusters: int
    ci: float
    draws: dict = field(default_factory=dict, repr=False)

    def difference(self, table: str, a: int, b: int) -> tuple[float, float]:
        """Percentile interval of ``row a - row b`` of a table (``"total_effects"``,
        ``"paths"``...), from the same resamples."""
        d = self.draws[table][:, a] - self.draws[table][:, b]
        lo = (1 - self.ci) / 2
        return float(np.nanquantile(d, lo)), float(np.nanquantile(d, 1 - lo))


def _summarise(table: pd.DataFrame, draws: np.ndarray, ci: float, est_col: str = "est",
               prefix: str = "") -> pd.DataFrame:
    out = table.copy()
    a = (1 - ci) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        se = np.nanstd(draws, axis=0, ddof=1)
        lo = np.nanquantile(draws, a, axis=0)
        hi = np.nanquantile(draws, 1 - a, axis=0)
        z = out[est_col].to_numpy(dtype=float) / se
    from scipy import stats as _st
    out[prefix + "se"] = se
    if not prefix:
        out["z"] = z
        out["p_value"] = 2 * _st.norm.sf(np.abs(z))
    out[prefix + "ci_low"] = lo
    out[prefix + "ci_high"] = hi
    return out


def _cluster_moments(codes: np.ndarray, k: int, x: np.ndarray, rows: int = 20_000):
    """Per-cluster respondent counts, sums and cross-product sums of the indicators.

    A resample weights each cluster by how often it was drawn, so its moments are weighted sums
    of these (k, ...) totals: memory grows with clusters x indicators^2, never with
    clusters x respondents (20,000 accounts x 378,000 answers would need 60 GB as a dense
    membership matrix).
    """
    from scipy import sparse

    n, p = x.shape
    member = sparse.csr_matrix((np.ones(n), (codes, np.arange(n))), shape=(k, n))
    count = np.asarray(member.sum(axis=1)).ravel()
    sx = member @ x
    sxx = np.zeros((k, p * p))
    for start in range(0, n, rows):
        part = x[start:start + rows]
        sxx += member[:, start:start + rows] @ np.einsum("ni,nj->nij", part, part).reshape(len(part), -1)
    return count, sx, sxx


def _boot_block(wblock: np.ndarray, spec: dict) -> tuple[dict, int]:
    """Estimates of one block of bootstrap resamples (rows of account draw counts)."""
    x, xx = spec["x"], spec["xx"]
    p = x.shape[1]
    res: dict = {key: [] for key in ("w", "l", "p", "t", "r", "h", "ii", "ip")}
    failed = 0
    tot = wblock @ spec["count"]                    # (m,) respondents drawn per resample
    mean = wblock @ x / tot[:, None]
    second = (wblock @ xx).reshape(-1, p, p)
    covs = (second - tot[:, None, None] * np.einsum("bi,bj->bij", mean, mean)) / (tot - 1)[:, None, None]
    ipm = spec["ipma"]
    for b in range(covs.shape[0]):
        try:
            with np.errstate(invalid="raise", divide="raise"):
                cor = _cov_to_cor(covs[b])
            core = _pls_core(cor, spec["bidx"], spec["modes"], spec["bm"], spec["scheme"], 300, 1e-8,
                             w0=spec["w0"])
            h = htmt_matrix(cor, spec["bidx"])
            tt = _total_effects(core.paths)
            if ipm is not None:
                mask, lo, hi, t, iidx = ipm
                ires = _ipma_core(mean[b], covs[b], core.weights, mask, lo, hi, spec["bm"], t)
        except (np.linalg.LinAlgError, ConvergenceError, FloatingPointError):
            failed += 1
            continue
        if not np.all(np.isfinite(core.weights)):
            failed += 1
            continue
        res["w"].append([core.weights[i, j] for i, j in spec["widx"]])
        res["l"].append([core.loadings[i, j] for i, j in spec["widx"]])
        res["p"].append([core.paths[i, j] for i, j in spec["pidx"]])
        res["t"].append([tt[i, j] for i, j in spec["tidx"]])
        res["r"].append([core.r2[j] for j in spec["ridx"]])
        res["h"].append([h[i, j] for i, j in spec["hidx"]])
        if ipm is not None:
            res["ii"].append([ires.importance[j] for j in iidx])
            res["ip"].append([ires.performance[j] for j in iidx])
    return res, failed


def bootstrap_pls(fit: PlsFit, data: pd.DataFrame, *, cluster=None, n_boot: int = 1000,
                  seed: int = 0, ci: float = 0.95, ipma_target: str | None = None,
                  ipma_scale=None, chunk: int = 500, jobs: int = 1) -> PlsBootstrap:
    """Percentile bootstrap intervals for every estimate, resampling whole accounts.

    Parameters
    ----------
    fit : PlsFit
    data : DataFrame
        The data the model was fitted on.
    cluster : str or array-like, optional
        Column (or labels) of the resampling unit, e.g. ``"account_id"``: respondents of one
        account share the account's relationship, so whole accounts are drawn. Default: each
        respondent is its own cluster.
    n_boot, seed, ci : int, int, float
        Resamples, seed (same seed -> same intervals), level.
    ipma_target, ipma_scale :
        Also bootstrap the IPMA on this target (see :func:`ipma`).
    chunk : int
        Resamples whose weighted moments are computed in one matrix product (one task).
    jobs : int
        Worker processes (:func:`crqlab.parallel.map_tasks`); the resamples are drawn before
        they are shared out, so the result does not depend on ``jobs``.

    Notes
    -----
    Each resample's iterations start from the full-sample weights (same fixed point, fewer
    iterations). A resample is the account-frequency-weighted covariance of the indicators, on which the
    PLS algorithm runs unchanged (each draw of an account counts its respondents that often);
    resamples where the algorithm fails are left out and counted (``n_failed``).
    Coverage on planted truth is checked in ``tests/models/test_pls.py``.
    """
    model = fit.model
    num, x, _ = _prepare(model, data, "mean" if fit.n_imputed else "listwise")
    if cluster is None:
        labels = np.arange(x.shape[0])
    elif isinstance(cluster, str):
        if cluster not in data.columns:
            raise CrqlabError(f"bootstrap_pls: cluster column {cluster!r} not in the data")
        labels = data.loc[num.index, cluster].to_numpy()
    else:
        labels = pd.Series(np.asarray(cluster), index=data.index).loc[num.index].to_numpy()
    codes, blocks = cluster_bootstrap_weights(labels, n_boot, seed=seed, chunk=chunk)
    k = int(codes.max()) + 1
    if k < 2:
        raise InsufficientDataError("bootstrap_pls needs at least two clusters")
    count, sx, sxx = _cluster_moments(codes, k, x)
    bidx = _block_idx(model)
    modes = [model.modes[c] for c in model.constructs]
    bm = model.path_matrix()
    cons = model.constructs
    col = {c: j for j, c in enumerate(cons)}
    widx = [(model.indicators.index(i), col[c]) for c, i in zip(fit.weights["construct"], fit.weights["indicator"])]
    pidx = [(col[a], col[b]) for a, b in model.paths]
    tidx = [(col[a], col[b]) for a, b in zip(fit.total_effects["from"], fit.total_effects["to"])]
    ridx = [col[c] for c in model.endogenous]
    hidx = [(col[a], col[b]) for a, b in zip(fit.htmt["construct_a"], fit.htmt["construct_b"])]
    ip = None
    if ipma_target is not None:
        ip = ipma(fit, ipma_target, scale=ipma_scale)
        lo, hi = _scale_bounds(model, x, ipma_scale)
        iidx = [col[c] for c in ip["construct"]]
        mask = _mask(model)
        t = col[ipma_target]
    spec = dict(count=count, x=sx, xx=sxx, bidx=bidx, modes=modes, bm=bm, scheme=fit.scheme,
                w0=fit._core.weights, widx=widx, pidx=pidx, tidx=tidx, ridx=ridx, hidx=hidx,
                ipma=None if ip is None else (mask, lo, hi, t, iidx))
    wblocks = list(blocks)
    if jobs > 1 and len(wblocks) > 1:
        from crqlab.parallel import map_tasks
        parts = map_tasks(_boot_block, [(wb, spec) for wb in wblocks], jobs=jobs)
    else:
        parts = [_boot_block(wb, spec) for wb in wblocks]
    res = {key: [row for part in parts for row in part[0][key]] for key in parts[0][0]}
    failed = sum(part[1] for part in parts)
    if len(res["w"]) < max(10, n_boot // 2):
        raise ConvergenceError(f"bootstrap_pls: {failed} of {n_boot} resamples failed")
    arr = {key: np.asarray(v, dtype=float) for key, v in res.items()}
    names = {"w": "weights", "l": "loadings", "p": "paths", "t": "total_effects", "r": "r2",
             "h": "htmt", "ii": "ipma_importance", "ip": "ipma_performance"}
    ip_out = None
    if ip is not None:
        ip_out = _summarise(ip, arr["ii"], ci, est_col="importance", prefix="importance_")
        ip_out = _summarise(ip_out, arr["ip"], ci, est_col="performance", prefix="performance_")
    return PlsBootstrap(
        weights=_summarise(fit.weights, arr["w"], ci), loadings=_summarise(fit.loadings, arr["l"], ci),
        paths=_summarise(fit.paths, arr["p"], ci), total_effects=_summarise(fit.total_effects, arr["t"], ci),
        r2=_summarise(fit.r2, arr["r"], ci), htmt=_summarise(fit.htmt, arr["h"], ci), ipma=ip_out,
        n_boot=n_boot, n_failed=failed, n_clusters=k, ci=ci,
        draws={names[key]: v for key, v in arr.items() if v.size})

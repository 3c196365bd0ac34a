"""The latent relationship model and the measurement model of the generator.

Latents have unit variance within a wave; each latent's innovation (its exogenous value, or
its structural disturbance) is the sum of an account effect, a person effect and a wave-specific
term, in the shares ``SynthParams.variance_shares``. Endogenous latents follow
``eta = B eta + zeta``, so ``B`` holds the standardised path coefficients.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

from crqlab.data.instruments import Instrument
from crqlab.synth.params import SynthError, SynthParams

__all__ = ["LatentModel", "Measurement", "build_latent_model", "build_measurement",
           "nps_measurement", "element_scores", "nps_from_answers", "LEVELS"]

LEVELS = ("account", "person", "wave")


@dataclass(frozen=True)
class LatentModel:
    """A recursive standardised structural model with three-level innovations."""

    names: tuple
    exogenous: tuple
    coef: np.ndarray            # coef[j, k]: effect of latent k on latent j
    innovation_var: np.ndarray  # psi: 1 for exogenous latents, disturbance variance otherwise
    innovation_corr: np.ndarray
    shares: np.ndarray          # (p, 3) shares of innovation variance per level
    sigma: np.ndarray           # implied within-wave covariance (unit diagonal)
    shifted: np.ndarray         # exogenous latents whose mean moves with the wave shift

    def index(self, name: str) -> int:
        return self.names.index(name)

    def means(self, shift: float) -> np.ndarray:
        """Latent means in a wave whose exogenous drivers are shifted by ``shift``."""
        c = np.where(self.shifted, shift, 0.0)
        return np.linalg.solve(np.eye(len(self.names)) - self.coef, c)

    def draw(self, rng: np.random.Generator, n: int, level: str) -> np.ndarray:
        """Innovations of ``n`` units at one level (account, person or wave), shape (n, p)."""
        p = len(self.names)
        chol = np.linalg.cholesky(self.innovation_corr)
        scale = np.sqrt(self.shares[:, LEVELS.index(level)] * self.innovation_var)
        return (rng.standard_normal((n, p)) @ chol.T) * scale

    def propagate(self, innovations: np.ndarray, shift: float) -> np.ndarray:
        """Latent scores from summed innovations (rows = contacts)."""
        c = np.where(self.shifted, shift, 0.0)
        inv = np.linalg.inv(np.eye(len(self.names)) - self.coef)
        return (innovations + c) @ inv.T

    def paths(self) -> list[dict]:
        rows, cols = np.nonzero(self._edge_mask)
        return [{"from": self.names[k], "to": self.names[j], "std_all": float(self.coef[j, k])}
                for j, k in sorted(zip(rows, cols))]

    @property
    def _edge_mask(self) -> np.ndarray:
        return self.coef != 0


def _topological(names: list[str], edges: list[tuple]) -> list[str]:
    parents = {n: {f for f, t, _ in edges if t == n} for n in names}
    order: list[str] = []
    while len(order) < len(names):
        ready = [n for n in names if n not in order and parents[n] <= set(order)]
        if not ready:
            raise SynthError("the structural paths contain a cycle")
        order.extend(ready)
    return order


def build_latent_model(params: SynthParams, crq: Instrument,
                       kmv: Instrument | None) -> LatentModel:
    """Assemble B, the innovation covariance and the implied covariance from the parameters."""
    edges = [(str(f), str(t), float(c)) for f, t, c in params.crq_paths]
    kmv_only: set[str] = set()
    if kmv is not None:
        kmv_only = set(kmv.elements) - set(crq.elements)
        for p in kmv.paths:
            key = f"{p['from']}->{p['to']}"
            sign = -1.0 if str(p.get("sign", "+")) == "-" else 1.0
            edges.append((p["from"], p["to"], sign * abs(float(params.kmv_magnitudes.get(key, 0.3)))))
    names: list[str] = []
    for n in [*crq.elements, *(kmv.elements if kmv else ()), *(x for e in edges for x in e[:2])]:
        if n not in names:
            names.append(n)
    order = _topological(names, edges)
    p = len(order)
    idx = {n: i for i, n in enumerate(order)}
    coef = np.zeros((p, p))
    for f, t, c in edges:
        coef[idx[t], idx[f]] = c
    incoming = {t for f, t, _ in edges}
    exogenous = tuple(n for n in order if n not in incoming)
    sign = {n: (-1.0 if all(c < 0 for f, _, c in edges if f == n) and any(f == n for f, _, _ in edges)
                else 1.0) for n in order}
    corr = np.eye(p)
    for a in exogenous:
        for b in exogenous:
            if a == b or (a in kmv_only) != (b in kmv_only):
                continue
            r = params.kmv_exo_corr * sign[a] * sign[b] if a in kmv_only else params.exo_corr
            corr[idx[a], idx[b]] = r
    if np.linalg.eigvalsh(corr).min() <= 0:
        raise SynthError("the correlation of the exogenous drivers is not positive definite")
    sigma = corr.copy()
    psi = np.ones(p)
    for j in range(p):
        if order[j] in exogenous:
            continue
        b = coef[j, :j]
        explained = float(b @ sigma[:j, :j] @ b)
        if explained >= 0.95:
            raise SynthError(f"paths into {order[j]!r} explain {explained:.2f} of its variance; "
                             "lower the coefficients")
        psi[j] = 1.0 - explained
        sigma[j, :j] = sigma[:j, j] = sigma[:j, :j] @ b
        sigma[j, j] = 1.0
    shares = np.array([params.variance_shares.get(n, params.variance_shares["default"])
                       for n in order], dtype=float)
    if not np.allclose(shares.sum(axis=1), 1.0) or (shares < 0).any():
        raise SynthError("each variance_shares entry must be three shares summing to 1")
    shifted = np.array([n in exogenous and n not in kmv_only for n in order])
    return LatentModel(names=tuple(order), exogenous=exogenous, coef=coef, innovation_var=psi,
                       innovation_corr=corr, shares=shares, sigma=sigma, shifted=shifted)


@dataclass(frozen=True)
class Measurement:
    """Ordinal items: ``y* = location + scale * (loading * eta + sqrt(1 - loading^2) e)``."""

    items: tuple
    latent_index: np.ndarray
    loading: np.ndarray
    location: np.ndarray
    scale: float
    lo: int
    hi: int

    def latent_response(self, eta: np.ndarray, noise: np.ndarray) -> np.ndarray:
        lam = self.loading
        return self.location + self.scale * (lam * eta[:, self.latent_index]
                                             + np.sqrt(1 - lam**2) * noise)

    def answers(self, ystar: np.ndarray) -> np.ndarray:
        return np.clip(np.floor(ystar + 0.5), self.lo, self.hi)

    def expected(self, mu: np.ndarray, shift: float = 0.0) -> np.ndarray:
        """Expected answers when the latents have means ``mu`` (unit variance)."""
        m = self.location + self.scale * self.loading * mu[self.latent_index] + shift
        cuts = np.arange(self.lo, self.hi) + 0.5
        return self.lo + ndtr((m[:, None] - cuts[None, :]) / self.scale).sum(axis=1)


def build_measurement(params: SynthParams, model: LatentModel, instruments: list[Instrument],
                      rng: np.random.Generator) -> Measurement:
    """Items of the instruments (first occurrence wins), loadings and locations drawn from rng."""
    items: list[str] = []
    latent: list[int] = []
    for inst in instruments:
        for el in inst.elements.values():
            for it in el.items:
                if it not in items:
                    items.append(it)
                    latent.append(model.index(el.name))
    k = len(items)
    lo, hi = instruments[0].scale_min, instruments[0].scale_max
    loading = rng.uniform(*params.loading_range, size=k)
    location = params.item_location + rng.normal(0.0, params.item_offset_sd, size=k)
    return Measurement(items=tuple(items), latent_index=np.array(latent), loading=loading,
                       location=location, scale=float(params.item_scale), lo=lo, hi=hi)


def nps_measurement(params: SynthParams, model: LatentModel) -> Measurement:
    """The 0-10 recommendation question on the advocacy latent (no extra item noise)."""
    return Measurement(items=("nps",), latent_index=np.array([model.index("advocacy")]),
                       loading=np.array([1.0]), location=np.array([params.nps_location]),
                       scale=float(params.nps_scale), lo=0, hi=10)


def element_scores(instrument: Instrument, values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Element scores (mean of items, or mean of facet means) and the weighted index.

    ``values`` maps item name -> array (NaN = missing; means ignore missing answers).
    """
    out: dict[str, np.ndarray] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for name, el in instrument.elements.items():
            groups = list(el.facets.values()) if el.is_composite else [el.items]
            parts = [np.nanmean(np.column_stack([values[i] for i in g]), axis=1) for g in groups]
            out[name] = np.nanmean(np.column_stack(parts), axis=1)
        if instrument.index_name:
            w = instrument.index_weights or {e: 1.0 for e in instrument.elements}
            mat = np.column_stack([out[e] for e in w])
            wts = np.array(list(w.values()))
            ok = ~np.isnan(mat)
            out[instrument.index_name] = (np.where(ok, mat, 0) @ wts) / (ok @ wts)
    return out


def nps_from_answers(answers: np.ndarray) -> float:
    """NPS (-100..100) of 0-10 answers (NaN ignored)."""
    a = np.asarray(answers, dtype=float)
    a = a[~np.isnan(a)]
    if a.size == 0:
        return float("nan")
    return float(100 * ((a >= 9).mean() - (a <= 6).mean()))

"""Structural equation models: Morgan & Hunt's KMV model, its CRQ form and the rival model.

Models are written in lavaan syntax, built from an :class:`~crqlab.data.instruments.Instrument`
(no item name is hard-coded), parsed by semopy and fitted by maximum likelihood with lavaan's
conventions, so the numbers agree with ``lavaan::sem()`` / ``lavaan::cfa()``:

- the sample covariance has divisor N and the test statistic is ``chisq = N * F_ML``;
- the log-likelihood (for AIC and BIC) is the normal log-likelihood, not semopy's objective;
- RMSEA uses N (semopy uses N - 1), its 90% interval inverts the non-central chi-square;
- CFI is capped to [0, 1]; SRMR is Bentler's (lavaan's ``srmr`` without a mean structure);
- residual covariances among terminal endogenous variables and covariances among exogenous
  latent variables are free (lavaan's ``auto.cov.y`` and ``auto.cov.lv.x``; semopy's
  ``mimic_lavaan=True``), variances are unbounded (a Heywood case shows as a negative variance
  and is flagged instead of being hidden at a bound), observed exogenous covariates are fixed
  at their sample (co)variances (lavaan's ``fixed.x``);
- standard errors from the expected information, Wald z tests and intervals.

semopy provides the parser, the model matrices (Beta, Lambda, Psi, Theta) and starting
values. crqlab computes the ML discrepancy, its analytic gradient and expected information
(checked against semopy's ``calc_sigma_grad``/``calc_fim`` and finite differences), and
estimates by Fisher scoring with a line search (Newton steps where it converges slowly), with
semopy's own SLSQP fit and L-BFGS-B from other starting values as fallbacks: semopy's default
SLSQP stops before lavaan's optimum (0.7305 for a loading lavaan puts at 0.7293, see
``tests/models/test_sem.py``).

semopy 2.3.11 runs on pandas 3.1 / numpy 2.4 with float data, but fails on nullable columns
(``Int64``, ``boolean`` with ``pd.NA``: ``isnan`` TypeError), uses pairwise-complete
covariances where lavaan deletes listwise, silently replaces a singular sample covariance by a
nearby positive-definite one, and its ``calc_stats`` reports the ML objective as ``LogLik``
(so its AIC/BIC are not lavaan's) and an RMSEA with N - 1. crqlab converts every column to
float64 (booleans to 0/1), deletes listwise, refuses a singular sample covariance
(:class:`~crqlab.errors.InsufficientDataError`) and computes every fit measure itself.

Every fit goes through a guard that flags non-convergence and improper solutions (negative
variances, standardised loadings or paths above 1, a non-positive-definite implied or latent
covariance matrix, a singular information matrix); ``on_improper`` decides whether that raises
:class:`~crqlab.errors.ConvergenceError` or returns a result marked ``proper=False`` with the
reasons.
"""
from __future__ import annotations

import ast
import logging
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import combinations

import numpy as np
import pandas as pd
from scipy import optimize as _opt
from scipy import stats as _st

from crqlab.data.instruments import Instrument, load_instrument
from crqlab.errors import ConvergenceError, CrqlabError, InstrumentError, InsufficientDataError
from crqlab.stats import cluster_bootstrap_weights, z_crit

__all__ = ["HypothesisedPath", "SemModel", "SemFit", "measurement_syntax", "kmv_crq_model",
           "kmv_classic_model", "rival_model", "fit_sem", "compare_models", "bootstrap_sem",
           "indirect_effects", "compare_groups", "GroupComparison", "simulate_sem"]

_ON_IMPROPER = ("raise", "flag")
_BINARY_NOTE = ("{var} is binary and enters the ML fit as a continuous variable (a linear "
                "probability path): its estimate is a difference in retention probability per "
                "unit of the predictor, its normal-theory SE and fit contribution are "
                "approximate.")


# ----------------------------------------------------------------------------------------------
# Model specification
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class HypothesisedPath:
    """A hypothesised structural path ``source -> target`` with its expected sign.

    ``sign`` is ``"+"``, ``"-"``, or ``None`` when only an effect (no direction) is expected.
    """

    source: str
    target: str
    sign: str | None = "+"


@dataclass(frozen=True)
class SemModel:
    """A model in lavaan syntax plus what it hypothesises.

    Attributes
    ----------
    name : str
        Short identifier (``"kmv_crq"``, ``"kmv_crq_rival"``).
    syntax : str
        lavaan model syntax (``=~``, ``~``, ``~~``), also accepted by semopy.
    paths : tuple of HypothesisedPath
        Hypothesised structural paths (empty for a plain CFA or user syntax).
    indicators : dict
        Latent variable -> its indicator columns.
    binary : tuple of str
        Observed binary outcomes fitted as continuous variables.
    notes : tuple of str
        Modelling choices a report must state.
    """

    name: str
    syntax: str
    paths: tuple[HypothesisedPath, ...] = ()
    indicators: dict = field(default_factory=dict)
    binary: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def __str__(self) -> str:
        return self.syntax

    @property
    def nodes(self) -> list[str]:
        """Variables named by the hypothesised paths, in order of appearance."""
        seen: dict[str, None] = {}
        for p in self.paths:
            seen.setdefault(p.source, None)
            seen.setdefault(p.target, None)
        return list(seen)

    @property
    def antecedents(self) -> list[str]:
        """Nodes with no incoming hypothesised path."""
        targets = {p.target for p in self.paths}
        return [v for v in self.nodes if v not in targets]

    @property
    def outcomes(self) -> list[str]:
        """Nodes with no outgoing hypothesised path."""
        sources = {p.source for p in self.paths}
        return [v for v in self.nodes if v not in sources]

    @property
    def mediators(self) -> list[str]:
        """Nodes with both incoming and outgoing hypothesised paths."""
        ends = set(self.antecedents) | set(self.outcomes)
        return [v for v in self.nodes if v not in ends]


def _as_instrument(instrument: Instrument | str) -> Instrument:
    return instrument if isinstance(instrument, Instrument) else load_instrument(instrument)


def _measurement_lines(indicators: dict) -> list[str]:
    return [f"{lat} =~ {' + '.join(items)}" for lat, items in indicators.items()]


def _element_indicators(instrument: Instrument, elements) -> tuple[dict, dict]:
    """Latent -> items for multi-item elements; element -> item for single-item elements."""
    indicators: dict[str, tuple[str, ...]] = {}
    alias: dict[str, str] = {}
    for name in elements:
        if name not in instrument.elements:
            raise InstrumentError(f"instrument {instrument.name!r} has no element {name!r}; "
                                  f"elements: {list(instrument.elements)}")
        items = instrument.elements[name].items
        if len(items) == 1:
            alias[name] = items[0]
        else:
            indicators[name] = tuple(items)
    return indicators, alias


def measurement_syntax(instrument: Instrument | str | Mapping[str, Sequence[str]],
                       elements=None) -> str:
    """lavaan measurement syntax (``element =~ item_1 + item_2 + ...``) from an instrument.

    Parameters
    ----------
    instrument : Instrument, str or mapping
        Instrument or the name of a shipped one; or a mapping of latent variable -> its items
        (as the studies build it from the columns present), written in its order.
    elements : list of str, optional
        Elements to include (default all). A faceted element (Solution, Service) is measured by
        its facet items. A single-item element has no latent variable: it enters a structural
        model as its observed item. Not used with a mapping.

    Returns
    -------
    str
        One line per multi-item element.

    Notes
    -----
    Tested in ``tests/models/test_sem.py`` (an instrument and the mapping of its elements'
    items give the same text).
    """
    if isinstance(instrument, Mapping):
        if elements is not None:
            raise ValueError("measurement_syntax: elements= selects from an instrument; a "
                             "mapping of latent variables to items is written as it is")
        return "\n".join(_measurement_lines(instrument))
    inst = _as_instrument(instrument)
    indicators, _ = _element_indicators(inst, list(elements or inst.elements))
    return "\n".join(_measurement_lines(indicators))


def _structural_lines(paths, alias: dict) -> list[str]:
    by_target: dict[str, list[str]] = {}
    for p in paths:
        target, source = alias.get(p.target, p.target), alias.get(p.source, p.source)
        by_target.setdefault(target, []).append(source)
    return [f"{t} ~ {' + '.join(s)}" for t, s in by_target.items()]


def _assemble(name, indicators, paths, alias=None, binary=(), notes=()) -> SemModel:
    alias = alias or {}
    paths = tuple(HypothesisedPath(alias.get(p.source, p.source), alias.get(p.target, p.target),
                                   p.sign) for p in paths)
    lines = ["# measurement model"] + _measurement_lines(indicators)
    lines += ["# structural model"] + _structural_lines(paths, {})
    notes = tuple(notes) + tuple(_BINARY_NOTE.format(var=b) for b in binary)
    notes += tuple(f"single-item element {e!r} enters as its observed item {i!r}"
                   for e, i in alias.items())
    return SemModel(name=name, syntax="\n".join(lines) + "\n", paths=paths,
                    indicators=dict(indicators), binary=tuple(binary), notes=notes)


def _model_from_paths(name, inst: Instrument, paths, binary=(), notes=()) -> SemModel:
    nodes = {x for p in paths for x in (p.source, p.target)}
    elements = [e for e in inst.elements if e in nodes]  # instrument order
    indicators, alias = _element_indicators(inst, elements)
    return _assemble(name, indicators, paths, alias, binary, notes)


def kmv_crq_model(instrument: Instrument | str = "crq", *, drivers=None, trust: str = "trust",
                  satisfaction: str = "satisfaction", commitment: str = "commitment",
                  outcomes=("nps", "retained_next_wave"),
                  binary=("retained_next_wave",)) -> SemModel:
    """The CRQ form of the key mediating variable (KMV) model.

    Service and uniqueness elements feed trust; trust and satisfaction feed commitment;
    commitment drives advocacy (observed ``nps``) and retention (observed, binary
    ``retained_next_wave``). All hypothesised signs are positive.

    Parameters
    ----------
    instrument : Instrument or str
        The CRQ instrument (or another with the same roles).
    drivers : list of str, optional
        Elements acting on trust; default every element of the instrument's ``service`` and
        ``uniqueness`` levels, in definition order.
    trust, satisfaction, commitment : str
        Element names playing these roles.
    outcomes : tuple of str
        Observed outcome columns driven by commitment.
    binary : tuple of str
        Outcomes that are 0/1. They are fitted as continuous (ML on the covariance matrix: a
        linear probability path); the model's ``notes`` say so.

    Returns
    -------
    SemModel

    Notes
    -----
    Morgan & Hunt (1994) read for a CRQ survey (docs/methods.md, section 2). The generated
    syntax is fitted by lavaan in ``tests/results/lavaan/make_lavaan.R`` on
    ``kmv_synthetic.csv``; crqlab's estimates, SEs and fit measures agree (``tests/models/test_sem.py``).
    """
    inst = _as_instrument(instrument)
    if drivers is None:
        levels = inst.levels
        missing = [lv for lv in ("service", "uniqueness") if lv not in levels]
        if missing:
            raise InstrumentError(f"instrument {inst.name!r} has no level(s) {missing}; "
                                  "pass drivers= explicitly")
        drivers = levels["service"] + levels["uniqueness"]
    paths = [HypothesisedPath(d, trust) for d in drivers]
    paths += [HypothesisedPath(trust, commitment), HypothesisedPath(satisfaction, commitment)]
    paths += [HypothesisedPath(commitment, o) for o in outcomes]
    binary = tuple(b for b in binary if b in outcomes)
    return _model_from_paths("kmv_crq", inst, paths, binary)


def kmv_classic_model(instrument: Instrument | str = "kmv") -> SemModel:
    """Morgan & Hunt's (1994) KMV model from the ``paths`` of an instrument (``kmv.yaml``).

    Notes
    -----
    The ten constructs and thirteen signed paths of Morgan & Hunt's figure 1 come from the
    instrument file; this function adds nothing. Fitted in lavaan on synthetic data in
    ``tests/results/lavaan/make_lavaan.R`` (``kmv_classic_synthetic.csv``).
    """
    inst = _as_instrument(instrument)
    if not inst.paths:
        raise InstrumentError(f"instrument {inst.name!r} defines no structural paths")
    paths = [HypothesisedPath(p["from"], p["to"], p.get("sign", "+")) for p in inst.paths]
    return _model_from_paths("kmv_classic", inst, paths)


def _implied_sign(model: SemModel, source: str, target: str) -> str | None:
    """Sign of the total effect implied by the hypothesised chains (None if none or mixed)."""
    out: dict[str, list[HypothesisedPath]] = {}
    for p in model.paths:
        out.setdefault(p.source, []).append(p)
    signs: set[str] = set()

    def walk(node, sign, seen):
        for p in out.get(node, []):
            if p.target in seen or p.sign is None:
                continue
            s = "+" if (sign == "+") == (p.sign == "+") else "-"
            if p.target == target:
                signs.add(s)
            else:
                walk(p.target, s, seen | {p.target})

    walk(source, "+", {source})
    return signs.pop() if len(signs) == 1 else None


def rival_model(model: SemModel, name: str | None = None) -> SemModel:
    """Morgan & Hunt's rival: every antecedent and mediator acts on every outcome directly.

    Trust and commitment (the mediators) lose their incoming paths and become further
    exogenous predictors, correlated freely with the antecedents; nothing is mediated.

    Parameters
    ----------
    model : SemModel
        A model with hypothesised paths (``kmv_crq_model()``, ``kmv_classic_model()``).
    name : str, optional
        Default ``<model.name>_rival``.

    Returns
    -------
    SemModel
        Its paths carry the sign of the total effect the mediated model implies
        (product of signs along its chains), or ``None`` where no chain or mixed chains lead
        from the predictor to the outcome; for those a path counts as supported when
        significant in either direction.

    Notes
    -----
    Morgan & Hunt (1994), the rival model of their figure 2. Fitted in lavaan on
    ``kmv_synthetic.csv`` (``tests/results/lavaan/make_lavaan.R``).
    """
    if not model.paths:
        raise InstrumentError(f"model {model.name!r} has no hypothesised paths to rearrange")
    predictors = model.antecedents + model.mediators
    paths = [HypothesisedPath(s, o, _implied_sign(model, s, o))
             for s in predictors for o in model.outcomes]
    notes = tuple(n for n in model.notes if not n.startswith("single-item"))
    binary = model.binary
    rival = _assemble(name or f"{model.name}_rival", model.indicators, paths, {}, (), notes)
    return SemModel(rival.name, rival.syntax, rival.paths, rival.indicators, binary,
                    rival.notes)


def _as_model(model) -> SemModel:
    if isinstance(model, SemModel):
        return model
    if isinstance(model, str):
        return SemModel(name="model", syntax=model)
    raise TypeError(f"expected a SemModel or lavaan syntax, got {type(model).__name__}")


# ----------------------------------------------------------------------------------------------
# lavaan conveniences: std.lv, NA*, single indicators, := defined parameters
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Prepared:
    """Syntax as semopy takes it, the ``:=`` definitions and what was added (for the notes)."""

    syntax: str
    defined: tuple[tuple[str, str], ...]
    notes: tuple[str, ...]
    fixed_labels: tuple[tuple[str, str, str, str], ...] = ()  # (lhs, op, rhs, label)


_OPERATORS = ("=~", "~~", ":=", "~")  # longest first
_IDENT = re.compile(r"^[A-Za-z_.][A-Za-z0-9_.]*$")


def _statements(syntax: str) -> list[str]:
    """lavaan statements: comments (# or !) removed, split at newlines and ';', a statement
    ending with or continued by an operator joined with the next line (lavaan's rule)."""
    lines = []
    for raw in syntax.splitlines():
        line = re.split(r"[#!]", raw, maxsplit=1)[0]
        lines += [part.strip() for part in line.split(";")]
    out: list[str] = []
    for line in lines:
        if not line:
            continue
        if out and (out[-1].endswith(("+", "*", "~", "=")) or line.startswith(("+", "*"))):
            out[-1] = f"{out[-1]} {line}"
        else:
            out.append(line)
    return out


def _split_statement(stmt: str) -> tuple[str, str, str] | None:
    for op in _OPERATORS:
        if op in stmt:
            lhs, rhs = stmt.split(op, 1)
            if op == "~" and rhs.startswith("~"):
                continue
            return lhs.strip(), op, rhs.strip()
    return None


def _terms(rhs: str) -> list[tuple[str | None, str]]:
    """``a*x1 + 1*x2 + x3`` -> [("a", "x1"), ("1", "x2"), (None, "x3")]."""
    out = []
    for term in rhs.split("+"):
        term = term.strip()
        if not term:
            continue
        mult, _, var = term.rpartition("*")
        out.append((mult.strip() or None, var.strip()))
    return out


def _is_number(text: str | None) -> bool:
    try:
        float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return True


def _prepare_syntax(syntax: str, std_lv: bool = False) -> _Prepared:
    """Rewrite lavaan syntax for semopy with lavaan's conveniences.

    - ``name := expression`` lines are taken out (computed after the fit, see
      :func:`_defined_rows`);
    - ``NA*x`` (a free loading; semopy would read ``NA`` as an equality label) becomes a
      private label;
    - ``std_lv``: every loading without a fixed value or a user label is freed and every
      latent variable's (residual) variance is fixed at 1 (lavaan's ``std.lv = TRUE``), unless
      the syntax fixes or frees that variance itself;
    - a latent variable with a single indicator gets that indicator's residual variance fixed
      at 0 (lavaan's ``auto.fix.single``), unless the syntax says otherwise.
    """
    stmts = _statements(syntax)
    parsed = [(s, _split_statement(s)) for s in stmts]
    defined, indicators, variances = [], {}, set()
    for stmt, sp in parsed:
        if sp is None:
            continue
        lhs, op, rhs = sp
        if op == ":=":
            if not _IDENT.match(lhs):
                raise ValueError(f"defined parameter name {lhs!r} is not a name "
                                 f"(statement {stmt!r})")
            defined.append((lhs, re.sub(r"\s+", "", rhs)))  # lavaan shows it unspaced
        elif op == "=~":
            indicators.setdefault(lhs, []).extend(v for _, v in _terms(rhs))
        elif op == "~~":
            variances |= {lhs for _, v in _terms(rhs) if v == lhs}
    # marker identification (lavaan): the first indicator of each latent is fixed at 1 unless
    # it is NA* (then no loading is fixed); semopy fixes the first *unlabelled* one instead
    first: dict[str, tuple[str | None, str]] = {}
    for _, sp in parsed:
        if sp is not None and sp[1] == "=~" and _terms(sp[2]):
            first.setdefault(sp[0], _terms(sp[2])[0])
    no_marker = {lat for lat, (m, _) in first.items()
                 if std_lv or (m is not None and m.upper() == "NA")}
    # a label on a marker: lavaan fixes that loading at 1, and every loading sharing the
    # label with it (semopy would free the labelled marker and fix the next indicator)
    fixed_labels = {mult for lat, (mult, _) in first.items()
                    if lat not in no_marker and mult is not None and not _is_number(mult)
                    and not mult.startswith(("start(", "_free_"))}
    for stmt, sp in parsed:
        if sp is not None and sp[1] in ("~", "~~") and any(
                m in fixed_labels for m, _ in _terms(sp[2])):
            raise ValueError(f"{stmt!r}: label shared with a marker loading (fixed at 1); "
                             "use another label, or std_lv=True")
    labelled_fixed: dict[tuple[str, str, str], str] = {}
    out, notes = [], []
    for stmt, sp in parsed:
        if sp is not None and sp[1] == ":=":
            continue
        if sp is not None and sp[1] == "=~":
            lhs, _, rhs = sp
            terms = []
            for mult, var in _terms(rhs):
                if ((mult is not None and mult.upper() == "NA")
                        or (lhs in no_marker and mult is None)):
                    mult = f"_free_{lhs}_{var}".replace(".", "_")
                elif mult in fixed_labels:
                    labelled_fixed[(lhs, "=~", var)] = mult
                    mult = "1"
                terms.append(var if mult is None else f"{mult}*{var}")
            stmt = f"{lhs} =~ {' + '.join(terms)}"
        out.append(stmt)
    if labelled_fixed:
        notes.append("loadings labelled like a marker are fixed at 1 with it, as lavaan does: "
                     + ", ".join(f"{a} =~ {c}" for a, _, c in labelled_fixed))
    if std_lv:
        fixed = [lat for lat in indicators if lat not in variances]
        out += [f"{lat} ~~ 1*{lat}" for lat in fixed]
        if fixed:
            notes.append("latent variables identified by unit (residual) variances, loadings "
                         "free (lavaan's std.lv = TRUE): " + ", ".join(fixed))
    single = [(lat, inds[0]) for lat, inds in indicators.items()
              if len(set(inds)) == 1 and inds[0] not in variances]
    out += [f"{ind} ~~ 0*{ind}" for _, ind in single]
    if single:
        notes.append("single-indicator latent variables measured without error (residual "
                     "variance fixed at 0, as lavaan does): "
                     + ", ".join(f"{lat} =~ {ind}" for lat, ind in single))
    changed = bool(defined or notes or labelled_fixed or any(
        sp is not None and sp[1] == "=~" and any(m is not None and m.upper() == "NA"
                                                 for m, _ in _terms(sp[2]))
        for _, sp in parsed))
    text = "\n".join(out) + "\n" if changed else syntax  # untouched syntax stays byte-equal
    return _Prepared(text, tuple(defined), tuple(notes), tuple(
        (lhs, op, rhs, label) for (lhs, op, rhs), label in labelled_fixed.items()))


_DEFINED_FUNCTIONS = {"sqrt": np.sqrt, "exp": np.exp, "log": np.log, "abs": np.abs,
                      "tanh": np.tanh, "pnorm": _st.norm.cdf}
_DEFINED_NODES = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Call, ast.Name, ast.Load,
                  ast.Constant, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow, ast.USub,
                  ast.UAdd)


def _compile_defined(name: str, expr: str, known: set[str]):
    """A safe, compiled ``:=`` expression (R's ``^`` read as power)."""
    try:
        tree = ast.parse(expr.replace("^", "**"), mode="eval")
    except SyntaxError:
        raise ValueError(f"defined parameter {name!r}: cannot read {expr!r}") from None
    for node in ast.walk(tree):
        if not isinstance(node, _DEFINED_NODES):
            raise ValueError(f"defined parameter {name!r}: {type(node).__name__} is not "
                             f"allowed in {expr!r}")
        if isinstance(node, ast.Call) and not (isinstance(node.func, ast.Name)
                                               and node.func.id in _DEFINED_FUNCTIONS):
            raise ValueError(f"defined parameter {name!r}: only {sorted(_DEFINED_FUNCTIONS)} "
                             f"may be called in {expr!r}")
        if (isinstance(node, ast.Name) and node.id not in known
                and node.id not in _DEFINED_FUNCTIONS):
            raise ValueError(f"defined parameter {name!r}: {node.id!r} in {expr!r} is not a "
                             f"parameter label; labels: {sorted(known)}")
    return compile(tree, f"<{name}>", "eval")


def _defined_rows(params: pd.DataFrame, theta: np.ndarray, vcov: np.ndarray, defined,
                  ci: float) -> pd.DataFrame:
    """Rows ``name := expression`` with delta-method SEs, as lavaan's parameterEstimates.

    The gradient of each definition with respect to the free parameters is taken by central
    differences (lavaan: numerically too); ``std_all`` evaluates the definition on the
    ``std_all`` values of the labelled parameters (lavaan's standardizedSolution).
    """
    lab = params[params["label"].astype(str) != ""].drop_duplicates("label")
    free = dict(zip(lab["label"], lab["free"].astype(int) - 1))
    est = dict(zip(lab["label"], lab["est"]))
    std = dict(zip(lab["label"], lab["std_all"]))
    codes = []
    for name, expr in defined:
        codes.append((name, expr, _compile_defined(name, expr, set(est) | {n for n, *_ in
                                                                        codes})))

    def values(th, base, where):
        env = dict(_DEFINED_FUNCTIONS)
        env.update({k: (th[i] if i >= 0 else base[k]) for k, i in where.items()})
        out = []
        for name, _, code in codes:
            # eval of an AST checked by _compile_defined: names, numbers, + - * / ** and the
            # functions of _DEFINED_FUNCTIONS only
            env[name] = float(eval(code, {"__builtins__": {}}, env))
            out.append(env[name])
        return np.array(out)

    point = values(theta, est, free)
    jac = np.zeros((len(codes), len(theta)))
    for j in sorted({i for i in free.values() if i >= 0}):
        h = 1e-6 * max(1.0, abs(theta[j]))
        up, down = theta.copy(), theta.copy()
        up[j] += h
        down[j] -= h
        jac[:, j] = (values(up, est, free) - values(down, est, free)) / (2 * h)
    with np.errstate(invalid="ignore"):
        se = np.sqrt(np.einsum("ij,jk,ik->i", jac, vcov, jac))
    with np.errstate(all="ignore"):
        std_vals = values(np.zeros(0), std, {k: -1 for k in free})
    q = z_crit(ci)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, point / se, np.nan)  # a function of fixed values: no test
    return pd.DataFrame({"lhs": [n for n, *_ in codes], "op": ":=",
                         "rhs": [e for _, e, _ in codes], "label": [n for n, *_ in codes],
                         "free": 0, "est": point, "se": se, "z": z,
                         "p_value": 2 * _st.norm.sf(np.abs(z)), "ci_low": point - q * se,
                         "ci_high": point + q * se, "std_all": std_vals})


# ----------------------------------------------------------------------------------------------
# Estimation engine: semopy's matrices, lavaan's ML
# ----------------------------------------------------------------------------------------------

def _single_threaded(func):
    """Run ``func`` with one BLAS thread: the matrices are small, and on a busy machine
    OpenBLAS threads spinning on 20 x 20 products make a fit many times slower."""
    import functools

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            from threadpoolctl import threadpool_limits  # semopy -> scikit-learn -> threadpoolctl
        except ImportError:  # pragma: no cover
            return func(*args, **kwargs)
        with threadpool_limits(limits=1, user_api="blas"):
            return func(*args, **kwargs)

    return wrapper


def _semopy_model(syntax: str):
    import semopy  # imported here: no import-time cost for users of other modules

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        before = logging.root.manager.disable
        logging.disable(max(before, logging.WARNING))  # semopy: "No fixed loadings" (std.lv)
        try:
            sm = semopy.Model(syntax, mimic_lavaan=True)
        finally:
            logging.disable(before)
    # semopy's starting values loop forever over a latent without a fixed (marker) loading
    # (first_manifs is a defaultdict returning None): keep only real markers
    sm.first_manifs = {k: v for k, v in sm.first_manifs.items() if v is not None}
    _canonical_parameter_order(sm)
    return sm


def _canonical_parameter_order(sm) -> None:
    """Put semopy's parameters in an order that does not depend on Python's hash seed.

    semopy adds the covariances of ``mimic_lavaan`` (among outcomes and exogenous latent
    variables, and among observed exogenous variables) from ``itertools.combinations`` over
    *sets*: which variable of a pair comes first, hence the matrix cell the parameter is stored
    in and its position in ``sm.parameters`` (the order of the free-parameter vector), change
    with ``PYTHONHASHSEED``, and so do the last bits of every estimate (floating-point sums in
    another order). Here loadings and regressions keep their (syntax) order; variances and
    covariances follow, each stored in its upper-triangle cell, sorted by matrix (Psi, then
    Theta), variances first, then by position. Must run before ``load()``, which builds the
    parameter vector from this order.
    """
    kind = {id(sm.matrices[k]): k for k in range(4)}
    for par in sm.parameters.values():
        for loc in par.locations:
            if loc.symmetric and loc.indices[0] > loc.indices[1]:
                loc.indices = loc.indices[::-1]

    def key(item):
        position, (_, par) = item
        loc = par.locations[0]
        k = kind.get(id(loc.matrix), 4)
        if k < 2:  # Beta, Lambda: created from the syntax, in its order
            return (0, position)
        i, j = loc.indices
        return (1, k, i != j, i, j)

    ordered = sorted(enumerate(sm.parameters.items()), key=key)
    sm.parameters = {name: par for _, (name, par) in ordered}


def _param_triples(sm) -> tuple[pd.DataFrame, int]:
    """Each semopy parameter location as a lavaan triple, with its matrix position and free id.

    semopy's matrices: 0 Beta (inner ~ inner), 1 Lambda (observed on inner), 2 Psi (inner
    covariances), 3 Theta (observed residual covariances).
    """
    inner, obs, latent = sm.vars["inner"], sm.vars["observed"], sm.vars["latent"]
    mats = {id(sm.matrices[k]): k for k in range(4)}
    rows, k_free = [], 0
    for name, par in sm.parameters.items():
        free = k_free if par.active else -1
        k_free += bool(par.active)
        for loc in par.locations:
            k = mats.get(id(loc.matrix))
            if k is None:
                continue
            i, j = loc.indices
            if k == 0:
                triple = (inner[i], "~", inner[j])
            elif k == 1:
                triple = ((inner[j], "=~", obs[i]) if inner[j] in latent
                          else (obs[i], "~", inner[j]))
            elif k == 2:
                triple = (inner[i], "~~", inner[j])
            else:
                triple = (obs[i], "~~", obs[j])
            label = "" if name.startswith("_") else name
            rows.append((*triple, label, free, k, i, j))
    table = pd.DataFrame(rows, columns=["lhs", "op", "rhs", "label", "free", "matrix", "i", "j"])
    return table, k_free


def _lavaan_auto_cov(syntax: str) -> tuple[str, list[str]]:
    """Add lavaan's default residual covariances among terminal endogenous variables.

    lavaan's ``sem()`` (``auto.cov.y = TRUE``) frees the disturbance covariances of every pair
    of endogenous variables that predict nothing else, latent or observed; semopy's
    ``mimic_lavaan`` does so only for observed ones. Returns the completed syntax and the lines
    added.
    """
    table, _ = _param_triples(_semopy_model(syntax))
    reg = table[table["op"] == "~"]
    sinks = [v for v in dict.fromkeys(reg["lhs"]) if v not in set(reg["rhs"])]
    cov = table[table["op"] == "~~"]
    have = {frozenset((a, b)) for a, b in zip(cov["lhs"], cov["rhs"])}
    added = [f"{a} ~~ {b}" for a, b in combinations(sinks, 2) if frozenset((a, b)) not in have]
    if not added:
        return syntax, []
    return syntax.rstrip("\n") + "\n# lavaan auto.cov.y\n" + "\n".join(added) + "\n", added


class _Group:
    """One semopy model (one group) with its sample covariance matrix (divisor n)."""

    def __init__(self, syntax: str, data: pd.DataFrame):
        self.sm = _semopy_model(syntax)
        self.observed = list(self.sm.vars["observed"])
        x = data[self.observed].to_numpy(dtype=float)
        self.x = x  # the rows (crqlab.models.likelihood's casewise scores read them)
        self.set_cov(np.cov(x, rowvar=False, bias=True).reshape(len(self.observed), -1), len(x))
        # semopy's data-based starting values (loadings by regression on the first indicator)
        self.sm.load(data=pd.DataFrame(x, columns=self.observed))
        self.start = np.array(self.sm.param_vals, dtype=float)
        self.table, self.k = _param_triples(self.sm)
        # a latent without a marker (std.lv): semopy starts its loadings at 0, a saddle point
        # of the discrepancy; start them at sqrt(var / 2) (half the item's variance explained)
        no_marker = set(self.sm.vars["latent"]) - set(self.sm.first_manifs)
        free_load = self.table[(self.table["op"] == "=~") & (self.table["free"] >= 0)
                               & self.table["lhs"].isin(no_marker)]
        for r in free_load.itertuples():
            i = self.observed.index(r.rhs)
            self.start[r.free] = np.sqrt(self.S[i, i] / 2)
        self.fixed_x = sorted(set(self.observed) & set(self.sm.vars["exogenous"]))
        self._prepare_locations()

    def set_cov(self, cov: np.ndarray, n: int) -> None:
        sign, logdet = np.linalg.slogdet(cov)
        if sign <= 0:
            raise InsufficientDataError(
                f"the sample covariance matrix of {self.observed} is not positive definite "
                f"(constant or collinear columns, or too few rows); n = {n}")
        self.S, self.logdet_S, self.n = cov, logdet, n

    def _prepare_locations(self) -> None:
        loc = self.table[self.table["free"] >= 0]
        self._loc_free = loc["free"].to_numpy()
        self._loc_kind = loc["matrix"].to_numpy()
        self._loc_i = loc["i"].to_numpy()
        self._loc_j = loc["j"].to_numpy()
        diag = (self._loc_kind >= 2) & (self._loc_i == self._loc_j)
        self._loc_c = np.where(diag, 0.5, 1.0)
        # aggregation of locations to free parameters (equality labels share a parameter)
        self._agg = np.zeros((self.k, len(loc)))
        self._agg[self._loc_free, np.arange(len(loc))] = 1.0

    # -- ML discrepancy, gradient, expected information ---------------------------------------
    def _sigma_parts(self, theta):
        """Implied covariance and, per free-parameter location, vectors u, v such that
        d Sigma / d theta_location = c (u v' + v u')."""
        sm = self.sm
        sm.update_matrices(theta)
        beta, lamb, psi, tht = sm.matrices[:4]
        c = np.linalg.inv(np.identity(beta.shape[0]) - beta)
        m = lamb @ c                      # Lambda C
        g = lamb @ (c @ psi @ c.T)        # Lambda P, P = C Psi C' the inner covariance
        sigma = g @ lamb.T + tht
        return sigma, m, g

    def _uv(self, m, g):
        p = m.shape[0]
        eye = np.identity(p)
        kind, i, j = self._loc_kind, self._loc_i, self._loc_j
        u = np.empty((len(kind), p))
        v = np.empty((len(kind), p))
        for k, (uu, vv) in enumerate(((m, g), (None, g), (m, m), (None, None))):
            sel = kind == k
            if not sel.any():
                continue
            # Beta: M e_i, (Lambda P) e_j; Lambda: e_i, (Lambda P) e_j; Psi: M e_i, M e_j;
            # Theta: e_i, e_j
            u[sel] = (uu[:, i[sel]].T if uu is not None else eye[i[sel]])
            v[sel] = (vv[:, j[sel]].T if vv is not None else eye[j[sel]])
        return u, v

    def evaluate(self, theta, grad: bool = True, info: bool = False):
        """F_ML = log|Sigma| + tr(S Sigma^-1) - log|S| - p, its gradient and E[Hessian].

        Derivatives are analytic: with d Sigma = c (u v' + v u') per parameter location,
        ``dF = 2 c u' W v`` (W = Sigma^-1 - Sigma^-1 S Sigma^-1) and
        ``tr(Sigma^-1 dSigma_l Sigma^-1 dSigma_m) = 2 c_l c_m (A_lm C_lm + B_lm B_ml)`` with
        A = U Sigma^-1 U', B = U Sigma^-1 V', C = V Sigma^-1 V'.
        """
        try:
            sigma, m, gmat = self._sigma_parts(theta)
            chol = np.linalg.cholesky(sigma)
        except np.linalg.LinAlgError:
            return np.inf, None, None
        inv = np.linalg.inv(sigma)
        logdet = 2.0 * np.log(np.diag(chol)).sum()
        p = sigma.shape[0]
        f = logdet + np.einsum("ij,ji->", self.S, inv) - self.logdet_S - p
        if not (grad or info):
            return f, None, None
        u, v = self._uv(m, gmat)
        cc = self._loc_c
        g = h = None
        if grad:
            w = inv - inv @ self.S @ inv
            g = self._agg @ (2 * cc * np.einsum("lp,pq,lq->l", u, w, v))
        if info:
            ui, vi = u @ inv, v @ inv
            a, b, c3 = ui @ u.T, ui @ v.T, vi @ v.T
            h_loc = 2 * np.outer(cc, cc) * (a * c3 + b * b.T)
            h = self._agg @ h_loc @ self._agg.T
        return f, g, h


class _Problem:
    """ML over one or more groups; group g uses ``theta[maps[g]]`` (shared = constrained)."""

    def __init__(self, groups: list[_Group], maps: list[np.ndarray] | None = None):
        self.groups = groups
        if maps is None:
            offsets = np.cumsum([0] + [g.k for g in groups])
            maps = [np.arange(offsets[i], offsets[i + 1]) for i in range(len(groups))]
        self.maps = maps
        self.k = int(max((m.max() + 1 for m in maps if m.size), default=0))

    @property
    def n(self) -> int:
        return int(sum(g.n for g in self.groups))

    def evaluate(self, theta, grad=True, info=False):
        f, g_tot, h_tot = 0.0, np.zeros(self.k), np.zeros((self.k, self.k))
        n = self.n
        for grp, idx in zip(self.groups, self.maps):
            fg, gg, hg = grp.evaluate(theta[idx], grad, info)
            if not np.isfinite(fg):
                return np.inf, None, None
            w = grp.n / n
            f += w * fg
            if grad:
                np.add.at(g_tot, idx, w * gg)
            if info:
                np.add.at(h_tot, (idx[:, None], idx[None, :]), w * hg)
        return f, (g_tot if grad else None), (h_tot if info else None)

    def start(self) -> np.ndarray:
        theta = np.zeros(self.k)
        count = np.zeros(self.k)
        for grp, idx in zip(self.groups, self.maps):
            np.add.at(theta, idx, grp.start)
            np.add.at(count, idx, 1)
        return theta / np.maximum(count, 1)


@dataclass
class _Attempt:
    solver: str
    start: str
    theta: np.ndarray
    fmin: float
    converged: bool
    iterations: int
    message: str = ""
    reasons: tuple = ()


def _observed_hessian(problem: _Problem, theta, g0) -> np.ndarray | None:
    """Hessian of F_ML by forward differences of the analytic gradient (None if not PD); a
    problem with its own ``observed_hessian`` (crqlab.models.likelihood) supplies it."""
    own = getattr(problem, "observed_hessian", None)
    if own is not None:
        try:
            hess = own(theta)
        except (np.linalg.LinAlgError, ArithmeticError, CrqlabError):
            return None
    else:
        k = len(theta)
        hess = np.empty((k, k))
        for i in range(k):
            step = 1e-6 * max(1.0, abs(theta[i]))
            th = theta.copy()
            th[i] += step
            _, gi, _ = problem.evaluate(th, True, False)
            if gi is None:
                return None
            hess[:, i] = (gi - g0) / step
        hess = (hess + hess.T) / 2
    try:
        np.linalg.cholesky(hess)
    except np.linalg.LinAlgError:
        return None
    return hess


def _fisher_scoring(problem: _Problem, theta0, max_iter: int = 300, tol: float = 1e-10,
                    newton_after: int = 10):
    """Fisher scoring with backtracking, then Newton steps (observed Hessian) if it is slow.

    Fisher scoring converges only linearly where the model fits badly (the expected and the
    observed information differ); after ``newton_after`` iterations, when the decrement
    shrinks by less than a factor 20 per iteration, a Newton step is used whenever the
    observed Hessian is positive definite. Converged when the scaled decrement ``g'H^-1 g`` is
    below ``tol`` and the largest gradient element below 1e-5.
    """
    theta = np.asarray(theta0, dtype=float).copy()
    prev_decrement = np.inf
    f, g, h = problem.evaluate(theta, True, True)
    if not np.isfinite(f):
        return theta, f, False, 0, "non-finite discrepancy at the starting values"
    for it in range(1, max_iter + 1):
        try:
            step = np.linalg.solve(h, g)
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(h, g, rcond=None)[0]
        decrement = float(g @ step)
        if 0 <= decrement < tol and np.max(np.abs(g)) < 1e-5:
            return theta, f, True, it - 1, "converged"
        slow = it > newton_after and decrement > 0.05 * prev_decrement
        prev_decrement = decrement
        hess = _observed_hessian(problem, theta, g) if slow else None
        if hess is not None:
            step = np.linalg.solve(hess, g)
            decrement = float(g @ step)
        t, accepted = 1.0, False
        while t > 1e-10:
            cand = theta - t * step
            fc, _, _ = problem.evaluate(cand, False, False)
            if np.isfinite(fc) and fc <= f - 1e-4 * t * max(decrement, 0.0):
                accepted = True
                break
            t /= 2
        if not accepted:
            ok = np.max(np.abs(g)) < 1e-6
            return theta, f, ok, it, ("converged" if ok else "line search failed")
        theta = cand
        f, g, h = problem.evaluate(theta, True, True)
    return theta, f, False, max_iter, f"no convergence in {max_iter} iterations"


def _scipy_solve(problem: _Problem, theta0, method: str, max_iter: int):
    def fun(th):
        f, g, _ = problem.evaluate(th, True, False)
        if not np.isfinite(f):
            return 1e10, np.zeros_like(th)
        return f, g

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = _opt.minimize(fun, theta0, jac=True, method=method,
                            options={"maxiter": max_iter})
    return np.asarray(res.x, dtype=float)


def _semopy_solve(problem: _Problem, theta0, max_iter: int):
    """semopy's own fit (SLSQP on its MLW objective, variances bounded at 0)."""
    grp = problem.groups[0]
    sm = grp.sm
    sm.param_vals = np.asarray(theta0, dtype=float).copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = sm.fit(solver="SLSQP", options={"maxiter": max_iter})
    return np.asarray(res.x, dtype=float)


def _simple_start(problem: _Problem) -> np.ndarray:
    """lavaan-like 'simple' starts: loadings 1, paths 0, residual variances half the sample."""
    theta = problem.start()
    for grp, idx in zip(problem.groups, problem.maps):
        t = grp.table[grp.table["free"] >= 0]
        s_diag = np.diag(grp.S)
        for r in t.itertuples():
            pos = idx[r.free]
            if r.op == "=~":
                theta[pos] = 1.0
            elif r.op == "~":
                theta[pos] = 0.0
            elif r.lhs != r.rhs:
                theta[pos] = 0.0
            elif r.matrix == 3 or r.lhs in grp.observed:
                theta[pos] = 0.5 * s_diag[grp.observed.index(r.lhs)]
            else:
                theta[pos] = 0.5 * float(np.mean(s_diag))
    return theta


def _attempt_plan(problem: _Problem, seed: int, max_iter: int):
    start = problem.start()
    yield "fisher", "semopy", lambda: start
    if len(problem.groups) == 1:
        yield "semopy-slsqp", "semopy", lambda: _semopy_solve(problem, start, max_iter)
    yield "l-bfgs-b", "simple", lambda: _scipy_solve(problem, _simple_start(problem),
                                                      "L-BFGS-B", max_iter)
    rng = np.random.default_rng(seed)
    jitter = start * np.exp(rng.normal(0, 0.3, start.size)) + rng.normal(0, 0.05, start.size)
    yield "fisher", "jittered", lambda: jitter


def _optimise(problem: _Problem, *, seed: int, max_iter: int, check) -> list[_Attempt]:
    """Run the attempt plan until one converges to a proper solution."""
    attempts: list[_Attempt] = []
    for solver, start, make in _attempt_plan(problem, seed, max_iter):
        try:
            theta0 = make()
            theta, f, ok, its, msg = _fisher_scoring(problem, theta0, max_iter)
        except (np.linalg.LinAlgError, ValueError, FloatingPointError, RuntimeError,
                ZeroDivisionError) as exc:  # a failed attempt; the next one is tried
            attempts.append(_Attempt(solver, start, problem.start(), np.inf, False, 0, str(exc)))
            continue
        att = _Attempt(solver, start, theta, f, ok, its, msg)
        if ok:
            att.reasons = tuple(check(theta))
        attempts.append(att)
        if ok and not att.reasons:
            break
    return attempts


# ----------------------------------------------------------------------------------------------
# Results: parameter table, standardisation, guard, fit measures
# ----------------------------------------------------------------------------------------------

def _variances(grp: _Group):
    """Model-implied total variances of inner (latent + structural) and observed variables."""
    sm = grp.sm
    beta, lamb, psi, theta = sm.matrices[:4]
    c = np.linalg.inv(np.identity(beta.shape[0]) - beta)
    inner_cov = c @ psi @ c.T
    sigma = lamb @ inner_cov @ lamb.T + theta
    total = dict(zip(grp.observed, np.diag(sigma)))
    total.update(zip(sm.vars["inner"], np.diag(inner_cov)))
    return sigma, inner_cov, total


def _stacked_variances(grp: _Group, theta, draws: np.ndarray):
    """:func:`_variances` for many parameter vectors at once: semopy's first four matrices
    stacked over the rows of ``draws`` (each filled as ``update_matrices`` fills it) and each
    variable's total variance, a column per draw (inner variables over observed ones, as
    :func:`_variances`)."""
    sm = grp.sm
    sm.update_matrices(theta)  # the fixed entries
    mats = []
    for mx, (cells, ids) in zip(sm.matrices[:4], sm.param_ranges[:4]):
        stack = np.repeat(mx[None], len(draws), axis=0)
        if cells:
            stack[(slice(None), *cells)] = draws[:, ids]
        mats.append(stack)
    beta, lamb, psi, theta_mx = mats
    c = np.linalg.inv(np.identity(beta.shape[1]) - beta)
    inner_cov = c @ psi @ np.swapaxes(c, 1, 2)
    sigma = lamb @ inner_cov @ np.swapaxes(lamb, 1, 2) + theta_mx
    total = dict(zip(grp.observed, np.diagonal(sigma, axis1=1, axis2=2).T))
    total.update(zip(sm.vars["inner"], np.diagonal(inner_cov, axis1=1, axis2=2).T))
    return mats, total


def _estimates(grp: _Group, theta) -> pd.DataFrame:
    """Parameter values and std_all at ``theta`` (lavaan's std.all, cov.std = TRUE)."""
    sm = grp.sm
    sm.update_matrices(theta)
    _, _, total = _variances(grp)
    t = grp.table
    est = np.array([sm.matrices[m][i, j] for m, i, j in zip(t["matrix"], t["i"], t["j"])])
    resid = {}
    for (m, i, j, lhs) in zip(t["matrix"], t["i"], t["j"], t["lhs"]):
        if i == j and m in (2, 3):
            resid[lhs] = sm.matrices[m][i, j]
    std = np.full(len(t), np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        for r, (lhs, op, rhs) in enumerate(zip(t["lhs"], t["op"], t["rhs"])):
            if op == "=~":
                std[r] = est[r] * np.sqrt(total[lhs]) / np.sqrt(total[rhs])
            elif op == "~":
                std[r] = est[r] * np.sqrt(total[rhs]) / np.sqrt(total[lhs])
            elif lhs == rhs:
                std[r] = est[r] / total[lhs]
            else:
                std[r] = est[r] / np.sqrt(resid.get(lhs, np.nan) * resid.get(rhs, np.nan))
    out = t[["lhs", "op", "rhs", "label", "free"]].copy()
    out["est"] = est
    out["std_all"] = std
    return out


def _improper_reasons(grp: _Group, theta, std_limit: float = 1.0) -> list[str]:
    """Why a converged solution is not admissible (empty when proper)."""
    reasons = []
    est = _estimates(grp, theta)
    var = est[(est["op"] == "~~") & (est["lhs"] == est["rhs"]) & (est["free"] >= 0)]
    for r in var[var["est"] < 0].itertuples():
        reasons.append(f"negative variance (Heywood case): {r.lhs} ~~ {r.rhs} = {r.est:.4g}")
    big = est[est["op"].isin(["=~", "~"]) & (est["std_all"].abs() > std_limit + 1e-6)]
    for r in big.itertuples():
        kind = "loading" if r.op == "=~" else "path"
        reasons.append(f"standardised {kind} above {std_limit:g}: {r.lhs} {r.op} {r.rhs} "
                       f"std_all = {r.std_all:.3f}")
    sigma, inner_cov, _ = _variances(grp)
    if np.linalg.eigvalsh(sigma).min() <= 0:
        reasons.append("model-implied covariance matrix is not positive definite")
    lat = [i for i, v in enumerate(grp.sm.vars["inner"]) if v in grp.sm.vars["latent"]]
    if lat and np.linalg.eigvalsh(inner_cov[np.ix_(lat, lat)]).min() <= 0:
        reasons.append("latent covariance matrix is not positive definite "
                       "(a latent correlation at or beyond 1)")
    return reasons


def _check_problem(problem: _Problem, theta, std_limit: float) -> list[str]:
    _, _, h = problem.evaluate(theta, False, True)
    reasons = []
    for gi, (grp, idx) in enumerate(zip(problem.groups, problem.maps)):
        rs = _improper_reasons(grp, theta[idx], std_limit)
        prefix = f"group {gi + 1}: " if len(problem.groups) > 1 else ""
        reasons += [prefix + r for r in rs]
    ev = np.linalg.eigvalsh(h) if h is not None and h.size else np.array([1.0])
    if ev.min() <= 1e-10 * max(ev.max(), 1.0):
        reasons.append("information matrix is singular: the model is not identified by these "
                       "data")
    return reasons


def _vcov(problem: _Problem, theta) -> np.ndarray:
    """Inverse expected information: ((N/2) * E[Hessian of F_ML])^-1, lavaan's default."""
    _, _, h = problem.evaluate(theta, False, True)
    info = problem.n / 2.0 * h
    try:
        return np.linalg.inv(info)
    except np.linalg.LinAlgError:
        return np.full_like(info, np.nan)


def _param_table(grp: _Group, theta, vcov, idx, ci: float) -> pd.DataFrame:
    out = _estimates(grp, theta[idx] if idx is not None else theta)
    local = out["free"].to_numpy()
    is_free = local >= 0
    glob = (np.arange(vcov.shape[0]) if idx is None else idx)[np.maximum(local, 0)]
    se = np.full(len(out), np.nan)
    with np.errstate(invalid="ignore"):
        se[is_free] = np.sqrt(np.diag(vcov)[glob[is_free]])
    out["free"] = np.where(is_free, glob + 1, 0)  # lavaan's `free`: 1-based id, 0 = fixed
    out["se"] = se
    z = out["est"] / out["se"]
    out["z"] = z
    out["p_value"] = 2 * _st.norm.sf(np.abs(z))
    q = z_crit(ci)
    out["ci_low"] = out["est"] - q * out["se"]
    out["ci_high"] = out["est"] + q * out["se"]
    order = {"=~": 0, "~": 1, "~~": 2}
    out["_o"] = out["op"].map(order)
    out = out.sort_values(["_o"], kind="stable").drop(columns="_o").reset_index(drop=True)
    cols = ["lhs", "op", "rhs", "label", "free", "est", "se", "z", "p_value", "ci_low",
            "ci_high", "std_all"]
    return out[cols]


def _rmsea_ci(chisq: float, df: float, n: int, level: float = 0.90):
    """lavaan's RMSEA interval: invert the non-central chi-square in its non-centrality."""
    if df < 1:
        return np.nan, np.nan
    lo_q, hi_q = 0.5 + level / 2, 0.5 - level / 2

    def root(q, upper):
        def fun(lam):
            return (_st.ncx2.cdf(chisq, df, lam) if lam > 0 else _st.chi2.cdf(chisq, df)) - q

        if fun(0.0) < 0 or fun(upper) > 0:
            return 0.0
        return _opt.brentq(fun, 0.0, upper, xtol=1e-12)

    lam_l = root(lo_q, max(chisq, 1e-8))
    lam_u = root(hi_q, max(n, 4 * chisq))
    return float(np.sqrt(lam_l / (n * df))), float(np.sqrt(lam_u / (n * df)))


def _group_terms(grp: _Group, means: bool) -> dict:
    """One group's sample moments, baseline chi-square, log-likelihoods and SRMR."""
    p, kx = len(grp.observed), len(grp.fixed_x)
    s_diag = np.diag(grp.S)
    xi = [grp.observed.index(v) for v in grp.fixed_x]
    rest = [i for i in range(p) if i not in xi]
    lx = np.linalg.slogdet(grp.S[np.ix_(xi, xi)])[1] if xi else 0.0
    sigma, _, _ = _variances(grp)
    logl = -grp.n / 2 * (p * np.log(2 * np.pi) + np.linalg.slogdet(sigma)[1]
                         + np.trace(grp.S @ np.linalg.inv(sigma)))
    logl_h1 = -grp.n / 2 * (p * np.log(2 * np.pi) + grp.logdet_S + p)
    if xi:  # lavaan's fixed.x: the log-likelihood is conditional on the covariates
        lx_marg = -grp.n / 2 * (kx * np.log(2 * np.pi) + lx + kx)
        logl, logl_h1 = logl - lx_marg, logl_h1 - lx_marg
    d = 1 / np.sqrt(s_diag)
    resid = ((grp.S - sigma) * np.outer(d, d))[np.tril_indices(p)]
    # Bentler's SRMR; with (saturated) means their zero residuals join the average, as lavaan
    n_res = resid.size + (p if means else 0)
    return {"pstar": p * (p + 1) // 2 - kx * (kx + 1) // 2,
            "df_b": p * (p - 1) // 2 - kx * (kx - 1) // 2,
            "chisq_b": grp.n * (np.log(s_diag[rest]).sum() + lx - grp.logdet_S),
            "logl": logl, "logl_h1": logl_h1,
            "srmr": np.sqrt(np.sum(resid ** 2) / n_res), "means": p if means else 0}


def _fit_measures(problem: _Problem, fmin: float, means: bool = False) -> pd.Series:
    """lavaan's fit measures (single group, or multi-group totals with ``means=True``: lavaan
    then has a saturated mean structure, whose intercepts count in ``npar``)."""
    n = problem.n
    chisq = n * fmin  # = sum over groups of n_g * F_g
    terms = [_group_terms(grp, means) for grp in problem.groups]
    pstar = sum(t["pstar"] for t in terms)
    df_b = sum(t["df_b"] for t in terms)
    chisq_b = sum(t["chisq_b"] for t in terms)
    logl = sum(t["logl"] for t in terms)
    logl_h1 = sum(t["logl_h1"] for t in terms)
    srmr_num = sum(t["srmr"] * grp.n for t, grp in zip(terms, problem.groups))
    df = pstar - problem.k
    npar = problem.k + sum(t["means"] for t in terms)
    ngroups = len(problem.groups)
    t1 = max(chisq - df, 0.0)
    t2 = max(chisq - df, chisq_b - df_b, 0.0)
    cfi = 1.0 if t1 == 0 and t2 == 0 else 1 - t1 / t2
    if df > 0:
        a, b = chisq_b / df_b - chisq / df, chisq_b / df_b - 1
        tli = 1.0 if (a < 0 and b < 0) else a / b
        rmsea = np.sqrt(ngroups) * np.sqrt(max(chisq / (n * df) - 1 / n, 0.0))
        lo, hi = _rmsea_ci(chisq, df, n)
        lo, hi = np.sqrt(ngroups) * lo, np.sqrt(ngroups) * hi
        rmsea_p = float(_st.ncx2.sf(chisq, df, n * df * 0.05 ** 2 / ngroups))
        p_value = float(_st.chi2.sf(chisq, df))
    else:  # saturated model: lavaan reports TLI 1 and RMSEA 0 (interval 0, 0), no p-values
        tli, rmsea, lo, hi = 1.0, 0.0, 0.0, 0.0
        rmsea_p = p_value = np.nan
    return pd.Series({
        "chisq": chisq, "df": float(df), "p_value": p_value, "cfi": cfi, "tli": tli,
        "rmsea": rmsea, "rmsea_ci_low": lo, "rmsea_ci_high": hi, "rmsea_p_close": rmsea_p,
        "srmr": srmr_num / n, "aic": -2 * logl + 2 * npar,
        "bic": -2 * logl + npar * np.log(n), "logl": logl, "unrestricted_logl": logl_h1,
        "npar": float(npar), "baseline_chisq": chisq_b, "baseline_df": float(df_b),
        "n": float(n)})


def _r_squared(grp: _Group, params: pd.DataFrame) -> pd.DataFrame:
    """1 - residual variance / total variance for every endogenous variable (lavaan's r2)."""
    _, _, total = _variances(grp)
    resid = {r.lhs: r.est for r in params[(params["op"] == "~~")
                                          & (params["lhs"] == params["rhs"])].itertuples()}
    structural = list(dict.fromkeys(params.loc[params["op"] == "~", "lhs"]))
    indicators = [v for v in dict.fromkeys(params.loc[params["op"] == "=~", "rhs"])
                  if v not in structural]
    rows = [(v, kind, 1 - resid[v] / total[v]) for kind, vs in
            (("structural", structural), ("indicator", indicators)) for v in vs if v in resid]
    return pd.DataFrame(rows, columns=["variable", "kind", "r2"])


# ----------------------------------------------------------------------------------------------
# Public fitting API
# ----------------------------------------------------------------------------------------------

@dataclass
class SemFit:
    """A fitted model. Tables follow lavaan's ``parameterEstimates`` and ``fitMeasures``.

    Attributes
    ----------
    model : SemModel
    parameters : DataFrame
        ``lhs, op, rhs, label, free, est, se, z, p_value, ci_low, ci_high, std_all``; ``free``
        is lavaan's 1-based id of a free parameter (0 when fixed; fixed rows have NaN ``se``).
    fit_measures : Series
        ``chisq, df, p_value, cfi, tli, rmsea, rmsea_ci_low, rmsea_ci_high`` (90% as lavaan),
        ``rmsea_p_close, srmr, aic, bic, logl, unrestricted_logl, npar, baseline_chisq,
        baseline_df, n``.
    r_squared : DataFrame
        ``variable, kind, r2`` for each endogenous variable (structural, then indicators).
    n, n_dropped : int
        Rows used (complete on the model's variables: listwise deletion, lavaan's default) and
        rows dropped for missing values.
    converged, proper : bool
        The guard's verdict; ``reasons`` lists every problem found.
    attempts : DataFrame
        Each optimisation attempt (solver, starting values, discrepancy, verdict).
    notes : tuple of str
        Modelling choices a report must state (binary outcomes fitted as continuous...).
    estimator, missing : str
        How it was fitted (``"ML"`` or ``"MLR"``; ``"listwise"`` or ``"fiml"``). MLR adds the
        scaled test and robust indices to ``fit_measures`` (``chisq_scaled``,
        ``scaling_factor``, ``cfi_robust``, ``rmsea_robust``...); FIML adds intercept rows
        (``op == "~1"``) to ``parameters``.
    """

    model: SemModel
    parameters: pd.DataFrame
    fit_measures: pd.Series
    r_squared: pd.DataFrame
    n: int
    n_dropped: int
    converged: bool
    proper: bool
    reasons: tuple[str, ...]
    attempts: pd.DataFrame
    notes: tuple[str, ...]
    data: pd.DataFrame = field(repr=False)
    _problem: _Problem = field(repr=False)
    _theta: np.ndarray = field(repr=False)
    _vcov: np.ndarray = field(repr=False)
    estimator: str = "ML"
    missing: str = "listwise"

    def __repr__(self) -> str:
        fm = self.fit_measures
        state = "proper" if self.proper else f"IMPROPER ({len(self.reasons)} problem(s))"
        how = "" if (self.estimator, self.missing) == ("ML", "listwise") else \
            f" [{self.estimator}, {self.missing}]"
        return (f"<SemFit {self.model.name!r}{how}: n = {self.n}, chisq = {fm['chisq']:.3f} on "
                f"{fm['df']:.0f} df, CFI = {fm['cfi']:.3f}, RMSEA = {fm['rmsea']:.3f}, {state}>")

    def hypotheses(self, alpha: float = 0.05) -> pd.DataFrame:
        """Hypothesised paths with their estimates and whether each is supported.

        A path is supported when ``p_value < alpha`` and its estimate has the hypothesised sign
        (any sign when none is hypothesised).
        """
        rows = []
        reg = self.parameters[self.parameters["op"] == "~"].set_index(["lhs", "rhs"])
        for p in self.model.paths:
            r = reg.loc[(p.target, p.source)]
            sign_ok = (p.sign is None or (p.sign == "+" and r["est"] > 0)
                       or (p.sign == "-" and r["est"] < 0))
            rows.append({"source": p.source, "target": p.target, "sign": p.sign or "",
                         "est": r["est"], "se": r["se"], "z": r["z"], "p_value": r["p_value"],
                         "std_all": r["std_all"],
                         "supported": bool(sign_ok and r["p_value"] < alpha)})
        return pd.DataFrame(rows, columns=["source", "target", "sign", "est", "se", "z",
                                           "p_value", "std_all", "supported"])


def _to_float(col: pd.Series) -> np.ndarray:
    """Numbers as float64 with NaN for missing; booleans (also nullable) as 0/1."""
    if pd.api.types.is_bool_dtype(col.dtype):
        col = col.astype("Float64")
    num = pd.to_numeric(col, errors="coerce").astype("Float64")
    return num.to_numpy(dtype=float, na_value=np.nan)


def _complete_rows(data: pd.DataFrame, columns: list[str]) -> tuple[pd.DataFrame, pd.Series]:
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise InsufficientDataError(f"the model's variables {missing} are not in the data "
                                    f"(n = {len(data)})")
    num = pd.DataFrame({c: _to_float(data[c]) for c in columns}, index=data.index)
    keep = num.notna().all(axis=1)
    return num[keep], keep


def _make_group(syntax: str, data: pd.DataFrame) -> tuple[_Group, pd.Series, list[str]]:
    syntax, added = _lavaan_auto_cov(syntax)
    observed = list(_semopy_model(syntax).vars["observed"])
    x, keep = _complete_rows(data, observed)
    if len(x) <= len(observed):
        raise InsufficientDataError(f"{len(x)} complete rows for {len(observed)} observed "
                                    f"variables: too few to fit the model (n = {len(x)})")
    return _Group(syntax, x), keep, added


def _identified_df(grp: _Group, k: int) -> int:
    p, kx = len(grp.observed), len(grp.fixed_x)
    return p * (p + 1) // 2 - kx * (kx + 1) // 2 - k


def _choose(attempts: list[_Attempt]) -> _Attempt:
    conv = [a for a in attempts if a.converged]
    if not conv:
        return min(attempts, key=lambda a: a.fmin if np.isfinite(a.fmin) else np.inf)
    best = min(a.fmin for a in conv)
    proper = [a for a in conv if not a.reasons and a.fmin <= best + 1e-8]
    return proper[0] if proper else min(conv, key=lambda a: a.fmin)


def _attempts_frame(attempts: list[_Attempt]) -> pd.DataFrame:
    return pd.DataFrame([{"solver": a.solver, "start": a.start, "fmin": a.fmin,
                          "iterations": a.iterations, "converged": a.converged,
                          "proper": a.converged and not a.reasons, "message": a.message}
                         for a in attempts])


def _verdict(chosen: _Attempt) -> tuple[bool, list[str]]:
    reasons = list(chosen.reasons)
    if not chosen.converged:
        reasons.insert(0, f"did not converge ({chosen.message})")
    return chosen.converged, reasons


def _enforce(policy: str, name: str, reasons: list[str]) -> None:
    if policy not in _ON_IMPROPER:
        raise ValueError(f"on_improper must be one of {_ON_IMPROPER}, got {policy!r}")
    if reasons and policy == "raise":
        raise ConvergenceError(f"model {name!r}: no proper ML solution: " + "; ".join(reasons))


@_single_threaded
def fit_sem(model, data: pd.DataFrame, *, on_improper: str = "raise", ci: float = 0.95,
            seed: int = 0, max_iter: int = 300, std_limit: float = 1.0,
            estimator: str = "ML", missing: str = "listwise", std_lv: bool = False,
            ordered=None) -> SemFit:
    """Fit a model by maximum likelihood, as ``lavaan::sem()`` does, behind a guard.

    Parameters
    ----------
    model : SemModel or str
        A model from :func:`kmv_crq_model` and friends, or lavaan syntax.
    data : DataFrame
        One row per respondent; booleans are read as 0/1. Rows missing any of the model's
        variables are dropped (listwise deletion, lavaan's default); ``n_dropped`` says how
        many.
    on_improper : {"raise", "flag"}
        What to do when no attempt converges to a proper solution: raise
        :class:`~crqlab.errors.ConvergenceError` (default), or return the best attempt with
        ``proper=False`` and its ``reasons`` (a report must then not present it as a finding).
    ci : float
        Level of the Wald intervals ``ci_low, ci_high``.
    seed : int
        Seeds the jittered starting values of the last retry.
    max_iter : int
        Iteration cap of each attempt.
    std_limit : float
        A standardised loading or path beyond this in absolute value makes a solution improper.
    estimator : {"ML", "MLR", "WLSMV"}
        ``"ML"`` (default): normal-theory standard errors (expected information) and
        chi-square. ``"MLR"``: the same estimates with robust (Huber-White sandwich) standard
        errors, the Yuan-Bentler scaled chi-square and robust CFI, TLI and RMSEA, as lavaan's
        ``estimator = "MLR"`` - for skewed or kurtotic items such as 1-7 Likert answers.
        ``"WLSMV"``: the items are ordinal (all, or those in ``ordered``); DWLS on
        polychoric (and polyserial) correlations with robust SEs and the scaled-shifted test,
        as lavaan's ``ordered = TRUE, estimator = "WLSMV"``
        (:func:`crqlab.models.ordinal.fit_wlsmv`; listwise deletion only).
    missing : {"listwise", "fiml"}
        ``"listwise"`` (default) drops incomplete rows. ``"fiml"``: full-information ML over
        the missing-data patterns (lavaan's ``missing = "ml"``), with intercepts, observed-
        information standard errors and the chi-square against the EM-saturated model.
    std_lv : bool
        ``False`` (default): each latent variable is scaled by its first indicator (marker
        loading 1). ``True``: by a unit (residual) variance, every loading free (lavaan's
        ``std.lv = TRUE``). Either way ``NA*x`` frees a loading.
    ordered : None, True or list of str
        Only with ``estimator="WLSMV"``: which columns are ordinal (lavaan's ``ordered``).
        ``None`` (default) or ``True``: every observed variable of the model. A list: those
        columns are ordinal and the model's other variables continuous (e.g. Likert items
        ordinal, a 0-10 recommendation answer or an index numeric): means, variances,
        Pearson covariances and polyserial correlations enter the fit, and the continuous
        variables' residual variances are free, as lavaan's ``ordered = c(...)``.

    The syntax also takes lavaan's habits: equality labels (``a*x2 + a*x3``: one parameter;
    a label on a marker loading fixes it, and the loadings sharing its label, at 1);
    ``name := expression`` defined parameters of labels (``ind := a*b``), reported as
    ``op == ":="`` rows with delta-method SEs, ``+ - * / ^`` and ``sqrt, exp, log, abs, tanh,
    pnorm``; a single-indicator latent variable gets its indicator's residual variance fixed
    at 0 (lavaan's ``auto.fix.single``; the notes say so) instead of being unidentified.

    Returns
    -------
    SemFit

    Raises
    ------
    InsufficientDataError
        Variables missing from ``data``; no more complete rows than observed variables; a
        singular sample covariance matrix.
    ConvergenceError
        Negative degrees of freedom (not identified); with ``on_improper="raise"``, no attempt
        converged to a proper solution.
    ValueError
        An unknown ``estimator`` or ``missing``; MLR or FIML with observed exogenous
        covariates (lavaan's ``fixed.x``), which they do not support here; ``ordered`` with
        an estimator other than ``"WLSMV"``.

    Notes
    -----
    Attempts, in order, until one converges to a proper solution: Fisher scoring from
    semopy's starting values; semopy's SLSQP fit then Fisher scoring; L-BFGS-B from lavaan-like
    "simple" starting values then Fisher scoring; Fisher scoring from jittered starting values.
    Among converged attempts the lowest discrepancy wins (a proper one if it ties). A
    converged attempt is improper if a variance is negative, a standardised loading or path
    exceeds ``std_limit``, the implied or latent covariance matrix is not positive definite, or
    the information matrix is singular.

    Validated against lavaan 0.6 (``tests/results/lavaan/make_lavaan.R``): the
    HolzingerSwineford1939 CFA, the PoliticalDemocracy SEM, a MIMIC model with fixed
    exogenous covariates, a Heywood case and KMV models on synthetic data agree in every
    estimate, SE, std_all and fit measure (see ``tests/models/test_sem.py`` for tolerances).
    MLR and FIML are computed in :mod:`crqlab.models.likelihood` and validated there against
    lavaan's ``estimator = "MLR"`` and ``missing = "fiml"``. ``std_lv``, equality labels,
    ``:=`` definitions (ML, MLR and WLSMV SEs) and single-indicator factors agree with lavaan
    0.6 on HolzingerSwineford1939 (also its 3-category version, WLSMV) and PoliticalDemocracy
    to 1e-4 in estimates and SEs
    (``tests/results/lavaan/make_lavaan_syntax.R``, ``tests/models/test_sem.py``).
    """
    from crqlab.models import likelihood  # it builds on this module's engine

    sem_model = _as_model(model)
    if on_improper not in _ON_IMPROPER:
        raise ValueError(f"on_improper must be one of {_ON_IMPROPER}, got {on_improper!r}")
    if estimator not in (*likelihood.ESTIMATORS, "WLSMV"):
        raise ValueError(f"estimator must be one of {(*likelihood.ESTIMATORS, 'WLSMV')}, got "
                         f"{estimator!r}")
    if ordered is not None and estimator != "WLSMV":
        raise ValueError(f"ordered={ordered!r} applies to estimator='WLSMV' only (the "
                         f"likelihood estimators treat every variable as continuous), got "
                         f"estimator={estimator!r}")
    prep = _prepare_syntax(sem_model.syntax, std_lv)
    if prep.syntax is not sem_model.syntax:
        work = SemModel(sem_model.name, prep.syntax, sem_model.paths, sem_model.indicators,
                        sem_model.binary, sem_model.notes + prep.notes)
        fit = fit_sem(work, data, on_improper=on_improper, ci=ci, seed=seed,
                      max_iter=max_iter, std_limit=std_limit, estimator=estimator,
                      missing=missing, ordered=ordered)
        params = fit.parameters.copy()
        for lhs, op, rhs, label in prep.fixed_labels:  # the user's label on fixed loadings
            params.loc[(params["lhs"] == lhs) & (params["op"] == op)
                       & (params["rhs"] == rhs), "label"] = label
        if prep.defined:
            params = pd.concat([params, _defined_rows(params, fit._theta, fit._vcov,
                                                      prep.defined, ci)], ignore_index=True)
        return replace(fit, model=sem_model, parameters=params)
    if estimator == "WLSMV":  # ordinal items: crqlab.models.ordinal (it refuses missing="fiml")
        from crqlab.models import ordinal

        return ordinal.fit_wlsmv(sem_model, data, ordered=ordered, missing=missing,
                                 on_improper=on_improper, ci=ci, max_iter=max_iter,
                                 std_limit=std_limit)
    likelihood.check_options(estimator, missing)
    if missing == "fiml":
        return likelihood.fit_fiml(sem_model, data, estimator=estimator,
                                   on_improper=on_improper, ci=ci, seed=seed,
                                   max_iter=max_iter, std_limit=std_limit)
    grp, keep, added = _make_group(sem_model.syntax, data)
    df = _identified_df(grp, grp.k)
    if df < 0:
        raise ConvergenceError(f"model {sem_model.name!r} is not identified: {grp.k} free "
                               f"parameters for {df + grp.k} sample moments (df = {df})")
    problem = _Problem([grp])
    attempts = _optimise(problem, seed=seed, max_iter=max_iter,
                         check=lambda th: _check_problem(problem, th, std_limit))
    chosen = _choose(attempts)
    converged, reasons = _verdict(chosen)
    _enforce(on_improper, sem_model.name, reasons)
    notes = tuple(sem_model.notes)
    if added:
        notes += ("free residual covariances among terminal endogenous variables, as lavaan's "
                  "sem() (auto.cov.y): " + ", ".join(added),)
    fit = _build_fit(sem_model, problem, chosen.theta, chosen.fmin, data.loc[keep],
                     int((~keep).sum()), converged, reasons, _attempts_frame(attempts), ci,
                     notes)
    return likelihood.robustify(fit, ci) if estimator == "MLR" else fit


def _build_fit(sem_model, problem, theta, fmin, used, n_dropped, converged, reasons,
               attempts, ci, notes) -> SemFit:
    grp = problem.groups[0]
    vcov = _vcov(problem, theta)
    params = _param_table(grp, theta, vcov, None, ci)
    grp.sm.update_matrices(theta)
    measures = _fit_measures(problem, fmin)
    if grp.fixed_x:
        notes += (f"observed exogenous covariates {grp.fixed_x} have their (co)variances fixed "
                  "at the sample values (lavaan's fixed.x); they are not counted in npar",)
    return SemFit(model=sem_model, parameters=params, fit_measures=measures,
                  r_squared=_r_squared(grp, params), n=grp.n, n_dropped=n_dropped,
                  converged=converged, proper=not reasons, reasons=tuple(reasons),
                  attempts=attempts, notes=notes, data=used, _problem=problem, _theta=theta,
                  _vcov=vcov)


def compare_models(fits, alpha: float = 0.05) -> pd.DataFrame:
    """Compare fitted models as Morgan & Hunt (1994) compared the KMV and rival models.

    Parameters
    ----------
    fits : dict of name -> SemFit, or list of SemFit (named by ``fit.model.name``)
    alpha : float
        Significance level for "supported".

    Returns
    -------
    DataFrame
        One row per model: ``model, n, chisq, df, p_value, cfi, tli, rmsea, rmsea_ci_low,
        rmsea_ci_high, srmr, aic, bic, n_paths, n_supported, share_supported, proper`` and
        ``r2_<outcome>`` for every outcome of any model (NaN where a model lacks it).

    Notes
    -----
    Fit measures are lavaan's (validated in ``tests/models/test_sem.py``); a path is supported when
    significant at ``alpha`` with the hypothesised sign (see :meth:`SemFit.hypotheses`).
    AIC and BIC are comparable only between fits to the same rows and variables.
    """
    items = fits.items() if isinstance(fits, dict) else ((f.model.name, f) for f in fits)
    rows = []
    for name, fit in items:
        fm = fit.fit_measures
        row = {"model": name, "n": fit.n}
        row.update({k: fm[k] for k in ("chisq", "df", "p_value", "cfi", "tli", "rmsea",
                                       "rmsea_ci_low", "rmsea_ci_high", "srmr", "aic", "bic")})
        hyp = fit.hypotheses(alpha)
        row["n_paths"] = len(hyp)
        row["n_supported"] = int(hyp["supported"].sum())
        row["share_supported"] = hyp["supported"].mean() if len(hyp) else np.nan
        row["proper"] = fit.proper
        r2 = fit.r_squared.set_index("variable")["r2"]
        for o in fit.model.outcomes:
            row[f"r2_{o}"] = r2.get(o, np.nan)
        rows.append(row)
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------------------------
# Bootstrap and indirect effects
# ----------------------------------------------------------------------------------------------

def _weighted_cov(x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, float]:
    n = w.sum()
    mean = w @ x / n
    xc = x - mean
    return (xc * w[:, None]).T @ xc / n, n


def _bootstrap_draws(fit: SemFit, cluster, n_boot: int, seed: int, max_iter: int = 100):
    """Refit on account-cluster resamples (frequency-weighted covariances; warm starts)."""
    if fit.estimator == "WLSMV":  # the refits below are ML fits of covariances
        raise ValueError(f"the bootstrap refits by ML; fit {fit.model.name!r} is WLSMV: use "
                         "its robust standard errors, or method='monte_carlo'")
    grp = fit._problem.groups[0]
    x = np.column_stack([_to_float(fit.data[c]) for c in grp.observed])
    if cluster is None:
        labels = np.arange(len(x))
    elif isinstance(cluster, str):
        labels = fit.data[cluster].to_numpy()
    else:
        labels = np.asarray(cluster)
        if labels.shape[0] != len(x):
            raise ValueError(f"cluster has {labels.shape[0]} labels for {len(x)} rows used")
    codes, weights = cluster_bootstrap_weights(labels, n_boot, seed)
    problem = _Problem([grp])
    s0, n0 = grp.S, grp.n
    draws, failed = [], 0
    try:
        for w in weights:
            cov, n = _weighted_cov(x, w[codes])
            try:
                grp.set_cov(cov, n)
            except InsufficientDataError:
                failed += 1
                continue
            # bootstrap precision: decrement 1e-8 moves estimates by ~1e-4, far below their SE
            theta, _, ok, _, _ = _fisher_scoring(problem, fit._theta, max_iter, tol=1e-8,
                                                 newton_after=4)
            if ok:
                draws.append(theta)
            else:
                failed += 1
    finally:
        grp.set_cov(s0, n0)
        grp.sm.update_matrices(fit._theta)
    k = len(fit._theta)
    return (np.array(draws) if draws else np.empty((0, k))), failed, int(weights.shape[1])


@_single_threaded
def bootstrap_sem(fit: SemFit, *, cluster=None, n_boot: int = 500, ci: float = 0.95,
                  seed: int = 0) -> pd.DataFrame:
    """Cluster-bootstrap SEs and percentile intervals of every free parameter.

    Parameters
    ----------
    fit : SemFit
    cluster : str or array-like, optional
        Column of ``fit.data`` (e.g. ``"account_id"``) or labels aligned with its rows; whole
        clusters are resampled. Default: rows are resampled (ordinary bootstrap).
    n_boot : int
        Resamples (small values are fine for tests; 1000+ for reports).
    ci : float
        Level of the percentile interval.
    seed : int
        Seed of the resampling (via :func:`crqlab.stats.cluster_bootstrap_weights`).

    Returns
    -------
    DataFrame
        ``lhs, op, rhs, free, est, se, ci_low, ci_high, n, n_accounts, n_boot, n_failed``:
        ``se`` is the SD of the bootstrap estimates; resamples whose refit did not converge
        are dropped and counted in ``n_failed``.

    Notes
    -----
    Each resample's covariance is the frequency-weighted covariance of the drawn clusters
    (identical to refitting the stacked resampled rows) and is refitted by Fisher scoring from
    the full-sample estimates. Checked in ``tests/models/test_sem.py``: with one row per cluster the
    bootstrap SEs agree with the expected-information SEs.
    """
    if fit.missing != "listwise":
        raise ValueError(f"bootstrap_sem resamples complete rows; fit {fit.model.name!r} used "
                         f"missing={fit.missing!r} (use its standard errors, or refit with "
                         "missing='listwise')")
    draws, failed, k = _bootstrap_draws(fit, cluster, n_boot, seed)
    par = fit.parameters[fit.parameters["free"] > 0].drop_duplicates("free")
    cols = par["free"].to_numpy() - 1
    lo, hi = 50 * (1 - ci), 50 * (1 + ci)
    out = par[["lhs", "op", "rhs", "free", "est"]].reset_index(drop=True)
    d = draws[:, cols] if len(draws) else np.full((0, len(cols)), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        out["se"] = d.std(axis=0, ddof=1) if len(d) > 1 else np.nan
        out["ci_low"] = np.percentile(d, lo, axis=0) if len(d) else np.nan
        out["ci_high"] = np.percentile(d, hi, axis=0) if len(d) else np.nan
    out["n"], out["n_accounts"], out["n_boot"], out["n_failed"] = fit.n, k, n_boot, failed
    return out


def _chains(model: SemModel) -> list[tuple[str, ...]]:
    """Every directed chain from an antecedent to an outcome through at least one mediator."""
    out: dict[str, list[str]] = {}
    for p in model.paths:
        out.setdefault(p.source, []).append(p.target)
    outcomes = set(model.outcomes)
    found = []

    def walk(chain):
        for nxt in out.get(chain[-1], []):
            if nxt in chain:
                continue
            if nxt in outcomes:
                if len(chain) >= 2:
                    found.append((*chain, nxt))
            else:
                walk((*chain, nxt))

    for a in model.antecedents:
        walk((a,))
    return found


def _path_index(fit: SemFit, chain) -> tuple[np.ndarray, np.ndarray]:
    """Free id (0-based, -1 if fixed) and estimate of each link of a chain."""
    reg = fit.parameters[fit.parameters["op"] == "~"].set_index(["lhs", "rhs"])
    ids, est = [], []
    for a, b in zip(chain[:-1], chain[1:]):
        if (b, a) not in reg.index:
            raise ValueError(f"the model has no path {a} -> {b}")
        r = reg.loc[(b, a)]
        ids.append(int(r["free"]) - 1)
        est.append(float(r["est"]))
    return np.array(ids), np.array(est)


def _link_positions(fit: SemFit, chains) -> list[list[tuple[int, int, int, str, str]]]:
    """For each chain, each link's (matrix, i, j, lhs, rhs) in semopy's matrices."""
    t = fit._problem.groups[0].table
    reg = t[t["op"] == "~"].set_index(["lhs", "rhs"])
    out = []
    for chain in chains:
        links = []
        for a, b in zip(chain[:-1], chain[1:]):
            if (b, a) not in reg.index:
                raise ValueError(f"the model has no path {a} -> {b}")
            r = reg.loc[(b, a)]
            r = r.iloc[0] if isinstance(r, pd.DataFrame) else r
            links.append((int(r["matrix"]), int(r["i"]), int(r["j"]), b, a))
        out.append(links)
    return out


def _chain_values(fit: SemFit, chains, draws, standardized: bool) -> np.ndarray:
    """Products of the chain's paths for each row of ``draws`` (free parameter vectors)."""
    out = np.empty((len(draws), len(chains)))
    if standardized:
        grp = fit._problem.groups[0]
        positions = _link_positions(fit, chains)
        mats, total = _stacked_variances(grp, fit._theta, np.asarray(draws, dtype=float))
        for c, links in enumerate(positions):
            value = np.ones(len(draws))
            for m, a, b, lhs, rhs in links:
                value = value * (mats[m][:, a, b] * np.sqrt(total[rhs] / total[lhs]))
            out[:, c] = value
        return out
    for c, chain in enumerate(chains):
        ids, est = _path_index(fit, chain)
        vals = np.where(ids[None, :] >= 0, draws[:, np.maximum(ids, 0)], est[None, :])
        out[:, c] = vals.prod(axis=1)
    return out


def indirect_effects(fit: SemFit, chains=None, *, method: str = "monte_carlo",
                     n_draws: int = 5000, n_boot: int = 500, cluster=None, ci: float = 0.95,
                     standardized: bool = False, seed: int = 0) -> pd.DataFrame:
    """Indirect effects (products of paths along chains) with an interval.

    Parameters
    ----------
    fit : SemFit
    chains : list of tuple of str, optional
        E.g. ``[("service", "trust", "commitment", "nps")]``. Default: every chain of the
        model's hypothesised paths from an antecedent to an outcome through a mediator.
    method : {"monte_carlo", "bootstrap", "delta"}
        ``monte_carlo``: draw the free parameters from their asymptotic normal distribution
        (estimates, inverse expected information) and take percentiles of the products (fast).
        ``bootstrap``: resample whole clusters (``cluster=`` column, e.g. ``"account_id"``),
        refit, percentiles. ``delta``: first-order delta-method SE and a Wald interval (the
        Sobel test), as lavaan's ``:=``.
    n_draws, n_boot : int
        Monte Carlo draws; bootstrap resamples.
    cluster : str or array-like, optional
        Bootstrap clusters (see :func:`bootstrap_sem`).
    ci : float
        Interval level.
    standardized : bool
        Products of ``std_all`` paths instead of raw paths (not with ``delta``).
    seed : int
        Seed of every random draw.

    Returns
    -------
    DataFrame
        ``effect, source, target, est, se, z, p_value, ci_low, ci_high, method, n, n_draws,
        n_failed``; ``se`` is the SD of the draws (Monte Carlo, bootstrap) or the delta-method
        SE; ``z`` and ``p_value`` are given for ``delta`` only.

    Notes
    -----
    ``delta`` reproduces lavaan's defined parameter ``ind := a*b`` on PoliticalDemocracy
    (estimate and SE, ``tests/models/test_sem.py``); the Monte Carlo SD agrees with the delta SE in
    large samples and its interval covers the planted indirect effect of synthetic data.
    """
    if method not in ("monte_carlo", "bootstrap", "delta"):
        raise ValueError(f"method must be monte_carlo, bootstrap or delta, got {method!r}")
    chains = [tuple(c) for c in (chains if chains is not None else _chains(fit.model))]
    if not chains:
        raise ValueError(f"model {fit.model.name!r} has no mediated chain; pass chains=")
    point = (_chain_values(fit, chains, fit._theta[None, :], True)[0] if standardized
             else _chain_values(fit, chains, fit._theta[None, :], False)[0])
    n_failed, n_used = 0, 0
    z = p = None
    if method == "delta":
        if standardized:
            raise ValueError("standardized=True needs method='monte_carlo' or 'bootstrap'")
        se = np.array([_delta_se(fit, c) for c in chains])
        q = z_crit(ci)
        lo, hi = point - q * se, point + q * se
        z = point / se
        p = 2 * _st.norm.sf(np.abs(z))
    else:
        if method == "monte_carlo":
            rng = np.random.default_rng(seed)
            draws = rng.multivariate_normal(fit._theta, fit._vcov, size=n_draws,
                                            method="eigh")
        else:
            if fit.missing != "listwise":
                raise ValueError("method='bootstrap' resamples complete rows; this fit used "
                                 f"missing={fit.missing!r}: use method='monte_carlo'")
            draws, n_failed, _ = _bootstrap_draws(fit, cluster, n_boot, seed)
        n_used = len(draws)
        vals = _chain_values(fit, chains, draws, standardized)
        se = vals.std(axis=0, ddof=1)
        lo, hi = np.percentile(vals, [50 * (1 - ci), 50 * (1 + ci)], axis=0)
    out = pd.DataFrame({"effect": [" -> ".join(c) for c in chains],
                        "source": [c[0] for c in chains], "target": [c[-1] for c in chains],
                        "est": point, "se": se,
                        "z": z if z is not None else np.nan,
                        "p_value": p if p is not None else np.nan,
                        "ci_low": lo, "ci_high": hi})
    out["method"], out["n"], out["n_draws"], out["n_failed"] = method, fit.n, n_used, n_failed
    return out


def _delta_se(fit: SemFit, chain) -> float:
    ids, est = _path_index(fit, chain)
    grad = np.zeros(len(fit._theta))
    for j, i in enumerate(ids):
        if i >= 0:
            grad[i] += np.prod(np.delete(est, j))
    return float(np.sqrt(grad @ fit._vcov @ grad))


# ----------------------------------------------------------------------------------------------
# Multi-group comparison
# ----------------------------------------------------------------------------------------------

@dataclass
class GroupComparison:
    """Result of :func:`compare_groups`.

    Attributes
    ----------
    by_group : DataFrame
        Separate fits: ``group`` + the parameter table columns + ``n``.
    differences : DataFrame
        Per compared path and group against the reference group: ``lhs, op, rhs, group,
        reference, est`` (difference group - reference), ``se, z, p_value, ci_low, ci_high``.
    fits : DataFrame
        Multi-group models ``configural, base, constrained`` with ``chisq, df, p_value, npar,
        cfi, tli, rmsea, srmr, n, aic, bic, n_groups, proper``, as lavaan reports them for
        ``group=`` fits (whose saturated intercepts count in ``npar`` and SRMR).
    test : DataFrame
        Chi-square difference test, constrained vs base: ``stat, df, p_value``.
    groups : list
        Group values in order (the first is the reference).
    """

    by_group: pd.DataFrame
    differences: pd.DataFrame
    fits: pd.DataFrame
    test: pd.DataFrame
    groups: list


def _equal_ids(table: pd.DataFrame, equal) -> set[int]:
    """Local free ids constrained equal across groups: "loadings", "regressions", or triples."""
    free = table[table["free"] >= 0]
    ids: set[int] = set()
    for what in equal:
        if what == "loadings":
            ids |= set(free.loc[free["op"] == "=~", "free"])
        elif what == "regressions":
            ids |= set(free.loc[free["op"] == "~", "free"])
        else:
            lhs, op, rhs = str(what).split()
            hit = free[(free["lhs"] == lhs) & (free["op"] == op) & (free["rhs"] == rhs)]
            if hit.empty:
                raise ValueError(f"no free parameter {what!r} to constrain")
            ids |= set(hit["free"])
    return ids


def _group_maps(k: int, n_groups: int, shared: set[int]) -> list[np.ndarray]:
    shared_pos = {i: j for j, i in enumerate(sorted(shared))}
    nxt, maps = len(shared_pos), []
    for _ in range(n_groups):
        m = np.empty(k, dtype=int)
        for i in range(k):
            if i in shared_pos:
                m[i] = shared_pos[i]
            else:
                m[i], nxt = nxt, nxt + 1
        maps.append(m)
    return maps


def _fit_multigroup(groups, shared, start, seed, max_iter, std_limit):
    problem = _Problem(groups, _group_maps(groups[0].k, len(groups), shared))
    theta0 = np.zeros(problem.k)
    count = np.zeros(problem.k)
    for idx, th in zip(problem.maps, start):
        np.add.at(theta0, idx, th)
        np.add.at(count, idx, 1)
    theta0 /= np.maximum(count, 1)
    theta, f, ok, its, msg = _fisher_scoring(problem, theta0, max_iter)
    reasons = _check_problem(problem, theta, std_limit) if ok else [f"did not converge ({msg})"]
    if reasons:
        attempts = _optimise(problem, seed=seed, max_iter=max_iter,
                             check=lambda th: _check_problem(problem, th, std_limit))
        chosen = _choose(attempts)
        _, reasons = _verdict(chosen)
        theta, f = chosen.theta, chosen.fmin
    return problem, theta, f, reasons


@_single_threaded
def compare_groups(model, data: pd.DataFrame, group: str, *, paths=("regressions",),
                   base_equal=("loadings",), on_improper: str = "raise", ci: float = 0.95,
                   seed: int = 0, max_iter: int = 300, std_limit: float = 1.0) -> GroupComparison:
    """Compare paths across groups (e.g. key decision makers vs other contacts).

    Two complementary tests:

    - per path, a z test of the difference between separate per-group fits,
      ``z = (b_g - b_ref) / sqrt(se_g^2 + se_ref^2)``;
    - a chi-square difference test of a multi-group model with the compared ``paths`` equal
      across groups against the ``base`` model (equal ``base_equal``, by default the loadings,
      i.e. metric invariance, so that paths are on a common scale).

    Parameters
    ----------
    model : SemModel or str
    data : DataFrame
    group : str
        Grouping column; rows where it is missing are dropped. The first group (sorted) is the
        reference of the z tests.
    paths : sequence
        Parameters compared and constrained: ``"regressions"``, ``"loadings"``, or
        ``"lhs op rhs"`` strings such as ``"commitment ~ trust"``.
    base_equal : sequence
        Parameters equal in both multi-group models (``()`` for the configural model).
    on_improper, ci, seed, max_iter, std_limit
        As in :func:`fit_sem`; ``on_improper`` applies to every group and multi-group fit.

    Returns
    -------
    GroupComparison

    Notes
    -----
    The multi-group discrepancy is ``sum_g (n_g / N) F_g`` (lavaan's); means are saturated, so
    the chi-squares equal lavaan's with ``group=`` and ``group.equal=``. Validated against
    lavaan on HolzingerSwineford1939 by school (configural 115.851 on 48 df, equal loadings
    124.044 on 54 df) and on the synthetic KMV data by role (``tests/models/test_sem.py``).
    """
    sem_model = _as_model(model)
    if on_improper not in _ON_IMPROPER:
        raise ValueError(f"on_improper must be one of {_ON_IMPROPER}, got {on_improper!r}")
    sub = data[data[group].notna()]
    levels = sorted(sub[group].unique(), key=str)
    if len(levels) < 2:
        raise InsufficientDataError(f"column {group!r} has {len(levels)} group(s); need 2 "
                                    f"(n = {len(sub)})")
    fits = {g: fit_sem(sem_model, sub[sub[group] == g], on_improper=on_improper, ci=ci,
                       seed=seed, max_iter=max_iter, std_limit=std_limit) for g in levels}
    by_group = pd.concat([f.parameters.assign(group=g, n=f.n) for g, f in fits.items()],
                         ignore_index=True)
    by_group = by_group[["group"] + [c for c in by_group.columns if c != "group"]]
    groups = [f._problem.groups[0] for f in fits.values()]
    table = groups[0].table
    compared = _equal_ids(table, paths)
    differences = _differences(fits, levels, table, compared, ci)
    rows, results = [], {}
    starts = [f._theta for f in fits.values()]
    for name, shared in (("configural", set()), ("base", _equal_ids(table, base_equal)),
                         ("constrained", _equal_ids(table, base_equal) | compared)):
        problem, theta, f, reasons = _fit_multigroup(groups, shared, starts, seed, max_iter,
                                                     std_limit)
        _enforce(on_improper, f"{sem_model.name} ({name})", reasons)
        fm = _fit_measures(problem, f, means=True)
        results[name] = fm
        rows.append({"model": name, **{k: fm[k] for k in ("chisq", "df", "p_value", "npar",
                                                          "cfi", "tli", "rmsea", "srmr", "n")},
                     "aic": fm["aic"], "bic": fm["bic"], "n_groups": len(levels),
                     "proper": not reasons})
    for grp, fit in zip(groups, fits.values()):  # leave each group's semopy model at its fit
        grp.sm.update_matrices(fit._theta)
    d_chi = results["constrained"]["chisq"] - results["base"]["chisq"]
    d_df = results["constrained"]["df"] - results["base"]["df"]
    test = pd.DataFrame([{"comparison": "constrained vs base", "stat": d_chi, "df": d_df,
                          "p_value": float(_st.chi2.sf(d_chi, d_df)) if d_df > 0 else np.nan}])
    return GroupComparison(by_group=by_group, differences=differences, fits=pd.DataFrame(rows),
                           test=test, groups=levels)


def _differences(fits, levels, table, compared, ci) -> pd.DataFrame:
    ref = fits[levels[0]].parameters
    key = ["lhs", "op", "rhs"]
    locals_ = table[table["free"].isin(compared)].drop_duplicates("free")[key]
    q = z_crit(ci)
    rows = []
    for g in levels[1:]:
        other = fits[g].parameters.set_index(key)
        base = ref.set_index(key)
        for r in locals_.itertuples(index=False):
            k = (r.lhs, r.op, r.rhs)
            est = other.loc[k, "est"] - base.loc[k, "est"]
            se = float(np.hypot(other.loc[k, "se"], base.loc[k, "se"]))
            z = est / se
            rows.append({"lhs": r.lhs, "op": r.op, "rhs": r.rhs, "group": g,
                         "reference": levels[0], "est": est, "se": se, "z": z,
                         "p_value": 2 * _st.norm.sf(abs(z)), "ci_low": est - q * se,
                         "ci_high": est + q * se})
    return pd.DataFrame(rows, columns=["lhs", "op", "rhs", "group", "reference", "est", "se",
                                       "z", "p_value", "ci_low", "ci_high"])


# ----------------------------------------------------------------------------------------------
# Simulation from a population model (planted truth)
# ----------------------------------------------------------------------------------------------

def _population_cov(model: SemModel, coef: dict, exo_corr: float) -> tuple[list, np.ndarray]:
    """Covariance of the structural variables with unit variances (standardised population)."""
    incoming: dict[str, list[str]] = {}
    for p in model.paths:
        incoming.setdefault(p.target, []).append(p.source)
    order: list[str] = []
    pending = list(model.nodes)
    while pending:
        ready = [v for v in pending if all(s in order for s in incoming.get(v, []))]
        if not ready:
            raise ValueError(f"model {model.name!r}: the hypothesised paths have a cycle")
        order += ready
        pending = [v for v in pending if v not in ready]
    k = len(order)
    cov = np.eye(k)
    exo = [i for i, v in enumerate(order) if v not in incoming]
    for i, j in combinations(exo, 2):
        cov[i, j] = cov[j, i] = exo_corr
    for t, v in enumerate(order):
        if v not in incoming:
            continue
        src = [order.index(s) for s in incoming[v]]
        b = np.array([coef[(order[s], v)] for s in src])
        explained = b @ cov[np.ix_(src, src)] @ b
        if explained >= 1:
            raise ValueError(f"planted paths into {v!r} explain {explained:.2f} >= 1 of its "
                             "variance; use smaller coefficients")
        for u in range(t):
            cov[t, u] = cov[u, t] = b @ cov[src, u]
    return order, cov


def _discretise(x: np.ndarray, low: float, high: float, location: float, sd: float):
    return np.clip(np.round(location + sd * x), low, high)


def simulate_sem(model: SemModel, n: int, *, coefficients: dict | None = None,
                 loadings=0.8, exo_corr: float = 0.3, binary: dict | None = None,
                 item_scale: tuple | None = None, outcome_scales: dict | None = None,
                 n_accounts: int | None = None, icc: float = 0.0,
                 seed: int = 0) -> pd.DataFrame:
    """Simulate respondents from a standardised population version of a model.

    Every structural variable (the nodes of ``model.paths``) has unit variance; exogenous
    ones correlate ``exo_corr``; endogenous ones are linear in their hypothesised sources with
    the planted standardised ``coefficients`` and a normal disturbance. Each latent variable's
    indicators are ``loading * eta + sqrt(1 - loading^2) * e``; observed nodes are the variable
    itself, cut at ``1 - prevalence`` quantile into 0/1 when listed in ``binary``.

    Parameters
    ----------
    model : SemModel
        A model with hypothesised paths (its structure is the population structure).
    n : int
        Respondents.
    coefficients : dict, optional
        ``(source, target) -> standardised coefficient``; default ``0.4`` with the
        hypothesised sign (``+`` when none).
    loadings : float or dict
        Standardised loading of every indicator, or ``item -> loading``.
    exo_corr : float
        Correlation among the exogenous structural variables.
    binary : dict, optional
        Observed node -> prevalence of 1 (e.g. ``{"retained_next_wave": 0.85}``).
    item_scale : tuple, optional
        ``(low, high)``: round indicators to this integer scale at location
        ``low + 0.65 (high - low)`` and SD ``(high - low) / 5`` (1-7 items centre near 4.9).
        Default continuous.
    outcome_scales : dict, optional
        Observed node -> ``(low, high, location, sd)`` to round it (e.g. ``nps``:
        ``(0, 10, 8, 1.8)``).
    n_accounts : int, optional
        Add ``account_id`` with respondents allocated at random to this many accounts; a share
        ``icc`` of every structural variable's variance is then shared within an account.
    icc : float
        Intra-account correlation of the structural variables (0 to 1).
    seed : int
        Seed of every draw.

    Returns
    -------
    DataFrame
        Indicators, observed nodes and (optionally) ``account_id``.

    Notes
    -----
    With continuous indicators the planted coefficients and loadings are the population
    ``std_all`` values; a binary node's standardised path from a single source ``a`` is
    ``a * phi(c) / sqrt(p (1 - p))`` (``c`` the cut, ``p`` the prevalence) by Stein's lemma.
    ``tests/models/test_sem.py`` checks recovery at N = 5000.
    """
    rng = np.random.default_rng(seed)
    coef = {(p.source, p.target): (-0.4 if p.sign == "-" else 0.4) for p in model.paths}
    coef.update(coefficients or {})
    order, cov = _population_cov(model, coef, exo_corr)
    chol = np.linalg.cholesky(cov)
    eta = rng.standard_normal((n, len(order))) @ chol.T
    out: dict[str, np.ndarray] = {}
    if n_accounts:
        acc = rng.integers(0, n_accounts, n)
        shared = rng.standard_normal((n_accounts, len(order))) @ chol.T
        eta = np.sqrt(1 - icc) * eta + np.sqrt(icc) * shared[acc]
        width = len(str(n_accounts))
        out["account_id"] = np.array([f"A{a:0{width}d}" for a in acc])
    for j, v in enumerate(order):
        if v in model.indicators:
            for item in model.indicators[v]:
                lam = loadings.get(item, 0.8) if isinstance(loadings, dict) else loadings
                x = lam * eta[:, j] + np.sqrt(1 - lam ** 2) * rng.standard_normal(n)
                if item_scale is not None:
                    lo, hi = item_scale
                    x = _discretise(x, lo, hi, lo + 0.65 * (hi - lo), (hi - lo) / 5)
                out[item] = x
        elif binary and v in binary:
            out[v] = (eta[:, j] > _st.norm.ppf(1 - binary[v])).astype(float)
        elif outcome_scales and v in outcome_scales:
            out[v] = _discretise(eta[:, j], *outcome_scales[v])
        else:
            out[v] = eta[:, j]
    return pd.DataFrame(out)

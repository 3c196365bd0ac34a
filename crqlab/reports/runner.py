"""``crqlab run``: execute the study notebooks with papermill and render reviewer reports.

For each study folder the runner discovers the notebooks (``notebooks/*.ipynb``, sorted; no
hand-kept list), executes them in parallel worker processes with papermill (working directory
the notebooks folder), each worker on one warm kernel that imported the stack once and is reset
between notebooks (:mod:`crqlab.reports.kernels`; ``cold=True`` / ``--cold``: a new kernel per
notebook), injecting only the parameters each notebook declares in its
``parameters`` cell, renders each executed notebook to HTML without code, and writes::

    reports/<study>/
        index.html                    the findings of every report by research question, then
                                      every report with its status and headline numbers
        glossary.html                 every quantity the reports show: name, unit, definition
        run.json                      provenance: parameters, input SHA-256, versions, seed, times
        <notebook>/<notebook>.ipynb   the executed notebook
        <notebook>/<notebook>.html    the report (a failed one keeps its traceback)
        <notebook>/results.json       what the notebook recorded with crqlab.reports.results

The study is loaded and validated before any notebook runs: one that breaks the data contract
stops the run with a :class:`~crqlab.errors.ValidationError` naming file, column, row and value
(``crqlab run`` exits 2), and nothing is written. The whole folder is built in a hidden sibling
folder and swapped in at the end, so a run that is killed midway leaves the previous reports as
they were. A failing notebook does not stop the others; the run then returns exit status 1 and
names the notebook and the cell.

Parameters: ``study_dir`` (absolute), ``results_path`` and ``seed`` (from ``study.yaml`` when it
has one) are injected into every notebook that declares them; ``-f params.yaml`` and then
``-p NAME VALUE`` override. A name no selected notebook declares is an error that lists the
declared parameters and the notebooks declaring each. Values are checked against the type
hint of the declaration.
"""
from __future__ import annotations

import ast
import fnmatch
import hashlib
import io
import json
import os
import platform
import re
import shutil
import time
import tokenize
import uuid
from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from html import escape
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import yaml

from crqlab.errors import CrqlabError
from crqlab.files import write_atomic
from crqlab.interrupt import die_with, stop_children_on_signal
from crqlab.paths import NOTEBOOKS_DIR, REPO_ROOT, REPORTS_DIR
from crqlab.reports import results
from crqlab.reports.outputs import (
    MARKER,
    STUDY_REPORTS,
    OutputFolderError,
    check_output_folder,
    check_study_name,
    is_marked,
    write_marker,
)
from crqlab.reports.notebook_format import load as _load_nbformat

nbformat = _load_nbformat()  # without the IRI grammar jsonschema would compile (about 1 s)

__all__ = ["Parameter", "NotebookContractError", "RawValue", "RunResult", "NotebookOutcome",
           "VERSIONED_PACKAGES", "RESERVED_PARAMETERS", "discover_notebooks",
           "notebook_parameters", "contract_problems", "study_info", "hash_inputs",
           "resolve_parameters", "check_output_folder", "run", "display_path", "report_nav",
           "kernel_options", "progress_bar", "close_progress_bar"]

#: Packages whose versions run.json records.
VERSIONED_PACKAGES = ("crqlab", "pandas", "numpy", "scipy", "statsmodels", "semopy", "pingouin",
                      "papermill", "matplotlib", "seaborn", "nbconvert")
#: Parameters the runner sets itself; they cannot be given with -p / -f.
RESERVED_PARAMETERS = ("study_dir", "results_path")
_INLINE_BACKEND = "module://matplotlib_inline.backend_inline"
#: Folder of the staging folder holding the kernels' connection files (removed before the swap).
_KERNEL_DIR = ".kernels"
#: The run's cache of the validated study, for studies outside data/raw (``RUN_CACHE_ENV``):
#: inside the staging folder, removed before the reports are published.
_STUDY_CACHE_DIR = ".study-cache"
#: A temporary file of :func:`crqlab.reports.results.write_atomic` left by a killed write (not carried over).
_ATOMIC_TEMPORARY = re.compile(r"\..+\.[0-9a-f]{32}\.tmp\Z")


class NotebookContractError(CrqlabError, ValueError):
    """A notebook breaks the notebook contract (docs/notebooks.md)."""


class RawValue(str):
    """A parameter value as typed on the command line: parsed as YAML unless declared ``str``."""


@dataclass(frozen=True)
class Parameter:
    """One declaration of a notebook's ``parameters`` cell: ``name: type = literal  # comment``."""

    name: str
    type: str
    default: Any
    comment: str


# -- notebooks and their parameters -----------------------------------------------------------
def discover_notebooks(notebooks_dir: Path | str = NOTEBOOKS_DIR,
                       pattern: str = "*.ipynb") -> list[Path]:
    """The notebooks in ``notebooks_dir`` whose file name matches ``pattern``, sorted by name."""
    folder = Path(notebooks_dir)
    if not folder.is_dir():
        raise CrqlabError(f"notebooks folder {folder} does not exist")
    found = sorted(p for p in folder.glob("*.ipynb")
                   if fnmatch.fnmatch(p.name, pattern) and not p.name.startswith("."))
    if not found:
        raise CrqlabError(f"no notebook in {folder} matches {pattern!r}")
    return found


def _read(nb_or_path: nbformat.NotebookNode | Path | str) -> tuple[nbformat.NotebookNode, str]:
    if isinstance(nb_or_path, (str, Path)):
        return nbformat.read(str(nb_or_path), as_version=4), Path(nb_or_path).name
    return nb_or_path, "notebook"


def _parameters_cell(nb: nbformat.NotebookNode, name: str):
    code = [c for c in nb.cells if c.cell_type == "code"]
    tagged = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(tagged) != 1:
        raise NotebookContractError(f"{name}: needs exactly one cell tagged 'parameters', "
                                    f"found {len(tagged)}")
    if code[0] is not tagged[0]:
        raise NotebookContractError(f"{name}: the 'parameters' cell must be the first code cell")
    return tagged[0]


def notebook_parameters(nb_or_path: nbformat.NotebookNode | Path | str) -> dict[str, Parameter]:
    """Parse a notebook's ``parameters`` cell: typed literal assignments with comments.

    Raises
    ------
    NotebookContractError
        No or several ``parameters`` cells, or it is not the first code cell, or a line is not
        ``name: type = literal  # comment``.
    """
    nb, name = _read(nb_or_path)
    source = _parameters_cell(nb, name).source
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise NotebookContractError(f"{name}: parameters cell does not parse: {exc}") from exc
    comments = {tok.start[0]: tok.string.lstrip("#").strip()
                for tok in tokenize.generate_tokens(io.StringIO(source).readline)
                if tok.type == tokenize.COMMENT}
    params: dict[str, Parameter] = {}
    for stmt in tree.body:
        where = f"{name}: parameters cell line {stmt.lineno}"
        if not (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)
                and stmt.value is not None):
            raise NotebookContractError(f"{where}: only `name: type = literal  # comment` "
                                        "lines belong here (derived values go in the next cell)")
        try:
            default = ast.literal_eval(stmt.value)
        except ValueError as exc:
            raise NotebookContractError(f"{where}: {stmt.target.id} is not a literal") from exc
        line = source.splitlines()[stmt.lineno - 1]
        if stmt.lineno != stmt.end_lineno or line.count("=") != 1:
            raise NotebookContractError(f"{where}: one parameter per line with exactly one '=' "
                                        "(papermill cannot read '=' in a comment or value)")
        comment = comments.get(stmt.end_lineno or stmt.lineno, "")
        if not comment:
            raise NotebookContractError(f"{where}: {stmt.target.id} needs a comment saying what "
                                        "it is, on the same line")
        params[stmt.target.id] = Parameter(stmt.target.id, ast.unparse(stmt.annotation),
                                           default, comment)
    return params


def contract_problems(path: Path | str) -> list[str]:
    """Everything wrong with a committed notebook: outputs, execution counts, parameters cell."""
    nb, name = _read(path)
    problems = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if cell.get("outputs"):
            problems.append(f"{name}: cell {i} has outputs (commit notebooks stripped)")
        if cell.get("execution_count") is not None:
            problems.append(f"{name}: cell {i} has an execution count (commit notebooks stripped)")
    if "papermill" in nb.metadata:
        problems.append(f"{name}: has papermill metadata (an executed copy was committed)")
    try:
        params = notebook_parameters(nb)
        for p in params.values():
            problems += [f"{name}: {m}" for m in _type_problems(p.name, p.default, p.type)]
    except NotebookContractError as exc:
        problems.append(str(exc).replace("notebook:", f"{name}:", 1))
    return problems


# -- typing of parameter values ---------------------------------------------------------------
_TYPES: dict[str, tuple[type, ...]] = {
    "str": (str,), "int": (int,), "float": (float, int), "bool": (bool,),
    "list": (list,), "dict": (dict,), "tuple": (tuple, list), "None": (type(None),),
}


def _type_problems(name: str, value: Any, hint: str) -> list[str]:
    options = [o.strip().split("[", 1)[0] for o in hint.split("|")]
    if "Optional" in hint.split("[", 1)[0]:
        options = ["None"] + [o.strip().split("[", 1)[0]
                              for o in hint.split("[", 1)[1].rstrip("]").split(",")]
    known = [o for o in options if o in _TYPES]
    if len(known) != len(options):
        return []  # a hint we do not check (e.g. a class); accept the value
    for opt in known:
        if isinstance(value, bool) and opt in ("int", "float"):
            continue
        if isinstance(value, _TYPES[opt]):
            return []
    return [f"parameter {name} is declared {hint} but the value {value!r} is "
            f"{type(value).__name__}"]


def _coerce(name: str, value: Any, param: Parameter) -> Any:
    if isinstance(value, RawValue):
        value = str(value) if param.type == "str" else yaml.safe_load(str(value))
    problems = _type_problems(name, value, param.type)
    if problems:
        raise CrqlabError(problems[0])
    if name == "min_cell_size":  # a privacy rule: never below 3 (0 = the study's own)
        from crqlab.data.privacy import check_min_cell_size

        check_min_cell_size(value, "parameter min_cell_size", allow_zero=True)
    if param.type == "float" and isinstance(value, int):
        value = float(value)
    return value


def resolve_parameters(declared: Mapping[str, Mapping[str, Parameter]],
                       base: Mapping[str, Any], overrides: Mapping[str, Any]
                       ) -> dict[str, dict[str, Any]]:
    """The parameters to inject into each notebook.

    ``base`` (study_dir, results_path, seed from study.yaml) goes to the notebooks that declare
    each name; ``overrides`` (-f then -p) must each be declared by at least one notebook.
    """
    reserved = [k for k in overrides if k in RESERVED_PARAMETERS]
    if reserved:
        raise CrqlabError(f"parameter(s) {reserved} are set by crqlab run itself (study_dir is "
                          "the STUDY_DIR argument)")
    unknown = [k for k in overrides if not any(k in p for p in declared.values())]
    if unknown:
        owners: dict[str, list[str]] = {}
        for nb, params in declared.items():
            for k in params:
                owners.setdefault(k, []).append(nb)
        listing = "; ".join(f"{k} ({', '.join(v)})" for k, v in sorted(owners.items()))
        raise CrqlabError(f"unknown parameter(s) {unknown}: no selected notebook declares "
                          f"them. Declared: {listing or 'none'}")
    out = {}
    for nb, params in declared.items():
        given = {**base, **overrides}
        out[nb] = {k: _coerce(k, v, params[k]) for k, v in given.items() if k in params}
    return out


# -- study facts and provenance ---------------------------------------------------------------
def study_info(study_dir: Path | str) -> dict[str, Any]:
    """``study``, ``client``, ``seed`` and ``min_cell_size`` from a study folder's study.yaml.

    ``study`` (default: the folder's name) must be a plain identifier: it names the reports
    folder (:func:`crqlab.reports.outputs.check_study_name`). study.yaml is read and checked by
    :func:`crqlab.data.study.read_study_config` (the schema of ``docs/data-contract.md``), so a malformed
    file stops here with every problem listed.
    """
    from crqlab.data.study import read_study_config

    folder = Path(study_dir)
    if not (folder / "study.yaml").is_file():
        raise CrqlabError(f"{folder} is not a study folder: no study.yaml (draft one with "
                          f"`crqlab init {folder}`)")
    spec = read_study_config(folder)
    name = spec.get("study")
    name = folder.resolve().name if name is None or name == "" else name
    return {"study": check_study_name(name, folder / "study.yaml"),
            "client": spec.get("client"), "seed": spec.get("seed"),
            "min_cell_size": spec.get("min_cell_size")}


def hash_inputs(study_dir: Path | str) -> dict[str, str]:
    """SHA-256 of exactly the files a run reads, by path relative to the study folder.

    study.yaml, the tables it names and the study's own instrument files
    (:func:`crqlab.data.study.input_files`); other files in the folder (notes, truth.json, old
    exports) are not inputs and are not listed.
    """
    from crqlab.data.study import hash_files, input_files, read_study_config

    folder = Path(study_dir)
    return hash_files(folder, input_files(folder, read_study_config(folder)))


def _versions() -> dict[str, str | None]:
    out = {}
    for name in VERSIONED_PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def display_path(p: Path) -> str:
    try:
        return p.resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return str(p)


# -- executing one notebook (runs in a worker process) -----------------------------------------
@dataclass
class NotebookOutcome:
    """What happened to one notebook."""

    name: str
    title: str
    status: str  # "ok" | "failed"
    duration_s: float
    parameters: dict[str, Any]
    error: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)
    started: str | None = None  # ISO time of the run that executed it
    inputs_digest: str | None = None  # SHA-256 of that run's input hashes (_inputs_digest)

    @property
    def stem(self) -> str:
        return Path(self.name).stem

    def describe_error(self) -> str:
        e = self.error or {}
        cell = f"cell {e.get('cell_index')}" if e.get("cell_index") is not None else "no cell"
        tag = f", tag {e['cell_tag']!r}" if e.get("cell_tag") else ""
        first = f": `{e['first_line']}`" if e.get("first_line") else ""
        return f"{self.name} failed in {cell}{tag}{first} - {e.get('ename')}: {e.get('evalue')}"


def _error_cell(executed: nbformat.NotebookNode | None, exc: BaseException) -> dict[str, Any]:
    """Locate the failing cell (the one with an error output), numbered as in the source notebook.

    papermill adds an injected-parameters cell and error banners; they are not counted.
    """
    info: dict[str, Any] = {"ename": getattr(exc, "ename", type(exc).__name__),
                            "evalue": str(getattr(exc, "evalue", exc)).strip()[:500],
                            "cell_index": None, "cell_tag": None, "first_line": None,
                            "source": None}
    if executed is None:
        return info
    added = {"injected-parameters", "papermill-error-cell-tag"}
    source_index = 0
    for cell in executed.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if added & set(tags):
            continue
        if cell.cell_type == "code" and any(o.get("output_type") == "error"
                                            for o in cell.get("outputs", [])):
            lines = [ln for ln in cell.source.splitlines() if ln.strip()]
            tags = [t for t in tags if t not in added]
            info.update(cell_index=source_index, cell_tag=tags[0] if tags else None,
                        first_line=lines[0][:120] if lines else "", source=cell.source[:2000])
            break
        source_index += 1
    return info


_BLAS_THREADS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@contextmanager
def _kernel_environment(extra: Mapping[str, str] | None = None):
    """Environment the kernel inherits: inline figures (``make`` exports MPLBACKEND=Agg, under
    which a notebook shows no figure), a fixed hash seed and, unless the caller set them, one
    BLAS thread (as the Makefile sets for ``make study``: the runner already runs one kernel
    per core, and a kernel's second BLAS thread on a busy core made the invariance fits of a
    warm sample run 2.7x slower), and the run's own variables ``extra`` (a task's ``env``; a
    warm kernel gets them at its reset instead); restored afterwards."""
    wanted = {"MPLBACKEND": _INLINE_BACKEND,
              "PYTHONHASHSEED": os.environ.get("PYTHONHASHSEED", "0")}
    wanted |= {k: os.environ.get(k, "1") for k in _BLAS_THREADS}
    wanted |= dict(extra or {})
    saved = {k: os.environ.get(k) for k in wanted}
    os.environ.update(wanted)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def kernel_options(connection_file: str | Path | None = None) -> dict[str, Any]:
    """Keyword arguments for :func:`papermill.execute_notebook` that start the kernel quietly
    and safely: its messages encrypted with CurveZMQ keys the kernel manager provisions.

    ipykernel warns "Kernel is running over TCP without encryption" on every start over plain
    TCP (``ipykernel/kernelapp.py``, ``init_sockets``). With ``KernelManager.transport_encryption
    = "auto"`` (jupyter_client 8.10+, for kernelspecs that declare ``curve`` support, as
    ipykernel's does) the cause goes, not just the message. Where pyzmq has no CurveZMQ, the
    kernel's log level is raised past the warning instead. ``connection_file`` puts the
    kernel's connection file there (the run's staging folder).

    Notes
    -----
    Tested in ``tests/reports/test_runner.py``: a run prints no such warning.
    """
    import zmq
    from jupyter_client.manager import KernelManager
    from traitlets.config import Config

    manager: dict[str, Any] = {}
    options: dict[str, Any] = {}
    if connection_file is not None:
        manager["connection_file"] = str(connection_file)
    if zmq.has("curve") and KernelManager.class_traits().get("transport_encryption"):
        manager["transport_encryption"] = "auto"
    else:  # pragma: no cover - pyzmq without libsodium, or jupyter_client before 8.10
        options["extra_arguments"] = ["--IPKernelApp.log_level=ERROR"]
    if manager:
        options["config"] = Config({"KernelManager": manager})
    return options


def _kernel_config(task: Mapping[str, Any], src: Path) -> dict[str, Any]:
    """The kernel's connection file goes into the run's staging folder (``kernel_dir``): the
    kernel's command line then names the run, and a killed kernel leaves no file in /tmp."""
    if not task.get("kernel_dir"):
        return kernel_options()
    return kernel_options(Path(task["kernel_dir"]) / f"kernel-{src.stem}.json")


def _execute_one(task: dict[str, Any]) -> dict[str, Any]:
    """Execute and render one notebook; never raises for a notebook's own failure."""
    import papermill as pm

    from crqlab.reports.engine import engine_name
    from crqlab.reports.rendering import finish_page, notebook_title, render_notebook

    src, out_dir = Path(task["notebook"]), Path(task["out_dir"])
    out_dir.mkdir(parents=True, exist_ok=True)
    executed_path = out_dir / src.name
    start = time.perf_counter()
    error, exc = None, None
    try:
        if task.get("warm"):
            from crqlab.reports.kernels import execute_warm

            execute_warm(src, executed_path, task["parameters"], timeout=task.get("timeout"),
                         kernel=task.get("kernel"), connection_dir=task.get("kernel_dir"),
                         env=task.get("env"))
        else:
            with _kernel_environment(task.get("env")):
                pm.execute_notebook(str(src), str(executed_path), parameters=task["parameters"],
                                    cwd=str(src.parent), progress_bar=False, log_output=False,
                                    execution_timeout=task.get("timeout"),
                                    kernel_name=task.get("kernel"), engine_name=engine_name(),
                                    **_kernel_config(task, src))
    except Exception as e:  # noqa: BLE001 - any failure of a notebook is reported, not raised
        exc = e
    duration = time.perf_counter() - start
    executed = (nbformat.read(str(executed_path), as_version=4) if executed_path.is_file()
                else nbformat.read(str(src), as_version=4))
    if exc is not None:
        error = _error_cell(executed, exc)
    warnings = []
    results_file = out_dir / "results.json"
    if error is None and not results_file.is_file():
        warnings.append("the notebook saved no results, so none of its numbers are listed here")
        write_atomic(results_file, results.Recorder().to_json())
    header = dict(task["header"], title=notebook_title(executed, src.stem), notebook=src.name)
    nav = dict(task["nav"], current=src.stem) if task.get("nav") else None
    try:
        html, notes = render_notebook(executed, header=header, failed=error is not None,
                                      error=error, resources_dir=src.parent,
                                      findings=_recorded_findings(results_file), nav=nav)
    except Exception as e:  # noqa: BLE001 - rendering trouble must not lose the run
        html, notes = (finish_page(f"<html><body><h1>{escape(src.name)}</h1><p>could not "
                                   f"render: {escape(repr(e))}</p></body></html>"), [])
        error = error or {"ename": type(e).__name__, "evalue": f"rendering failed: {e}",
                          "cell_index": None, "cell_tag": None, "first_line": None}
    warnings += notes
    write_atomic(out_dir / f"{src.stem}.html", html)
    return {"name": src.name, "title": header["title"],
            "status": "ok" if error is None else "failed", "duration_s": round(duration, 2),
            "parameters": task["display_parameters"], "error": error, "warnings": warnings}


def _recorded_findings(path: Path) -> list[dict[str, Any]]:
    """The findings a notebook recorded (none when its results.json is missing or unreadable)."""
    try:
        return results.findings(results.load(path)) if path.is_file() else []
    except (OSError, ValueError, KeyError, TypeError, CrqlabError):
        return []


def report_nav(study: str, client: Any, notebooks: Sequence[Path], *, prefix: str,
               current: str) -> dict[str, Any]:
    """The bar of every page (study, index, glossary, every report of the notebooks folder):
    ``prefix`` leads from the page to the reports folder (``"../"`` from a report)."""
    from crqlab.reports.rendering import notebook_title, short_title

    reports = []
    for p in notebooks:
        try:
            title = notebook_title(nbformat.read(str(p), as_version=4), p.stem)
        except (OSError, ValueError):
            title = p.stem
        reports.append({"stem": p.stem, "title": short_title(title),
                        "href": f"{p.stem}/{p.stem}.html"})
    return {"study": study, "client": client, "prefix": prefix, "current": current,
            "reports": reports}


# -- a whole run ------------------------------------------------------------------------------
@dataclass
class RunResult:
    """The outcome of running one study: where the reports are and each notebook's status."""

    study: str
    out_dir: Path
    outcomes: list[NotebookOutcome]

    @property
    def ok(self) -> bool:
        return all(o.status == "ok" for o in self.outcomes)

    @property
    def failed(self) -> list[NotebookOutcome]:
        return [o for o in self.outcomes if o.status != "ok"]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _crqlab_temporary(p: Path) -> bool:
    """A staging or set-aside folder this runner made: a real folder carrying the marker."""
    return p.is_dir() and not p.is_symlink() and is_marked(p, STUDY_REPORTS)


def _dead_run(p: Path) -> bool:
    pid = p.name.rsplit("-", 2)[-2]
    return pid.isdigit() and not _pid_alive(int(pid))


def _tidy_previous(out: Path) -> None:
    """Restore reports left aside by a run killed during its final swap; drop dead partials.

    Only ``.NAME.partial-*`` and ``.NAME.old-*`` folders carrying the crqlab marker are
    touched: nothing crqlab did not make is moved or deleted.
    """
    parent = out.parent
    if not parent.is_dir():
        return
    for p in parent.glob(f".{out.name}.partial-*"):
        if _crqlab_temporary(p) and _dead_run(p):
            shutil.rmtree(p, ignore_errors=True)
    olds = sorted((p for p in parent.glob(f".{out.name}.old-*") if _crqlab_temporary(p)),
                  key=lambda p: p.stat().st_mtime)
    if olds and not out.exists() and not out.is_symlink():
        os.replace(olds[-1], out)
        olds = olds[:-1]
    for p in olds:
        if _dead_run(p):
            shutil.rmtree(p, ignore_errors=True)


def _swap_in(staging: Path, out: Path, token: str) -> None:
    """Replace ``out`` by ``staging``: two renames in one folder, then delete the old copy.

    ``out`` must be missing, empty or a reports folder crqlab made (checked again here, just
    before anything is moved).
    """
    if out.exists() or out.is_symlink():
        if out.is_symlink() or not out.is_dir() or not (is_marked(out, STUDY_REPORTS)
                                                        or not any(out.iterdir())):
            raise OutputFolderError(f"refusing to replace {out}: it is no longer a reports "
                                    f"folder crqlab made (no {MARKER}); nothing was published")
        old = out.parent / f".{out.name}.old-{os.getpid()}-{token}"
        os.replace(out, old)
        os.replace(staging, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(staging, out)


def _default_jobs() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _mp_context():
    """Worker processes: forked from a server that has imported the heavy modules once."""
    import multiprocessing as mp

    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["crqlab.reports.runner", "crqlab.reports.rendering", "papermill",
                                    "nbconvert", "bs4", "jinja2"])
        return ctx
    return mp.get_context("spawn")


def _init_worker(main_pid: int) -> None:
    """Pool-worker initializer: exit with the main process (:func:`crqlab.interrupt.die_with`)
    and keep this worker's warm kernel for all its notebooks, killed when the worker exits."""
    from crqlab.reports.kernels import keep_until_exit

    die_with(main_pid)
    keep_until_exit()


def _execute_pool(tasks: list[dict[str, Any]], jobs: int, done) -> list[dict[str, Any]]:
    from concurrent.futures import ProcessPoolExecutor, as_completed

    pool = ProcessPoolExecutor(max_workers=min(jobs, len(tasks)), mp_context=_mp_context(),
                               initializer=_init_worker, initargs=(os.getpid(),))
    outcomes = []
    try:
        futures = [pool.submit(_execute_one, t) for t in tasks]
        for fut in as_completed(futures):
            outcomes.append(fut.result())
            done(outcomes[-1])
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)  # workers are gone (RunInterrupted)
        raise
    pool.shutdown()
    return outcomes


def progress_bar(total: int, label: str, *, enabled: bool = True, file=None, tick: float = 1.0):
    """The progress bar of a run: shown when ``file`` (default stderr) is a terminal, as wide as
    the terminal says (80 columns where a pseudo-terminal reports none), its clock ticking every
    ``tick`` seconds while notebooks run (a notebook takes tens of seconds). Close it with
    :func:`close_progress_bar`.

    Notes
    -----
    Tested in ``tests/reports/test_runner.py`` with a stream that says it is a terminal.
    """
    import shutil
    import sys
    import threading

    from tqdm.auto import tqdm

    stream = file if file is not None else sys.stderr
    bar = tqdm(total=total, desc=label, unit="notebook", file=stream,
               disable=None if enabled else True, ncols=shutil.get_terminal_size().columns)
    bar.crqlab_stop = threading.Event()
    if not bar.disable and tick > 0:
        def ticking() -> None:
            while not bar.crqlab_stop.wait(tick):
                bar.refresh()

        threading.Thread(target=ticking, name="crqlab-progress", daemon=True).start()
    return bar


def close_progress_bar(bar) -> None:
    """Stop the bar's clock and close it."""
    bar.crqlab_stop.set()
    bar.close()


def _execute_all(tasks: list[dict[str, Any]], jobs: int, label: str, progress: bool
                 ) -> list[dict[str, Any]]:
    bar = progress_bar(len(tasks), label, enabled=progress)

    def done(res: Mapping[str, Any]) -> None:
        bar.set_postfix_str(f"{res['name']} {res['status']}")
        bar.update()

    from crqlab.reports.kernels import warm_scope

    try:
        if jobs <= 1 or len(tasks) == 1:
            finished = []
            with warm_scope():  # this process's warm kernel, killed at the end unless kept
                for task in tasks:
                    bar.set_postfix_str(Path(task["notebook"]).name)
                    finished.append(_execute_one(task))
                    done(finished[-1])
        else:
            finished = _execute_pool(tasks, jobs, done)
    finally:
        close_progress_bar(bar)
    order = {Path(t["notebook"]).name: i for i, t in enumerate(tasks)}
    return sorted(finished, key=lambda r: order[r["name"]])


def _inputs_digest(inputs: Mapping[str, str]) -> str:
    """One SHA-256 over a run's input hashes: equal digests mean identical input files."""
    text = "\n".join(f"{k}\t{v}" for k, v in sorted(inputs.items()))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _build_tasks(paths: Sequence[Path], per_nb: Mapping[str, dict[str, Any]],
                 staging: Path, header: Mapping[str, Any], timeout: int | None,
                 kernel: str | None, warm: bool = True) -> list[dict[str, Any]]:
    from crqlab.data.study import RUN_CACHE_ENV

    tasks = []
    for p in paths:
        nb_out = staging / p.stem
        injected = dict(per_nb[p.name])
        if "results_path" in injected:
            injected["results_path"] = str(nb_out / "results.json")
        shown = {k: (display_path(Path(v)) if k == "study_dir" else v)
                 for k, v in injected.items() if k != "results_path"}
        tasks.append({"notebook": str(p.resolve()), "out_dir": str(nb_out),
                      "parameters": injected, "display_parameters": shown,
                      "header": dict(header, parameters=shown), "timeout": timeout,
                      "kernel": kernel, "kernel_dir": str(staging / _KERNEL_DIR),
                      "env": {RUN_CACHE_ENV: str(staging / _STUDY_CACHE_DIR)}, "warm": warm})
    return tasks


def run(study_dir: Path | str, *, parameters: Mapping[str, Any] | None = None,
        notebooks: str = "*.ipynb", jobs: int | None = None, out: Path | str | None = None,
        notebooks_dir: Path | str | None = None, timeout: int | None = None,
        kernel: str | None = None, progress: bool = True, cold: bool = False) -> RunResult:
    """Execute the notebooks of one study and write its reports folder.

    Parameters
    ----------
    study_dir : path
        Study folder holding ``study.yaml``.
    parameters : mapping, optional
        Overrides (``-f`` then ``-p``); :class:`RawValue` strings are parsed by declared type.
    notebooks : str
        Glob on notebook file names. The reports of notebooks not selected are kept (copied
        from the previous reports folder, with their own dates).
    jobs : int, optional
        Notebooks executed at once, each in its own process (default: usable cores).
    out : path, optional
        Reports folder (default ``reports/<study>``); refused unless missing, empty or made
        by crqlab (:func:`crqlab.reports.outputs.check_output_folder`).
    notebooks_dir : path, optional
        Where the notebooks live (default :data:`crqlab.paths.NOTEBOOKS_DIR`).
    timeout : int, optional
        Seconds a single cell may run.
    cold : bool
        Start a fresh kernel for every notebook instead of the warm kernels of
        :mod:`crqlab.reports.kernels` (one per worker, the stack imported once, reset between
        notebooks); the results are the same, only slower (``crqlab run --cold``).

    Returns
    -------
    RunResult
        This run's notebooks only (kept reports are listed in index.html and run.json).

    Raises
    ------
    OutputFolderError
        ``out`` or the study name is refused; nothing was run, created or moved.
    RunInterrupted
        SIGTERM/SIGINT: every worker and kernel was killed, the staging folder removed.

    Notes
    -----
    Tested in ``tests/reports/test_runner.py`` and ``tests/reports/test_outputs.py`` (refusals, subset
    runs keeping the other reports, killed runs leaving no process and no folder behind).
    """
    study_dir = Path(study_dir).resolve()
    info = study_info(study_dir)
    out = check_output_folder(out if out is not None else REPORTS_DIR / info["study"],
                              study_dir)
    paths = discover_notebooks(notebooks_dir if notebooks_dir is not None else NOTEBOOKS_DIR,
                               notebooks)
    declared = {p.name: notebook_parameters(p) for p in paths}
    identifiers = _confidential_identifiers(study_dir)  # a malformed study stops the run here
    started = datetime.now(timezone.utc)
    inputs = hash_inputs(study_dir)
    base = {"study_dir": str(study_dir)}
    if info["seed"] is not None:
        base["seed"] = info["seed"]
    overrides = dict(parameters or {})
    per_nb = resolve_parameters(declared, {**base, "results_path": ""}, overrides)
    header = {"study": info["study"], "client": info["client"], "inputs": inputs,
              "date": started.strftime("%Y-%m-%d %H:%M UTC"), "version": _versions()["crqlab"]}
    out.parent.mkdir(parents=True, exist_ok=True)
    _tidy_previous(out)
    token = uuid.uuid4().hex[:8]
    staging = out.parent / f".{out.name}.partial-{os.getpid()}-{token}"
    nav = report_nav(info["study"], info["client"],
                     discover_notebooks(notebooks_dir if notebooks_dir is not None
                                        else NOTEBOOKS_DIR), prefix="../", current="")
    tasks = _build_tasks(paths, per_nb, staging, header, timeout, kernel, warm=not cold)
    for t in tasks:
        t["nav"] = nav
    with stop_children_on_signal():
        try:
            staging.mkdir()
            write_marker(staging, STUDY_REPORTS, study=info["study"])
            (staging / _KERNEL_DIR).mkdir()
            raw = _execute_all(tasks, jobs or _default_jobs(), info["study"], progress)
            for tmp in (_KERNEL_DIR, _STUDY_CACHE_DIR):
                shutil.rmtree(staging / tmp, ignore_errors=True)
            stamp = {"started": started.isoformat(timespec="seconds"),
                     "inputs_digest": _inputs_digest(inputs)}
            outcomes = [NotebookOutcome(**r, **stamp) for r in raw]
            _note_unscanned(outcomes, identifiers)
            _publish(staging, out, token, outcomes, identifiers,
                     lambda kept: _write_run_files(staging, info, outcomes, kept, declared,
                                                   overrides, inputs, started,
                                                   dict(nav, prefix="")))
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
    return RunResult(study=info["study"], out_dir=out, outcomes=outcomes)


def _publish(staging: Path, out: Path, token: str, outcomes: list[NotebookOutcome],
             identifiers: set[str], write_run_files) -> None:
    """Carry the previous reports this run does not rewrite into ``staging``, withhold any
    report showing a confidential identifier, write index.html and run.json
    (``write_run_files(kept)``), scan them and the carried files, and swap ``staging`` in."""
    digest = outcomes[0].inputs_digest if outcomes else ""
    kept, carried = _carry_over(out, staging, {o.stem for o in outcomes}, digest or "")
    _withhold_leaks(staging, outcomes + kept, identifiers)
    write_run_files(kept)
    _check_no_leaks([staging / "index.html", staging / "run.json", staging / "glossary.html",
                     *carried], identifiers)
    _swap_in(staging, out, token)


def _previous_notebooks(out: Path) -> list[dict[str, Any]]:
    """The notebook entries of ``out/run.json``, each with its run's date and inputs digest
    (taken from the whole run when the entry has none: reports of an older crqlab)."""
    try:
        doc = json.loads((out / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    if not isinstance(doc, dict) or not isinstance(doc.get("notebooks"), list):
        return []
    inputs = doc.get("inputs") if isinstance(doc.get("inputs"), dict) else {}
    fallback = {"started": doc.get("started"), "inputs_digest": _inputs_digest(inputs)}
    return [{**fallback, **{k: v for k, v in e.items() if v is not None}}
            for e in doc["notebooks"] if isinstance(e, dict) and isinstance(e.get("name"), str)]


def _kept_outcome(entry: Mapping[str, Any], digest: str) -> NotebookOutcome:
    name = entry["name"]
    warnings = [str(w) for w in entry.get("warnings") or []]
    if entry.get("inputs_digest") != digest:
        note = (f"kept from the run of {_display_date(entry.get('started'))}, whose input files "
                "differ from this run's")
        warnings += [] if note in warnings else [note]
    error = entry.get("error") if isinstance(entry.get("error"), dict) else None
    params = entry.get("parameters") if isinstance(entry.get("parameters"), dict) else {}
    duration = entry.get("duration_s")
    return NotebookOutcome(name=name, title=str(entry.get("title") or Path(name).stem),
                           status=str(entry.get("status") or "unknown"),
                           duration_s=float(duration) if isinstance(duration, (int, float))
                           else 0.0, parameters=params, error=error, warnings=warnings,
                           started=entry.get("started"), inputs_digest=entry.get("inputs_digest"))


def _carry_over(out: Path, staging: Path, produced: set[str], digest: str
                ) -> tuple[list[NotebookOutcome], list[Path]]:
    """Copy into ``staging`` everything of the previous reports that this run does not
    rewrite: other notebooks' report folders (returned as outcomes, listed in the index) and
    any other file (returned as paths, scanned for leaks but not listed)."""
    if not out.is_dir():
        return [], []
    ours = {MARKER, "index.html", "run.json", "glossary.html", *produced}
    moved = []
    for p in sorted(out.iterdir()):
        if p.name in ours or _ATOMIC_TEMPORARY.match(p.name):
            continue
        if p.is_dir() and not p.is_symlink():
            shutil.copytree(p, staging / p.name, symlinks=True)
        else:
            shutil.copy2(p, staging / p.name, follow_symlinks=False)
        moved.append(p.name)
    kept = [_kept_outcome(e, digest) for e in _previous_notebooks(out)
            if Path(e["name"]).stem in moved and (staging / Path(e["name"]).stem).is_dir()]
    listed = {o.stem for o in kept}
    carried = [f for name in moved if name not in listed
               for f in ([staging / name] if not (staging / name).is_dir()
                         else sorted((staging / name).rglob("*")))
               if f.is_file() and not f.is_symlink()]
    return kept, carried


def _confidential_identifiers(study_dir: Path, outcomes: Sequence[NotebookOutcome] = ()
                              ) -> set[str]:
    """Names, e-mails and contact ids of confidential respondents.

    Loading the study validates it: a study that breaks the data contract raises
    :class:`~crqlab.errors.ValidationError` (file, column, row, value), so :func:`run` stops
    before any notebook runs and never publishes a report it could not scan. ``outcomes`` is
    not used (kept for callers).
    """
    from crqlab.data.privacy import confidential_identifiers
    from crqlab.data.study import load_study

    # cache=False: the Parquet cache blanks the names and e-mails of confidential
    # respondents, which are exactly what the scan must look for
    return confidential_identifiers(load_study(study_dir, cache=False))


def _note_unscanned(outcomes: list[NotebookOutcome], identifiers: set[str]) -> None:
    """Warn, on every report, when some contact ids are too short or numeric to be scanned for."""
    from crqlab.data.privacy import MIN_NUMERIC_IDENTIFIER, unscannable_identifiers

    n = len(unscannable_identifiers(identifiers))
    if n:
        for o in outcomes:
            o.warnings.append(f"{n} confidential contact id(s) are shorter than 3 characters or "
                              f"numbers of fewer than {MIN_NUMERIC_IDENTIFIER} digits: the leak "
                              "scan cannot tell them from report text and skips them (names and "
                              "e-mails are scanned)")


def _withhold_leaks(staging: Path, outcomes: list[NotebookOutcome], identifiers: set[str]) -> None:
    """Withhold every report that shows a confidential identifier; its notebook fails.

    The report folder then holds only a notice (which files, how many identifiers - never the
    identifiers themselves).
    """
    from crqlab.data.privacy import find_leaks
    from crqlab.reports.rendering import finish_page

    if not identifiers:
        return
    for o in outcomes:
        folder = staging / o.stem
        files = sorted(p for p in folder.rglob("*") if p.is_file())
        leaks = find_leaks(files, identifiers)
        if not leaks:
            continue
        where = sorted({p.name for p, _ in leaks})
        n = len({i for _, i in leaks})
        message = (f"{n} confidential identifier(s) (names, e-mails or contact ids) appear in "
                   f"{', '.join(where)}; the report is withheld")
        for p in files:
            p.unlink()
        write_atomic(folder / f"{o.stem}.html", finish_page(
                            "<!DOCTYPE html><html><head><meta charset='utf-8'><title>withheld"
                            f"</title></head><body><h1>{escape(o.name)}: report withheld</h1>"
                            f"<p>{escape(message)}.</p></body></html>\n"))
        o.status = "failed"
        o.error = {"ename": "PrivacyLeak", "evalue": message, "cell_index": None,
                   "cell_tag": None, "first_line": None}


def _check_no_leaks(files: Sequence[Path], identifiers: set[str]) -> None:
    """index.html, run.json and carried-over files must show no confidential identifier."""
    from crqlab.data.privacy import find_leaks

    leaks = find_leaks(list(files), identifiers)
    if leaks:
        raise CrqlabError(f"{len(leaks)} confidential identifier(s) would appear in "
                          f"{sorted({p.name for p, _ in leaks})}; nothing was published")


def _effective_seed(outcomes: Sequence[NotebookOutcome], declared) -> Any:
    seeds = {}
    for o in outcomes:
        if "seed" in declared[o.name]:
            seeds[o.name] = o.parameters.get("seed", declared[o.name]["seed"].default)
    values = set(map(repr, seeds.values()))
    if len(values) == 1:
        return next(iter(seeds.values()))
    return seeds or None


def _display_date(iso: Any) -> str:
    """``2024-05-01T12:03:09+00:00`` as ``2024-05-01 12:03 UTC`` (anything else as text)."""
    try:
        return datetime.fromisoformat(str(iso)).astimezone(timezone.utc).strftime(
            "%Y-%m-%d %H:%M UTC")
    except ValueError:
        return str(iso or "unknown date")


def _notebook_entry(o: NotebookOutcome, defaults: Mapping[str, Any]) -> dict[str, Any]:
    return {"name": o.name, "title": o.title, "status": o.status, "duration_s": o.duration_s,
            "started": o.started, "inputs_digest": o.inputs_digest,
            "parameters": {**defaults, **o.parameters},
            "error": ({k: v for k, v in o.error.items() if k != "source"} if o.error else None),
            "warnings": o.warnings}


def _index_row(staging: Path, o: NotebookOutcome) -> dict[str, Any]:
    res = staging / o.stem / "results.json"
    try:
        doc = results.load(res) if res.is_file() else {}
        entries, found = results.headline(doc), results.findings(doc)
    except (OSError, ValueError, KeyError, TypeError, CrqlabError):
        entries, found = [], []  # a kept report's results.json that cannot be read
    return {"name": o.name, "title": o.title, "status": o.status,
            "href": f"{o.stem}/{o.stem}.html", "duration_s": o.duration_s,
            "date": _display_date(o.started), "headline": entries, "findings": found,
            "error": o.error, "warnings": o.warnings}


def _write_run_files(staging: Path, info: Mapping[str, Any], outcomes: list[NotebookOutcome],
                     kept: list[NotebookOutcome], declared, overrides: Mapping[str, Any],
                     inputs: Mapping[str, str], started: datetime,
                     nav: Mapping[str, Any] | None = None) -> None:
    """run.json, index.html and glossary.html: this run's notebooks and the ``kept`` ones."""
    from crqlab.reports.rendering import render_glossary, render_index

    versions = _versions()
    entries = [_notebook_entry(o, {k: p.default for k, p in declared[o.name].items()
                                   if k != "results_path"}) for o in outcomes]
    entries += [_notebook_entry(o, {}) for o in kept]
    listed = sorted([*outcomes, *kept], key=lambda o: o.name)
    doc = {
        "study": info["study"], "client": info["client"],
        "started": started.isoformat(timespec="seconds"),
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(), "platform": platform.platform(),
        "packages": versions,
        "parameters": {k: (str(v) if isinstance(v, RawValue) else v)
                       for k, v in overrides.items()},
        "seed": _effective_seed(outcomes, declared),
        "inputs": dict(inputs),
        "notebooks": sorted(entries, key=lambda e: e["name"]),
    }
    write_atomic(staging / "run.json", results.to_json(_jsonable(doc)))
    run_meta = {"study": info["study"], "client": info["client"],
                "date": started.strftime("%Y-%m-%d %H:%M UTC"), "version": versions["crqlab"],
                "parameters": doc["parameters"], "inputs": dict(inputs),
                "n_ok": sum(o.status == "ok" for o in listed),
                "n_failed": sum(o.status != "ok" for o in listed),
                "n_kept": len(kept)}
    nav = dict(nav or {})
    write_atomic(staging / "index.html",
                 render_index(run=run_meta, notebooks=[_index_row(staging, o) for o in listed],
                              nav=dict(nav, current="index")))
    write_atomic(staging / "glossary.html", render_glossary(nav=dict(nav, current="glossary")))


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return results.clean_value(obj)
    return str(obj)

"""The ``crqlab`` command: validate, synth, init, run, packs, power.

Each sub-command parses its arguments here and hands them to one package function; modules are
imported only when their sub-command runs, so ``crqlab --help`` is instant. Errors that crqlab
raises on purpose (:class:`~crqlab.errors.CrqlabError`) are printed without a traceback and exit
with status 2.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from crqlab.errors import CrqlabError

__all__ = ["main", "build_parser", "DESCRIPTION", "EPILOG", "synth_study_name"]

#: What ``crqlab --help`` says first (plain text: the module docstring is for developers).
DESCRIPTION = """crqlab: NPS and CRQ studies of B2B customer-relationship surveys.
Check a client's survey export, draft its study.yaml, run the study notebooks into HTML
reports, generate synthetic studies with planted truth, plan sample sizes."""
#: Examples under the list of commands.
EPILOG = """examples:
  crqlab validate data/raw/acme      check an export: every problem with file, column, row, value
  crqlab init data/raw/acme          draft study.yaml for a new export
  crqlab run data/raw/sample         run every notebook -> reports/sample/index.html
  crqlab run data/raw/sample -p ci 0.9 -f params.yaml --notebooks '0*'
  crqlab packs data/raw/sample --out packs/sample   one-page pack per account + action list
  crqlab synth --preset sample --seed 2023 --out data/raw/demo
  crqlab power --effect 0.3 --power 0.8

'crqlab COMMAND --help' describes a command; README.md has the rest."""


def _cmd_validate(args: argparse.Namespace) -> int:
    from crqlab.data.study import load_study

    if args.max_problems < 1 or args.per_kind < 1:
        raise CrqlabError("--max-problems and --per-kind must be at least 1")
    study = load_study(args.study_dir, max_problems=args.max_problems, per_kind=args.per_kind)
    print(study.summary())
    return 0


def synth_study_name(out: Path, preset: str, seed: int) -> str:
    """The ``study:`` name of a generated study: its folder's name when that is a plain
    identifier (``data/raw/sample`` -> ``sample``), else ``<preset>_seed_<seed>``, so that a
    batch of seeds is a batch of distinct studies."""
    folder = out.name
    if folder.isidentifier():
        return folder
    return f"{preset.replace('-', '_')}_seed_{seed}"


def _cmd_synth(args: argparse.Namespace) -> int:
    from crqlab.synth import write_study

    out = Path(args.out)
    if args.name is not None and not args.name.isidentifier():
        print(f"crqlab synth: --name {args.name!r} is not a plain name (letters, digits and _, "
              "not starting with a digit)", file=sys.stderr)
        return 2
    name = args.name or synth_study_name(out, args.preset, args.seed)
    out = write_study(args.preset, seed=args.seed, out=out, force=args.force, study=name)
    print(f"wrote synthetic study {name!r} (preset {args.preset!r}, seed {args.seed}) to {out}")
    return 0


def _cmd_init(args: argparse.Namespace) -> int:
    from crqlab.data.draft_study import draft_study

    draft = draft_study(Path(args.export_dir), force=args.force)
    print("what was found, and what each file was taken for:")
    for line in draft.listing:
        print(f"  {line}")
    guesses = sum("# guessed:" in ln for ln in draft.text.splitlines())
    todos = sum("TODO" in ln for ln in draft.text.splitlines())
    print(f"drafted {draft.path} ({guesses} guesses, each marked '# guessed:'; {todos} TODOs); "
          f"check it, then run: crqlab validate {args.export_dir}")
    return 0


def _run_parameters(args: argparse.Namespace) -> dict[str, Any]:
    """``-f`` parameters file, then ``-p NAME VALUE`` overrides (raw strings, typed later)."""
    import yaml

    from crqlab.reports.runner import RawValue

    params: dict[str, Any] = {}
    if getattr(args, "parameters_file", None):
        path = Path(args.parameters_file)
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise CrqlabError(f"cannot read parameters file {path}: {exc}") from exc
        if not isinstance(loaded, dict):
            raise CrqlabError(f"{path}: a parameters file is a mapping of name: value")
        params.update(loaded)
    for name, value in getattr(args, "parameter", None) or []:
        params[name] = RawValue(value)
    return params


def _cmd_run(args: argparse.Namespace) -> int:
    """``crqlab run``: one study folder runs its notebooks in parallel (``--jobs``). Several
    folders, or a Dask ``--scheduler``, make a batch (:func:`crqlab.reports.batch.run_batch`);
    ``--out`` is then the parent folder of the studies' report folders. SIGTERM or SIGINT stops
    every worker and kernel and exits 128 + the signal's number (:mod:`crqlab.interrupt`)."""
    from crqlab.interrupt import RunInterrupted

    if args.jobs is not None and args.jobs < 1:
        raise CrqlabError(f"--jobs must be at least 1, got {args.jobs}")
    params = _run_parameters(args)
    try:
        if len(args.study_dirs) > 1 or getattr(args, "scheduler", None):
            return _cmd_run_batch(args, params)
        return _cmd_run_single(args, params)
    except RunInterrupted as exc:
        print(f"crqlab run: {exc}: worker processes and kernels stopped, staging folder "
              "removed; the previous reports are unchanged", file=sys.stderr)
        return exc.exit_code


def _cmd_run_single(args: argparse.Namespace, params: dict[str, Any]) -> int:
    from crqlab.reports.runner import display_path, run

    result = run(args.study_dirs[0], parameters=params, notebooks=args.notebooks,
                 jobs=args.jobs, out=Path(args.out) if args.out else None, cold=args.cold)
    for o in result.failed:
        print(f"crqlab run: {o.describe_error()}\n  report kept: "
              f"{display_path(result.out_dir / o.stem / (o.stem + '.html'))}",
              file=sys.stderr)
    n_ok = len(result.outcomes) - len(result.failed)
    print(f"{result.study}: {n_ok}/{len(result.outcomes)} notebooks ok -> "
          f"{display_path(result.out_dir / 'index.html')}")
    return 0 if result.ok else 1


def _cmd_run_batch(args: argparse.Namespace, params: dict[str, Any]) -> int:
    import pandas as pd

    from crqlab.paths import REPORTS_DIR
    from crqlab.reports.batch import run_batch
    from crqlab.reports.runner import display_path

    table, rows = run_batch(args.study_dirs, parameters=params, notebooks=args.notebooks,
                            jobs=args.jobs, out=args.out, scheduler=args.scheduler,
                            cold=args.cold)
    for r in rows:
        if r["status"] != "ok":
            why = r["error"] or f"failed notebooks: {', '.join(r['failed'])}"
            print(f"crqlab run: {r['study']}: {why}", file=sys.stderr)
    with pd.option_context("display.width", 200, "display.max_columns", 12):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    parent = Path(args.out) if args.out else REPORTS_DIR
    print(f"summary -> {display_path(parent / 'batch.html')}")
    return 0 if all(r["status"] == "ok" for r in rows) else 1


def _cmd_packs(args: argparse.Namespace) -> int:
    from crqlab.reports.packs import write_packs
    from crqlab.reports.runner import display_path

    out, packs = write_packs(args.study_dir, args.out, wave=args.wave,
                             min_cell_size=args.min_cell_size, ci=args.ci, n_boot=args.n_boot)
    print(f"{packs.study}: {len(packs.packs)} account packs (survey {packs.wave_label}, accounts "
          f"with at least {packs.min_cell_size} respondents shown) and an action list of "
          f"{len(packs.actions)} accounts -> {display_path(out / 'index.html')}")
    return 0


def _cmd_power(args: argparse.Namespace) -> int:
    from crqlab.studies.power import power_cli

    return power_cli(args)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="crqlab", description=DESCRIPTION, epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    from crqlab import __version__

    p.add_argument("--version", action="version", version=f"crqlab {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    v = sub.add_parser("validate", help="validate a study folder and print a summary")
    v.add_argument("study_dir")
    v.add_argument("--max-problems", type=int, default=200, metavar="N",
                   help="list at most N problems in all, shared fairly between kinds; every "
                        "kind is always counted (default 200)")
    v.add_argument("--per-kind", type=int, default=10, metavar="K",
                   help="list at most K problems of each kind (default 10)")
    v.set_defaults(func=_cmd_validate)

    s = sub.add_parser("synth", help="generate a synthetic study with planted truth")
    s.add_argument("--preset", default="sample", help="sample | company-a | company-b | ...")
    s.add_argument("--seed", type=int, default=2023)
    s.add_argument("--out", required=True, help="output folder, e.g. data/raw/NAME")
    s.add_argument("--name", default=None,
                   help="the study's name (default: the output folder's name, or "
                        "PRESET_seed_SEED when that is not a plain identifier)")
    s.add_argument("--force", action="store_true", help="replace an existing output folder")
    s.set_defaults(func=_cmd_synth)

    i = sub.add_parser("init", help="draft study.yaml for a client export folder")
    i.add_argument("export_dir")
    i.add_argument("--force", action="store_true", help="overwrite an existing study.yaml")
    i.set_defaults(func=_cmd_init)

    r = sub.add_parser("run", help="execute the study notebooks and render reports")
    r.add_argument("study_dirs", nargs="+", metavar="STUDY_DIR")
    r.add_argument("-p", "--parameter", nargs=2, action="append", default=[],
                   metavar=("NAME", "VALUE"), help="notebook parameter (YAML value)")
    r.add_argument("-f", "--parameters-file", help="YAML file of parameters")
    r.add_argument("--notebooks", default="*.ipynb", help="glob of notebooks to run")
    r.add_argument("--jobs", type=int, default=None, help="parallel notebooks (default: cores)")
    r.add_argument("--out", default=None, metavar="DIR",
                   help="reports folder (default reports/<study>; with several studies, "
                        "the parent of their DIR/<study> folders). The run replaces it whole, "
                        "so it must be missing, empty or made by crqlab (marked by .crqlab-reports); a study "
                        "folder, anything under data/raw, a folder of other files, a file, "
                        "the working folder, the repository, a home folder or / is refused "
                        "(exit 2) before anything runs. Reports of notebooks not selected by "
                        "--notebooks are kept")
    r.add_argument("--scheduler", default=None, help="Dask scheduler address (crqlab[dask])")
    r.add_argument("--cold", action="store_true",
                   help="start a new kernel for every notebook (slower; by default each worker "
                        "keeps one kernel that imported the libraries once and is reset "
                        "between notebooks; the results are the same)")
    r.set_defaults(func=_cmd_run)

    k = sub.add_parser("packs", help="account packs for account managers, and an action list")
    k.add_argument("study_dir", metavar="STUDY_DIR")
    k.add_argument("--out", required=True, metavar="DIR",
                   help="folder for the packs: missing, empty or made by crqlab packs (marked "
                        "by .crqlab-reports); a rerun deletes only the files it wrote before")
    k.add_argument("--wave", type=int, default=0, help="wave (default: the latest with enough "
                   "respondents)")
    k.add_argument("--min-cell-size", type=int, default=0, metavar="N",
                   help="raise the study's minimum cell size (never lower it)")
    k.add_argument("--ci", type=float, default=0.95, help="interval level (default 0.95)")
    k.add_argument("--n-boot", type=int, default=2000, metavar="B",
                   help="bootstrap resamples of the client's NPS (default 2000)")
    k.set_defaults(func=_cmd_packs)

    w = sub.add_parser("power", help="simulation power and sample-size studies")
    w.add_argument("--effect", type=float, default=0.3, help="bias to detect, scale points")
    w.add_argument("--power", type=float, default=0.8, dest="target_power")
    w.add_argument("--alpha", type=float, default=0.05)
    w.add_argument("--reps", type=int, default=500, help="replications per sample size")
    w.add_argument("--seed", type=int, default=1)
    w.add_argument("--scheduler", default=None, help="Dask scheduler address (crqlab[dask])")
    w.set_defaults(func=_cmd_power)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CrqlabError as exc:
        print(f"crqlab {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

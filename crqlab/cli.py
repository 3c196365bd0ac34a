"""The ``crqlab`` command: validate, synth, init, run, power.

Each sub-command parses its arguments here and hands them to one package function; modules are
imported only when their sub-command runs, so ``crqlab --help`` is instant. Errors that crqlab
raises on purpose (:class:`~crqlab.errors.CrqlabError`) are printed without a traceback and exit
with status 2.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import CrqlabError

__all__ = ["main", "build_parser"]


def _cmd_validate(args: argparse.Namespace) -> int:
    from .io import load_study

    study = load_study(args.study_dir)
    print(study.summary())
    return 0


def _cmd_synth(args: argparse.Namespace) -> int:
    from .synth import write_study

    out = write_study(args.preset, seed=args.seed, out=Path(args.out), force=args.force)
    print(f"wrote synthetic study {args.preset!r} (seed {args.seed}) to {out}")
    return 0


def _cmd_init(args: argparse.Namespace) -> int:
    from .drafting import draft_study_yaml

    path = draft_study_yaml(Path(args.export_dir), force=args.force)
    print(f"drafted {path}; edit it, then run: crqlab validate {args.export_dir}")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from .runner import run_cli

    return run_cli(args)


def _cmd_power(args: argparse.Namespace) -> int:
    from .power import power_cli

    return power_cli(args)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="crqlab", description=__doc__.splitlines()[0])
    from . import __version__

    p.add_argument("--version", action="version", version=f"crqlab {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    v = sub.add_parser("validate", help="validate a study folder and print a summary")
    v.add_argument("study_dir")
    v.set_defaults(func=_cmd_validate)

    s = sub.add_parser("synth", help="generate a synthetic study with planted truth")
    s.add_argument("--preset", default="sample", help="sample | company-a | company-b | ...")
    s.add_argument("--seed", type=int, default=2023)
    s.add_argument("--out", required=True, help="output folder, e.g. data/raw/NAME")
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
    r.set_defaults(func=_cmd_run)

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

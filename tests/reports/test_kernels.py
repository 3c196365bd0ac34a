"""crqlab.reports.kernels: warm kernels give the results of cold ones and carry nothing over.

Stand-in notebooks on the fixture study run one after another on one warm kernel (``jobs=1``):
the second must see none of the first's variables or process state, and a run must give the
same results.json on warm and on cold kernels. The real study notebooks on the sample are
compared warm against cold under ``slow``.
"""
from __future__ import annotations

import gc
import json
import os
from pathlib import Path

import nbformat
import psutil
import pytest

from crqlab.paths import NOTEBOOKS_DIR, SAMPLE_STUDY
from crqlab.reports import kernels, runner

FIXTURE = Path(__file__).parents[1] / "fixtures" / "mini_study"
KERNEL = {"name": "python3", "display_name": "Python 3", "language": "python"}
PARAMS = ('study_dir: str = "."  # study folder\n'
          'results_path: str = ""  # where results.json goes (empty: not saved)\n'
          'seed: int = 1  # random seed')


def _notebook(*sources: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = KERNEL
    params = nbformat.v4.new_code_cell(PARAMS)
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# Stand-in"), params,
                *[nbformat.v4.new_code_cell(s) for s in sources]]
    return nb


# notebook A changes everything a notebook can change, and records its kernel's pid
DIRTY = _notebook(
    "import os, sys, warnings\nimport numpy as np\nimport pandas as pd\n"
    "import matplotlib as mpl\nimport matplotlib.pyplot as plt\n"
    "from crqlab.reports import results\n"
    "leak = 'from notebook A'\n"
    "warnings.simplefilter('error')\n"
    "mpl.rcParams['lines.linewidth'] = 9.0\n"
    "pd.set_option('display.max_rows', 3)\n"
    "np.seterr(all='raise')\n"
    "os.environ['CRQLAB_LEAK'] = '1'\n"
    "sys.path.append('/crqlab-leak')\n"
    "plt.figure()\n"
    "results.record('kernel_pid', os.getpid())\n"
    "results.save(results_path)\n"
    "results.record('a_unsaved', 1)\n"
    "os.chdir('/')")
# notebook B records what it finds
CHECK = _notebook(
    "import os, sys, warnings\nimport numpy as np\nimport pandas as pd\n"
    "import matplotlib as mpl\nimport matplotlib.pyplot as plt\n"
    "from crqlab.reports import results\n"
    "found = {'leak_visible': 'leak' in globals(),\n"
    "         'recorded_before': sorted(results.current().as_dict().get('values', {})),\n"
    "         'linewidth': float(mpl.rcParams['lines.linewidth']),\n"
    "         'max_rows': pd.get_option('display.max_rows'),\n"
    "         'np_divide': np.geterr()['divide'],\n"
    "         'env_leak': 'CRQLAB_LEAK' in os.environ,\n"
    "         'path_leak': '/crqlab-leak' in sys.path,\n"
    "         'cwd': os.getcwd(),\n"
    "         'open_figures': len(plt.get_fignums()),\n"
    "         'errors_filter': ('error', None, Warning, None, 0) in warnings.filters,\n"
    "         'execution_count': get_ipython().execution_count,\n"
    "         'kernel_pid': os.getpid()}\n"
    "for k, v in found.items():\n"
    "    results.record(k, v if not isinstance(v, list) else len(v))\n"
    "results.save(results_path)")
# a notebook whose results depend on its seed, on random draws and on plotting
SEEDED = _notebook(
    "import numpy as np\nimport pandas as pd\nimport matplotlib.pyplot as plt\n"
    "from pathlib import Path\nfrom crqlab.measures.nps import nps_bootstrap\n"
    "from crqlab.reports import plotting, results\nplotting.apply_style()\n"
    "resp = pd.read_csv(Path(study_dir) / 'responses.csv').dropna(subset=['nps'])\n"
    "b = nps_bootstrap(resp['nps'], resp['contact_id'], n_boot=200, seed=seed).iloc[0]\n"
    "results.record('nps', b, headline=True)\n"
    "fig, ax = plt.subplots()\nax.hist(resp['nps'])\nplt.show()\n"
    "results.record('draw', float(np.random.default_rng(seed).normal()))\n"
    "results.save(results_path)")

# a notebook that loads the study: outside data/raw, it finds the run's cache of the study
CACHED = _notebook(
    "import os\nfrom pathlib import Path\nfrom crqlab.data.study import RUN_CACHE_ENV, load_study\n"
    "from crqlab.reports import results\n"
    "load_study(study_dir)\n"
    "folder = Path(os.environ.get(RUN_CACHE_ENV, '/nowhere'))\n"
    "results.record('cache_entries', len(list(folder.iterdir())) if folder.is_dir() else 0)\n"
    "results.record('cache_in_staging', folder.parent == Path(results_path).parents[1])\n"
    "results.save(results_path)")

def _notebooks(folder: Path, named: dict[str, nbformat.NotebookNode]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, nb in named.items():
        nbformat.write(nb, str(folder / name))
    return folder


def _values(out: Path, stem: str) -> dict:
    return json.loads((out / stem / "results.json").read_text(encoding="utf-8"))["values"]


def _kernel_children() -> list[psutil.Process]:
    return [p for p in psutil.Process().children(recursive=True)
            if "ipykernel" in " ".join(p.cmdline())]


def test_a_variable_or_state_of_one_notebook_is_not_seen_by_the_next(tmp_path):
    nbdir = _notebooks(tmp_path / "nb", {"01_dirty.ipynb": DIRTY, "02_check.ipynb": CHECK,
                                         "03_check.ipynb": CHECK})
    res = runner.run(FIXTURE, out=tmp_path / "out", notebooks_dir=nbdir, jobs=1,
                     progress=False)
    assert res.ok, [o.describe_error() for o in res.failed]
    a = _values(res.out_dir, "01_dirty")
    for stem in ("02_check", "03_check"):
        b = _values(res.out_dir, stem)
        # the same kernel process ran both notebooks: the check is not trivially passed
        assert b["kernel_pid.est"] == a["kernel_pid.est"]
        assert b["leak_visible.est"] is False
        assert b["recorded_before.est"] == 0  # nothing recorded (saved or not) by notebook A
        assert b["linewidth.est"] == 1.5      # matplotlib's default
        assert b["max_rows.est"] == 60        # pandas' default
        assert b["np_divide.est"] == "warn"
        assert b["env_leak.est"] is False and b["path_leak.est"] is False
        assert b["errors_filter.est"] is False
        assert b["open_figures.est"] == 0
        assert b["cwd.est"] == str(nbdir)
        # a new IPython session each time: the executed cells are counted from 1
        executed = nbformat.read(str(res.out_dir / stem / f"{stem}.ipynb"), as_version=4)
        counts = [c.execution_count for c in executed.cells if c.cell_type == "code"]
        assert counts == list(range(1, len(counts) + 1))
    assert (_values(res.out_dir, "02_check")["execution_count.est"]
            == _values(res.out_dir, "03_check")["execution_count.est"])
    # the run's kernel is gone once the run is over
    assert kernels.active_kernels() == [] and _kernel_children() == []


def test_warm_and_cold_runs_give_byte_identical_results(tmp_path):
    nbdir = _notebooks(tmp_path / "nb", {"01_seeded.ipynb": SEEDED, "02_dirty.ipynb": DIRTY,
                                         "03_seeded.ipynb": SEEDED, "04_cached.ipynb": CACHED})
    warm = runner.run(FIXTURE, out=tmp_path / "warm", notebooks_dir=nbdir, jobs=1,
                      progress=False, parameters={"seed": 7})
    cold = runner.run(FIXTURE, out=tmp_path / "cold", notebooks_dir=nbdir, jobs=1,
                      progress=False, parameters={"seed": 7}, cold=True)
    assert warm.ok and cold.ok
    for stem in ("01_seeded", "03_seeded"):
        assert ((warm.out_dir / stem / "results.json").read_bytes()
                == (cold.out_dir / stem / "results.json").read_bytes())
    # the seeded notebook after the dirty one gives what it gave first
    assert (warm.out_dir / "01_seeded" / "results.json").read_bytes() == \
        (warm.out_dir / "03_seeded" / "results.json").read_bytes()
    # the study, outside data/raw, was cached for the run's notebooks in its staging folder
    # (RUN_CACHE_ENV, set on warm kernels at their reset), and the cache is not published
    for r in (warm, cold):
        found = _values(r.out_dir, "04_cached")
        assert found["cache_entries.est"] == 1 and found["cache_in_staging.est"] is True
        assert not any(p.name == runner._STUDY_CACHE_DIR for p in r.out_dir.rglob("*"))
    # cold: a new kernel per notebook; warm: one for all three
    pid = {o: _values(r.out_dir, "02_dirty")["kernel_pid.est"] for o, r in
           (("warm", warm), ("cold", cold))}
    assert pid["warm"] != pid["cold"]
    # the executed notebooks are papermill's, with the parameters injected, counted from 1
    executed = nbformat.read(str(warm.out_dir / "03_seeded" / "03_seeded.ipynb"), as_version=4)
    assert executed.metadata["papermill"]["parameters"]["seed"] == 7
    counts = [c.execution_count for c in executed.cells if c.cell_type == "code"]
    assert counts == list(range(1, len(counts) + 1))


def test_a_failed_or_timed_out_notebook_retires_its_kernel(tmp_path, monkeypatch):
    monkeypatch.setattr(kernels, "PRELOAD", ("crqlab.reports.results",))  # quicker starts
    pid_cell = "import os\nfrom crqlab.reports import results\n" \
               "results.record('kernel_pid', os.getpid())\nresults.save(results_path)"
    nbdir = _notebooks(tmp_path / "nb", {
        "01_pid.ipynb": _notebook(pid_cell),
        "02_slow.ipynb": _notebook("print('before the wait')", "import time\ntime.sleep(60)"),
        "03_pid.ipynb": _notebook(pid_cell),
        "04_fail.ipynb": _notebook("raise ValueError('planted')"),
        "05_pid.ipynb": _notebook(pid_cell)})
    res = runner.run(FIXTURE, out=tmp_path / "out", notebooks_dir=nbdir, jobs=1,
                     progress=False, timeout=5)
    status = {o.name: o.status for o in res.outcomes}
    assert status == {"01_pid.ipynb": "ok", "02_slow.ipynb": "failed", "03_pid.ipynb": "ok",
                      "04_fail.ipynb": "failed", "05_pid.ipynb": "ok"}
    assert "Timeout" in res.outcomes[1].error["ename"]
    # the timed-out notebook keeps its executed copy, with the output of the cell before
    # (crqlab.reports.engine writes it when the notebook stops, not after every cell)
    slow = nbformat.read(str(res.out_dir / "02_slow" / "02_slow.ipynb"), as_version=4)
    assert any("before the wait" in o.get("text", "") for c in slow.cells
               if c.cell_type == "code" for o in c.outputs)
    # the failed notebook is kept as a report with its error
    assert (res.out_dir / "04_fail" / "04_fail.html").is_file()
    pids = [_values(res.out_dir, s)["kernel_pid.est"] for s in ("01_pid", "03_pid", "05_pid")]
    assert len(set(pids)) == 3  # a fresh kernel after each failure
    assert kernels.active_kernels() == [] and _kernel_children() == []


def test_kernel_reset_restores_state_in_process(tmp_path, monkeypatch):
    # kernel_reset outside a kernel (no IPython): the process state is restored all the same
    import warnings

    import matplotlib as mpl
    import numpy as np
    import pandas as pd

    from crqlab.reports import results

    kernels.kernel_preload(("numpy", "pandas", "matplotlib", "crqlab.reports.results"))
    assert gc.get_freeze_count() > 0  # the imported stack is kept out of later collections
    old_cwd, old_width = os.getcwd(), mpl.rcParams["lines.linewidth"]
    old_err = np.geterr()
    try:
        with warnings.catch_warnings():
            mpl.rcParams["lines.linewidth"] = 7.0
            pd.set_option("display.max_columns", 2)
            np.seterr(over="raise")
            results.record("stale", 1)
            os.environ["CRQLAB_RESET_TEST"] = "x"
            kernels.kernel_reset(str(tmp_path))
            assert mpl.rcParams["lines.linewidth"] == old_width
            assert pd.get_option("display.max_columns") != 2
            assert np.geterr() == old_err
            assert "CRQLAB_RESET_TEST" not in os.environ
            assert results.current().as_dict().get("values", {}) == {}
            assert os.getcwd() == str(tmp_path)
    finally:
        os.chdir(old_cwd)
        np.seterr(**old_err)
        pd.reset_option("display.max_columns")
        os.environ.pop("CRQLAB_RESET_TEST", None)
        gc.unfreeze()  # this is the test process, not a kernel


@pytest.mark.slow
def test_sample_study_results_identical_on_warm_and_cold_kernels(tmp_path):
    # issue 21: the six study notebooks on the sample, warm (2 jobs) against cold (2 jobs)
    warm = runner.run(SAMPLE_STUDY, out=tmp_path / "warm", progress=False, jobs=2)
    cold = runner.run(SAMPLE_STUDY, out=tmp_path / "cold", progress=False, jobs=2, cold=True)
    assert warm.ok and cold.ok
    stems = [p.stem for p in runner.discover_notebooks(NOTEBOOKS_DIR)]
    assert len(stems) == len(warm.outcomes) >= 6
    for stem in stems:
        assert ((warm.out_dir / stem / "results.json").read_bytes()
                == (cold.out_dir / stem / "results.json").read_bytes()), stem


class _ScriptedClient:
    """A kernel client whose channels deliver scripted messages: ``shell`` and ``iopub`` are
    lists of message builders (called with the ids of the kernel_info requests sent so far; None
    is a 1 s / 0.2 s silence), and ``alive`` says whether the kernel lives."""

    def __init__(self, shell, iopub, alive=True):
        import itertools
        from queue import Empty

        ids = (f"req{i}" for i in itertools.count())
        self.sent: list[str] = []
        self.handled = None
        self.alive = alive

        def channel(script):
            class Channel:
                async def get_msg(_self, timeout=None):
                    step = script.pop(0) if script else None
                    if step is None:
                        raise Empty
                    return step(self.sent)
            return Channel()

        self.shell_channel, self.iopub_channel = channel(list(shell)), channel(list(iopub))
        self.kernel_info = lambda: self.sent.append(next(ids)) or self.sent[-1]

    def _handle_kernel_info_reply(self, msg):
        self.handled = msg

    async def is_alive(self):
        return self.alive


def _msg(kind, which, state=None):
    """A message answering the ``which``-th request sent (``-1``: the last)."""
    def build(sent):
        return {"msg_type": kind, "parent_header": {"msg_id": sent[which]},
                "content": {"execution_state": state} if state else {}}
    return build


def _run_ready(client, timeout=30):
    import asyncio

    asyncio.run(kernels._ready(client, timeout))


def test_ready_at_the_idle_status_of_its_kernel_info():
    kc = _ScriptedClient(shell=[_msg("kernel_info_reply", 0)],
                         iopub=[_msg("status", 0, "busy"), _msg("status", 0, "idle")])
    _run_ready(kc)
    assert kc.sent == ["req0"] and kc.handled["parent_header"]["msg_id"] == "req0"


def test_late_answers_to_earlier_requests_end_the_wait():
    # a kernel still starting: two requests go unanswered, then the answers arrive in order,
    # one behind the requests; the first answer of any request ends the wait
    kc = _ScriptedClient(shell=[None, None, _msg("kernel_info_reply", 0),
                                _msg("kernel_info_reply", 1), _msg("kernel_info_reply", 2)],
                         iopub=[_msg("status", 0, "busy"), _msg("status", 0, "idle")])
    _run_ready(kc)
    assert kc.sent == ["req0", "req1", "req2"]
    assert kc.handled["parent_header"]["msg_id"] == "req0"


def test_asks_again_until_iopub_has_joined():
    # the first answer comes while IOPub is not connected yet (its status messages are lost)
    kc = _ScriptedClient(shell=[_msg("kernel_info_reply", 0), _msg("kernel_info_reply", 1)],
                         iopub=[None, _msg("status", 1, "busy"), _msg("status", 1, "idle")])
    _run_ready(kc)
    assert kc.sent == ["req0", "req1"] and kc.handled["parent_header"]["msg_id"] == "req1"


def test_a_dead_kernel_or_the_deadline_ends_the_wait():
    with pytest.raises(RuntimeError, match="died before replying"):
        _run_ready(_ScriptedClient(shell=[None], iopub=[], alive=False))
    with pytest.raises(RuntimeError, match="didn't respond in 0 seconds"):
        _run_ready(_ScriptedClient(shell=[None], iopub=[]), timeout=0)

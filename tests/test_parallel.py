"""Local and Dask execution (crqlab.parallel)."""
from __future__ import annotations

import operator

import pytest

from crqlab.parallel import map_tasks
from crqlab.studies.power import PowerDesign, power_curve


def test_results_in_input_order_locally():
    tasks = [(i, 10) for i in range(7)]
    assert map_tasks(operator.mul, tasks, jobs=2) == [i * 10 for i in range(7)]
    assert map_tasks(operator.mul, tasks, jobs=1) == [i * 10 for i in range(7)]


def test_dask_localcluster_gives_the_same_power_table():
    distributed = pytest.importorskip("distributed")
    d = PowerDesign()
    local = power_curve([150, 300, 450], d, reps=300, seed=3, jobs=1)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        remote = power_curve([150, 300, 450], d, reps=300, seed=3, scheduler=cluster)
    assert local.equals(remote)

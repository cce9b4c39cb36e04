"""The suite's default spread over the cores (tests/conftest.py), checked on stand-in configs."""

from __future__ import annotations

from types import SimpleNamespace

import conftest


def _config(**option):
    defaults = {"numprocesses": None, "dist": "no", "collectonly": False}
    return SimpleNamespace(option=SimpleNamespace(**{**defaults, **option}))


def test_without_n_the_suite_asks_xdist_for_a_worker_per_core_and_hands_out_whole_files():
    config = _config()
    conftest.pytest_cmdline_main(config)
    assert (config.option.numprocesses, config.option.dist) == ("auto", "loadfile")


def test_an_explicit_n_a_dist_mode_a_collection_a_worker_and_no_xdist_are_left_alone():
    explicit = _config(numprocesses=0)
    conftest.pytest_cmdline_main(explicit)
    assert (explicit.option.numprocesses, explicit.option.dist) == (0, "no")
    chosen = _config(dist="load")
    conftest.pytest_cmdline_main(chosen)
    assert (chosen.option.numprocesses, chosen.option.dist) == ("auto", "load")
    listing = _config(collectonly=True)
    conftest.pytest_cmdline_main(listing)
    assert listing.option.numprocesses is None
    worker = _config()
    worker.workerinput = {"workerid": "gw0"}
    conftest.pytest_cmdline_main(worker)
    assert worker.option.numprocesses is None
    without_xdist = SimpleNamespace(option=SimpleNamespace(dist="no", collectonly=False))
    conftest.pytest_cmdline_main(without_xdist)
    assert not hasattr(without_xdist.option, "numprocesses")


def test_auto_is_the_cores_capped_unless_the_environment_names_a_count(monkeypatch):
    monkeypatch.delenv("PYTEST_XDIST_AUTO_NUM_WORKERS", raising=False)
    monkeypatch.setattr(conftest.os, "sched_getaffinity", lambda pid: set(range(64)))
    assert conftest.pytest_xdist_auto_num_workers(None) == conftest.MAX_DEFAULT_WORKERS
    monkeypatch.setattr(conftest.os, "sched_getaffinity", lambda pid: {0, 1})
    assert conftest.pytest_xdist_auto_num_workers(None) == 2
    monkeypatch.setenv("PYTEST_XDIST_AUTO_NUM_WORKERS", "3")
    assert conftest.pytest_xdist_auto_num_workers(None) == 3

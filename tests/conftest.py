"""Shared fixtures: every test gets its own runs/ folder, and W&B is off unless a test turns it on."""

from __future__ import annotations

import os
from pathlib import Path

# Tiny networks gain nothing from a second thread, and when tests run subprocesses beside the
# pytest process (DDP ranks, signal tests) 2 OpenMP threads per process oversubscribe 2 cores,
# where spinning threads make a step 10-40x slower. Set before any test imports torch.
os.environ.setdefault("OMP_NUM_THREADS", "1")
# Subprocesses (`python -m workbench ...`, torchrun ranks) import this checkout's code, whatever
# is installed: a git worktree is tested as itself.
_REPO = str(Path(__file__).resolve().parents[1])
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (_REPO, os.environ.get("PYTHONPATH", "")) if p
)

import pytest  # noqa: E402 - after the environment above is set

# At most this many pytest-xdist workers by default: each imports torch and the plugins (about
# 0.5 GB), and past a handful the suite is bound by its longest file, not by the cores.
MAX_DEFAULT_WORKERS = 8


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config):
    """The suite spreads over the cores by default: without ``-n``, pytest-xdist (the ``test``
    extra installs it) starts one worker per core, up to MAX_DEFAULT_WORKERS, and hands out whole
    files (``--dist loadfile``), so a module-scoped fixture that trains a run trains it once.
    On CI's 2 cores that halves the wall time of a suite whose tests each use one core.
    ``-n 0`` runs it in this process (for ``--pdb``, or one test); without xdist it runs serially
    as before. This conftest registers after the xdist plugin, and pluggy calls the later of two
    ``tryfirst`` hooks first, so xdist reads the options set here."""
    if hasattr(config, "workerinput") or not hasattr(config.option, "numprocesses"):
        return  # a worker, or xdist is absent or disabled (-p no:xdist)
    if config.option.numprocesses is None and not config.option.collectonly:
        config.option.numprocesses = "auto"
        if config.option.dist == "no":
            config.option.dist = "loadfile"


@pytest.hookimpl(optionalhook=True)  # xdist's hook: unknown, and unused, without xdist
def pytest_xdist_auto_num_workers(config):
    """``-n auto``: PYTEST_XDIST_AUTO_NUM_WORKERS if set, else the cores this process may use,
    capped at MAX_DEFAULT_WORKERS."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS", "").isdigit():
        return int(os.environ["PYTEST_XDIST_AUTO_NUM_WORKERS"])
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cores or 1, MAX_DEFAULT_WORKERS))


@pytest.fixture(autouse=True)
def _isolated_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("WANDB_MODE", "disabled")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_CACHE_DIR", str(tmp_path / "wandb-cache"))
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "wandb-config"))
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    yield


@pytest.fixture
def runs_root(tmp_path) -> Path:
    return tmp_path / "runs"


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tests run tiny nets on a shared, loaded 2-core machine, where 2 intra-op threads are
    several times slower than 1 (benchmarks/classifier_speed.py measures it); and a run in this
    process that sets torch_threads must not leak its setting into the next test."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def pytest_collection_modifyitems(config, items):
    """Tests marked ``cuda`` skip, with the reason, where torch sees no GPU (CI, this machine);
    benchmarks/gpu_check.py --phase tests runs them on a GPU machine."""
    marked = [item for item in items if "cuda" in item.keywords]
    if not marked:
        return
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason=f"needs a CUDA GPU; torch {torch.__version__} sees none here "
                                   "(benchmarks/gpu_check.py --phase tests runs these on one)")
    for item in marked:
        item.add_marker(skip)

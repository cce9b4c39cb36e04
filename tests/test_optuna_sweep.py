"""`workbench sweep --optuna`: typed search spaces, two workers on one study, pruning, restarts."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from helpers import REPO, open_study_at_the_barrier

from workbench.commands.cli import main

optuna = pytest.importorskip("optuna")

from workbench.studies.optuna_sweep import fail_dead_trials, parse_param  # noqa: E402
from workbench.toy_config import LinRegConfig  # noqa: E402

# linreg with the SGD learning rate searched; a step sleeps so that the runs last a moment
LINREG = ["total_steps=40", "eval_every=10", "log_every=10", "checkpoint_every=10"]


def _worker(runs_root: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "WORKBENCH_RUNS": str(runs_root)}
    return subprocess.Popen([sys.executable, "-m", "workbench", "sweep", "linreg", "--optuna", *args],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _finish(worker: subprocess.Popen, timeout: float = 240) -> tuple[int, str]:
    out, _ = worker.communicate(timeout=timeout)
    return worker.returncode, out


def _run_json(run: Path) -> dict:
    return json.loads((run / "run.json").read_text())


def test_spaces_are_typed_for_the_config_field():
    p = parse_param("batch_size=int(32,256,log)", LinRegConfig)
    assert (p.key, p.kind, p.low, p.high, p.log) == ("batch_size", "int", 32, 256, True)
    assert p.suggest(optuna.trial.FixedTrial({"batch_size": 100})) == 100
    p = parse_param("lr=loguniform(1e-5,1e-3)", LinRegConfig)
    assert (p.key, p.kind, p.log) == ("optim.lr", "float", True)
    p = parse_param("features=choice(2,4,8)", LinRegConfig)
    assert p.kind == "categorical" and p.choices == [2, 4, 8]  # ints, not strings
    assert parse_param("noise=float(0,1)", LinRegConfig).kind == "float"
    assert parse_param("seed=3", LinRegConfig).kind == "fixed"


@pytest.mark.parametrize("args, message", [
    (["--trials", "2", "lr=int(1,5)"], "int(lo,hi) is for int keys"),
    (["--trials", "2", "features=float(1,8)"], "float(lo,hi) is for float keys"),
    (["--trials", "2", "total_steps=int(0,100)"], "must be > 0"),
    (["--trials", "2", "lr=loguniform(0,1)"], "low > 0"),
    (["--trials", "2", "lr=loguniform(1e-5,1e-3)", "--sampler", "grid"], "is a range"),
    (["lr=loguniform(1e-5,1e-3)"], "needs --trials"),
    (["--trials", "2", "lrr=loguniform(1e-5,1e-3)"], "unknown config key 'lrr'"),
    (["--trials", "2", "lr=loguniform(1e-5,1e-3)", "--storage", "redis://host"], "unknown kind of storage"),
])
def test_a_bad_search_space_is_an_exit_2_error_before_anything_exists(runs_root, capsys, args, message):
    assert main(["sweep", "linreg", "--optuna", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not runs_root.exists()


def test_optuna_options_without_optuna_are_an_error(capsys):
    assert main(["sweep", "linreg", "seed=0,1", "--trials", "3"]) == 2
    assert "--trials belongs to Optuna sweeps: add --optuna" in capsys.readouterr().err


@pytest.mark.slow
def test_two_workers_share_one_study_no_trial_runs_twice_and_bad_trials_are_pruned(runs_root, tmp_path):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    # the study's first trials are queued, so that the test is deterministic: two good learning
    # rates first, then four bad ones. A bad trial starts only after a worker has finished a
    # good one, so with --pruner-startup 1 the median at its first evaluation is a good run's.
    study = optuna.create_study(study_name="two", storage=storage, direction="minimize")
    for lr in (0.05, 0.05, 1e-4, 1e-4, 1e-4, 1e-4):
        study.enqueue_trial({"optim.lr": lr})
    args = ["--trials", "6", "--storage", storage, "--study", "two", "--pruner-startup", "1",
            "lr=loguniform(1e-5,1e-1)", *LINREG, "sleep_per_step=0.02"]
    workers = [_worker(runs_root, *args) for _ in range(2)]
    results = [_finish(w) for w in workers]
    assert all(code == 0 for code, _ in results), results

    trials = optuna.load_study(study_name="two", storage=storage).get_trials()
    states = {t.number: t.state.name for t in trials}
    assert sorted(states) == list(range(6))  # 6 trials in all, not 6 per worker
    assert [states[n] for n in (0, 1)] == ["COMPLETE", "COMPLETE"]
    assert [states[n] for n in (2, 3, 4, 5)] == ["PRUNED"] * 4
    # every trial ran exactly once, in its own ordinary run directory
    folder = runs_root / "two"
    runs = sorted(p.name for p in folder.iterdir() if (p / "run.json").exists())
    assert runs == [f"trial-{n:04d}" for n in range(6)]
    assert [t.user_attrs["run"] for t in sorted(trials, key=lambda t: t.number)] == runs
    for t in trials:
        steps = [json.loads(line)["step"] for line in (folder / t.user_attrs["run"] / "metrics.jsonl")
                 .read_text().splitlines() if "eval/mse" in line]
        assert steps == sorted(set(steps))  # no step logged twice: one run, never two
        info = _run_json(folder / t.user_attrs["run"])
        assert info["group"] == "two" and info["status"] == ("finished" if t.state.name == "COMPLETE"
                                                             else "pruned")
        if t.state.name == "PRUNED":
            assert info["step"] == 10 < 40  # stopped at its first evaluation

    out = results[0][1] + results[1][1]
    assert "4 pruned" in out and "2 complete" in out
    best = yaml.safe_load((folder / "best-config.yaml").read_text())
    assert best["optim"]["lr"] == 0.05 and best["total_steps"] == 40
    assert (folder / "best-command.txt").read_text().startswith("workbench run linreg optim.lr=0.05 ")
    assert (folder / "history.png").stat().st_size > 0 and (folder / "importances.png").exists()
    trials_md = (folder / "trials.md").read_text()
    assert trials_md.count("| pruned |") == 4 and trials_md.count("| complete |") == 2
    compare = subprocess.run([sys.executable, "-m", "workbench", "compare", "--group", "two"],
                             cwd=REPO, env={**os.environ, "WORKBENCH_RUNS": str(runs_root)},
                             capture_output=True, text=True, timeout=120)
    assert compare.stdout.count(" pruned ") == 4, compare.stdout


@pytest.mark.parametrize("rounds", [3, pytest.param(12, marks=pytest.mark.slow)])
def test_workers_started_at_the_same_instant_on_a_new_sqlite_study_all_open_it(rounds, tmp_path):
    """The README's "two terminals" recipe: on a new SQLite file, every worker but one used to
    lose the race to create Optuna's tables ("table studies already exists", a UNIQUE
    constraint) in 9 rounds of 10. Four workers meet at a barrier, then open one new study
    each round: 3 rounds in the fast tier, 12 in the full suite."""
    workers = 4
    ctx = multiprocessing.get_context("spawn")  # no fork of a process that may hold threads
    barrier, results = ctx.Barrier(workers), ctx.Queue()
    url = f"sqlite:///{tmp_path}/study-{{}}.db"
    procs = [ctx.Process(target=open_study_at_the_barrier, args=(url, rounds, barrier, results))
             for _ in range(workers)]
    for p in procs:
        p.start()
    try:
        outcomes = [results.get(timeout=180) for _ in range(workers * rounds)]
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
    failed = [o for o in outcomes if o[1] != "st"]
    assert failed == [], failed
    for r in range(rounds):  # one study per database, whoever created it
        assert optuna.get_all_study_names(url.format(r)) == ["st"]


@pytest.mark.slow
def test_an_interrupted_sweep_continues_with_the_same_command(runs_root):
    args = ["--trials", "2", "--study", "cut", "--pruner", "none", "lr=loguniform(1e-2,1e-1)",
            *LINREG, "sleep_per_step=0.05"]
    worker = _worker(runs_root, *args)
    first = runs_root / "cut" / "trial-0000"
    end = time.time() + 180
    while not (first / "checkpoints" / "latest.pt").exists():
        assert worker.poll() is None and time.time() < end, worker.communicate()[0]
        time.sleep(0.1)
    worker.send_signal(signal.SIGINT)
    code, out = _finish(worker)
    assert code == 130, out
    assert f"workbench resume {first}" in out
    assert _run_json(first)["status"] == "interrupted"  # checkpointed, resumable

    code, out = _finish(_worker(runs_root, *args))  # the same command again
    assert code == 0, out
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(runs_root / "cut" / "optuna.journal")))
    states = [t.state.name for t in optuna.load_study(study_name="cut", storage=storage).get_trials()]
    assert states == ["FAIL", "COMPLETE", "COMPLETE"]  # Optuna failed the cut trial; 2 counted
    assert main(["resume", str(first), "--wandb", "disabled"]) == 0
    assert _run_json(first)["status"] == "finished" and _run_json(first)["step"] == 40


def test_a_trial_whose_worker_died_on_this_machine_is_marked_failed():
    study = optuna.create_study()
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    dead, alive = study.ask(), study.ask()
    dead.set_user_attr("worker", f"{socket.gethostname()}:{gone.pid}")
    alive.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
    assert fail_dead_trials(study) == [dead.number]
    assert [t.state.name for t in study.get_trials()] == ["FAIL", "RUNNING"]

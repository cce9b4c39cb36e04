"""A run name (and a sweep or study name) is one folder under the runs folder, which must be a
folder this user can write: nothing is ever written outside it, and a bad one is exit 2."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from workbench.commands.cli import main


@pytest.mark.parametrize("name", ["../../escape", "/tmp/wb-escape", "a/b", "", ".", "..",
                                  "two\nlines", "tab\there", "back\\slash", "x" * 256])
def test_a_run_name_that_is_not_one_folder_name_is_exit_2_and_writes_nothing(name, tmp_path,
                                                                            runs_root, capsys,
                                                                            monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = set(tmp_path.rglob("*"))
    assert main(["run", "linreg-quick", "--name", name]) == 2
    err = capsys.readouterr().err
    assert "invalid run name" in err and "one folder name" in err and "Traceback" not in err
    assert set(tmp_path.rglob("*")) == before  # no run directory, inside runs/ or out of it
    assert not Path("/tmp/wb-escape").exists()


def test_an_ordinary_run_name_still_works(runs_root, capsys):
    assert main(["run", "linreg-quick", "--name", "lr0.05_seed-1.v2", "total_steps=10"]) == 0
    assert (runs_root / "linreg-quick" / "lr0.05_seed-1.v2" / "run.json").is_file()


@pytest.mark.parametrize("argv, says", [
    (["sweep", "linreg-quick", "optim.lr=0.01,0.02", "--name", "../x"], "invalid sweep name '../x'"),
    (["sweep", "linreg-quick", "optim.lr=0.01,0.02", "--optuna", "--trials", "2", "--study", "../x"],
     "invalid study name '../x'"),
    (["sweep", "linreg-quick", "optim.lr=0.01,0.02", "--name", ".."], "invalid sweep name '..'"),
])
def test_a_sweep_or_study_name_that_is_not_one_folder_name_is_exit_2_and_writes_nothing(
        argv, says, tmp_path, monkeypatch, capsys):
    """Sweep runs are named GROUP_<values> and study runs live in runs/<STUDY>/: `../x` would
    put them in hidden folders beside runs/, which `run --name ../x` already refuses."""
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert says in err and "one folder name" in err and "Traceback" not in err
    assert list(tmp_path.rglob("*")) == []


@pytest.mark.parametrize("argv", [["run", "linreg-quick"],
                                  ["sweep", "linreg-quick", "optim.lr=0.01,0.02"],
                                  ["sweep", "linreg-quick", "optim.lr=0.01,0.02", "--optuna",
                                   "--trials", "2"]])
def test_workbench_runs_naming_a_file_is_exit_2_naming_it(argv, tmp_path, monkeypatch, capsys):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a folder")
    monkeypatch.setenv("WORKBENCH_RUNS", str(a_file))
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"WORKBENCH_RUNS names {a_file}, but it is a file, not a folder" in err, err
    assert "Traceback" not in err
    assert a_file.read_text() == "not a folder" and sorted(tmp_path.iterdir()) == [a_file]


def test_workbench_runs_under_a_file_is_exit_2_naming_the_file(tmp_path, monkeypatch, capsys):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("")
    monkeypatch.setenv("WORKBENCH_RUNS", str(a_file / "runs"))
    assert main(["run", "linreg-quick"]) == 2
    assert f"but {a_file}, on its path, is a file" in capsys.readouterr().err


def _read_only_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    return folder


def test_workbench_runs_in_a_read_only_folder_is_exit_2_and_writes_nothing(tmp_path, monkeypatch,
                                                                          capsys):
    folder = _read_only_folder(tmp_path)
    if os.access(folder, os.W_OK):
        pytest.skip("this user may write into a folder without write bits (root): mkdir would "
                    "succeed, so there is nothing to refuse; the next test pins the check itself")
    monkeypatch.setenv("WORKBENCH_RUNS", str(folder / "runs"))
    try:
        assert main(["run", "linreg-quick"]) == 2
        err = capsys.readouterr().err
        assert f"but {folder} is read-only for this user" in err and "Traceback" not in err
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o755)


def test_the_runs_folder_check_asks_the_kernel_as_mkdir_would(tmp_path, monkeypatch, capsys):
    """What fails is access(2) for writing (a read-only mount fails it even for root), not the
    mode bits: the check asks os.access, here answering as it does for a read-only folder."""
    folder = tmp_path / "ro"
    folder.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if Path(p) == folder
                        else real_access(p, mode, **kw))
    monkeypatch.setenv("WORKBENCH_RUNS", str(folder))
    assert main(["run", "linreg-quick"]) == 2
    err = capsys.readouterr().err
    assert f"WORKBENCH_RUNS names {folder}, but {folder} is read-only" in err
    assert "Traceback" not in err and list(folder.iterdir()) == []

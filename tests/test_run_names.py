"""A run name is one folder under runs/<group>/: nothing is ever written outside it."""

from __future__ import annotations

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

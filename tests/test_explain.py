"""`workbench explain`, the hook itself: a plugin without it says so, options are listed and
checked, and the HTML it writes reaches W&B as an HTML panel."""

from __future__ import annotations

from tests.helpers import cli, tiny_cartpole_run
from tests.test_wandb import _records
from workbench.commands.cli import main
from workbench.logger import Logger


def test_a_plugin_without_explain_says_so_with_exit_2(runs_root, capsys):
    assert main(["run", "linreg-quick", "--name", "x", "--wandb", "disabled"]) == 0
    capsys.readouterr()
    assert main(["explain", str(runs_root / "linreg-quick" / "x"), "--wandb", "disabled"]) == 2
    err = capsys.readouterr().err
    assert "does not support `workbench explain`" in err and "Traceback" not in err


def test_explain_help_lists_the_plugins_options_and_a_missing_run_is_exit_2(runs_root):
    r = cli("explain", "--help")
    assert r.returncode == 0 and "--out" in r.stdout and "--pretrained" in r.stdout
    r = cli("explain", "--pretrained", "dqn-pong", "--help")
    assert r.returncode == 0 and "options of `explain --pretrained`" in r.stdout and "--method" in r.stdout
    assert cli("explain").returncode == 2
    r = cli("describe", "classifier-digits")
    assert "options of `workbench explain RUN_DIR`" in r.stdout and "--per-class" in r.stdout
    r = cli("describe", "dqn-pong")
    assert "--steps" in r.stdout and "integrated-gradients | saliency" in r.stdout


def test_log_html_writes_the_page_and_a_wandb_html_panel(tmp_path):
    logger = Logger(tmp_path, wandb_mode="offline", run_id="htmltest1")
    path = logger.log_html("explain/page", "<p>hello</p>", step=7)
    logger.close()
    assert path is not None and path.read_text() == "<p>hello</p>" and path.parent.name == "media"
    history = [x["history"]["item"] for x in _records(tmp_path) if x["type"] == "history"]
    panel = next(h for h in history if "explain/page._type" in h)
    assert panel["explain/page._type"] == "html-file" and panel["step"] == 7


def test_explain_out_naming_an_existing_file_is_exit_2_and_leaves_the_file(tmp_path, capsys):
    run = tiny_cartpole_run(tmp_path / "runs")
    a_file = tmp_path / "attributions.png"
    a_file.write_bytes(b"mine")
    for argv in ([str(run)], ["--pretrained", "dqn-pong"]):
        assert main(["explain", *argv, "--out", str(a_file)]) == 2
        err = capsys.readouterr().err
        assert f"--out names {a_file}, but it is a file, not a folder" in err, err
        assert "Give a folder" in err and "Traceback" not in err
    assert a_file.read_bytes() == b"mine"
    assert not (run / "media" / "explain").exists()

"""A trained DQN agent ships as weights only and plays with `workbench eval --pretrained`; a run's
evaluation reports every game and can be replayed by seed."""

from __future__ import annotations

import os
import re

import numpy as np
import pytest
import torch

from workbench.agents.dqn import pretrained
from workbench.commands.cli import main
from workbench.commands.pretrained import shipped
from workbench.engine.loop import Launch, load_for_inference, start
from workbench.engine.runs import RunDir

# seconds: 50 updates, so the weights are not the initial ones; a final evaluation of 2 games
# (periodic ones would play 1): full Pong games, which an untrained net loses in ~760 steps
TINY = {"total_steps": 400, "learning_starts": 200, "buffer_size": 800, "env.num_envs": 2,
        "batch_size": 8, "log_every": 200, "eval_every": 0, "checkpoint_every": 0,
        "eval_episodes": 1, "final_eval_episodes": 2, "eval_video": False, "torch_threads": 1,
        "env.screen_size": 84}  # 84x84: the dense layers are big enough to be stored in int8
GAME_LINE = re.compile(r"game +(\d+): return +([+-]\d+\.\d) +length +([\d,]+) steps")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> RunDir:
    root = tmp_path_factory.mktemp("runs")
    code, run = start("dqn-pong", TINY, run_name="tiny",
                      launch=Launch(wandb_mode="disabled", progress=False), root=root)
    assert code == 0
    return run


@pytest.fixture(scope="module")
def shipped_file(tiny_run, tmp_path_factory) -> str:
    """Written by the generic verb: ``workbench export RUN --format weights``; the core finds
    DQN's weights hooks through the registry, not by importing DQN."""
    out = tmp_path_factory.mktemp("weights") / "tiny.pt"
    assert main(["export", str(tiny_run.path), "--format", "weights", "--out", str(out)]) == 0
    assert out.is_file()
    return str(out)


def test_a_plugin_without_weights_hooks_refuses_export_as_weights(tmp_path, capsys):
    code, run = start("linreg-quick", {"total_steps": 4, "log_every": 2, "eval_every": 4},
                      run_name="lin", launch=Launch(wandb_mode="disabled", progress=False),
                      root=tmp_path)
    assert code == 0
    assert main(["export", str(run.path), "--format", "weights"]) == 2
    assert "plugin 'linreg' has no weights files" in capsys.readouterr().err
    assert not (run.path / "export").exists()


def test_the_final_evaluation_plays_final_eval_episodes_games(tiny_run):
    evals = [r for r in tiny_run.read_metrics() if "eval/return" in r]
    assert [(r["step"], r["eval/episodes"]) for r in evals] == [(400, 2.0)]
    assert "eval/return_std" in evals[0]


def test_exported_weights_are_small_self_describing_and_match_the_run_network(tiny_run, shipped_file):
    blob = torch.load(shipped_file, map_location="cpu", weights_only=True)
    assert blob["preset"] == "dqn-pong" and blob["step"] == 400
    assert blob["env"]["id"] == "ALE/Pong-v5" and blob["env"]["frame_stack"] == 4
    assert blob["net"]["dueling"] is True and blob["eval"]["games"] == 2.0
    # the dueling Nature CNN is 3.3M weights: under 5 MB only with the big layers in int8
    assert sum(v.numel() for v in blob["weights"].values()) > 3_000_000
    assert os.path.getsize(shipped_file) < 5_000_000

    net, _ = pretrained.load(shipped_file)
    agent, _, _ = load_for_inference(tiny_run.path)
    try:
        rng = np.random.default_rng(0)
        low, high = agent.buffer._valid_range()
        obs = agent.buffer.stacks(rng.integers(low, high + 1, 64), rng.integers(0, 2, 64))
        with torch.no_grad():
            want = agent.q(torch.from_numpy(obs)).float()
            got = net(torch.from_numpy(obs))
    finally:
        agent.close()
    assert not torch.equal(want, got)  # it is a compressed copy, not the same tensors
    # bf16 and per-row int8 keep the Q-values within 1 % of their scale
    assert (got - want).abs().max() <= 0.01 * want.abs().max()


def test_eval_pretrained_file_plays_one_full_game_and_prints_its_line(shipped_file, capsys):
    assert main(["eval", "--pretrained", shipped_file, "--episodes", "1", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    (game,) = GAME_LINE.findall(out)
    assert game[0] == "1" and -21 <= float(game[1]) <= 21
    assert int(game[2].replace(",", "")) > 100  # a whole game, not a few steps
    assert "over 1 games at epsilon 0.001, seed 3" in out


@pytest.mark.slow  # plays full Pong games twice; eval --pretrained FILE stays fast
def test_eval_of_a_run_prints_every_game_and_replays_by_seed(tiny_run, capsys):
    args = ["eval", str(tiny_run.path), "--episodes", "2", "--seed", "5", "--epsilon", "1"]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert len(GAME_LINE.findall(first)) == 2 and "over 2 games at epsilon 1, seed 5" in first
    assert main(args) == 0
    assert GAME_LINE.findall(capsys.readouterr().out) == GAME_LINE.findall(first)


@pytest.mark.parametrize("argv, says", [
    (["--episodes", "0"], "option --episodes must be > 0; got 0"),
    (["--episodes", "-3"], "option --episodes must be > 0; got -3"),
    (["--epsilon", "2"], "option --epsilon must be in [0, 1]"),
    (["--video"], "--video needs --out DIR"),
])
def test_bad_eval_options_are_exit_2_before_anything_plays(shipped_file, capsys, argv, says):
    assert main(["eval", "--pretrained", shipped_file, *argv]) == 2
    assert says in capsys.readouterr().err


def test_eval_video_out_naming_a_file_is_exit_2_before_anything_plays(shipped_file, tmp_path,
                                                                      capsys):
    a_file = tmp_path / "video"
    a_file.write_text("mine")
    assert main(["eval", "--pretrained", shipped_file, "--video", "--out", str(a_file)]) == 2
    err = capsys.readouterr().err
    assert f"--out names {a_file}, but it is a file, not a folder" in err and "game" not in err
    assert a_file.read_text() == "mine"


def test_an_unknown_pretrained_name_lists_the_shipped_agents(capsys):
    assert main(["eval", "--pretrained", "dqn-nonesuch"]) == 2
    err = capsys.readouterr().err
    assert "'dqn-nonesuch' is neither a preset that ships weights nor a file" in err
    assert "Presets with weights: " in err
    for name in shipped():
        assert name in err


@pytest.mark.skipif("dqn-pong" not in shipped(),
                    reason="agents/weights/dqn-pong.pt is not in the repo yet (it comes from the "
                    "solved Pong run of docs/dqn.md)")
@pytest.mark.slow
def test_the_shipped_pong_agent_loads_and_plays_a_game(capsys):
    assert main(["eval", "--pretrained", "dqn-pong", "--episodes", "1"]) == 0
    out = capsys.readouterr().out
    assert len(GAME_LINE.findall(out)) == 1 and out.startswith("dqn-pong")


@pytest.mark.skipif("dqn-pong" not in shipped(), reason="no shipped dqn-pong agent")
def test_the_shipped_pong_agent_sees_the_frames_the_preset_trains_on():
    from workbench.commands.pretrained import resolve
    from workbench.engine.loop import prepare

    _, meta = pretrained.load(resolve("dqn-pong")[1])
    cfg = prepare("dqn-pong", {})[1]
    side = meta["env"].get("screen_size", 84)
    assert side == meta["net"]["frame_size"] == cfg.env.screen_size
    assert meta["env"]["id"] == cfg.env.id and meta["net"]["dueling"] == cfg.dueling


def test_a_compact_42x42_agent_exports_and_plays_at_its_own_frame_size(tmp_path, capsys):
    code, run = start("dqn-pong", {**TINY, "env.screen_size": 42, "network": "compact",
                                   "final_eval_episodes": 1},
                      run_name="compact", launch=Launch(wandb_mode="disabled", progress=False),
                      root=tmp_path)
    assert code == 0
    out = tmp_path / "compact.pt"
    assert main(["export", str(run.path), "--format", "weights", "--out", str(out)]) == 0
    blob = torch.load(out, map_location="cpu", weights_only=True)
    assert blob["net"]["kind"] == "compact_cnn" and blob["net"]["frame_size"] == 42
    assert blob["env"]["screen_size"] == 42
    net, _ = pretrained.load(out)
    agent, _, _ = load_for_inference(run.path)
    try:
        obs = torch.from_numpy(agent.buffer.stacks(np.arange(10, 20), np.zeros(10, np.int64)))
        assert obs.shape[-2:] == (42, 42)
        with torch.no_grad():
            want, got = agent.q(obs).float(), net(obs)
    finally:
        agent.close()
    assert (got - want).abs().max() <= 0.01 * want.abs().max()
    capsys.readouterr()
    assert main(["eval", "--pretrained", str(out), "--episodes", "1", "--seed", "3"]) == 0
    (game,) = GAME_LINE.findall(capsys.readouterr().out)
    assert int(game[2].replace(",", "")) > 100

"""A trained DQN agent in one small file: the Q-network's weights (bf16; the two big layers int8)
plus what rebuilding the network and its environment needs. ``workbench eval --pretrained dqn-pong`` plays it with no run
directory, as RL Zoo ships trained agents (Raffin 2020, "RL Baselines Zoo").

These are DQN's weights hooks (:class:`workbench.registry.WeightsHooks`, named where DQN
registers in agents/plugins.py). Shipped agents live in ``agents/weights/<preset>.pt`` (package
data: ``workbench/agents/weights`` in a wheel), declared by the preset's ``weights=``. A file is
written from a run with::

    workbench export runs/dqn-pong/NAME --format weights --out agents/weights/dqn-pong.pt

It is a plain dict of tensors, numbers and strings, read with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from workbench.agents.dqn.agent import epsilon_greedy
from workbench.agents.dqn.config import DQNEvalOptions
from workbench.agents.dqn.networks import MLP, CompactCNN, NatureCNN
from workbench.config import from_dict
from workbench.engine import checkpoint
from workbench.envs.config import EnvConfig
from workbench.errors import UserError, check_folder
from workbench.plugin import Serving
from workbench.rollout import evaluation

FORMAT = "workbench-dqn-weights"
VERSION = 1


def _net_spec(q: dict[str, torch.Tensor], cfg: dict[str, Any]) -> dict[str, Any]:
    """What rebuilds the network: read off the weights' shapes, so it cannot disagree with them."""
    # the CNNs' first layer is a conv; the MLP's is a Linear after its Flatten
    first = q["features.0.weight"] if "features.0.weight" in q else q["features.1.weight"]
    last = q["head.advantage.2.weight"]
    quantiles = int(cfg.get("num_quantiles", 0))  # QR-DQN: num_actions x num_quantiles outputs
    spec = {"dueling": bool(cfg["dueling"]), "num_actions": int(last.shape[0]) // max(quantiles, 1),
            "num_quantiles": quantiles}
    if first.dim() == 4:
        side = int(cfg["env"].get("screen_size", 84))
        kind = "compact_cnn" if cfg.get("network") == "compact" else "nature_cnn"
        return {**spec, "kind": kind, "in_channels": int(first.shape[1]), "frame_size": side}
    return {**spec, "kind": "mlp", "in_features": int(first.shape[1]), "hidden": int(cfg["hidden"])}


def pack(q: dict[str, torch.Tensor]) -> dict[str, dict[str, torch.Tensor]]:
    """bf16 for every tensor but the big fully connected weights (3136 x 512: 93 % of a Nature
    CNN's weights, twice over with a dueling head), which are int8 with one float scale per
    output row (absmax: Jacob et al. 2018, "Quantization and Training of Neural Networks for
    Efficient Integer-Arithmetic-Only Inference"). A dueling Pong net is 6.6 MB in bf16 and
    3.5 MB so; its Q-values move by well under 1 % of their range (tests/test_dqn_pretrained.py)."""
    weights, scales = {}, {}
    for k, v in q.items():
        v = v.detach().float().contiguous()
        if v.dim() == 2 and v.numel() >= 1 << 20:
            scale = v.abs().amax(dim=1).clamp_min(1e-12) / 127
            weights[k] = torch.round(v / scale[:, None]).to(torch.int8)
            scales[k] = scale
        else:
            weights[k] = v.to(torch.bfloat16)
    return {"weights": weights, "int8_scales": scales}


def unpack(blob: dict[str, Any]) -> dict[str, torch.Tensor]:
    """float32 weights from :func:`pack`'s halves."""
    scales = blob.get("int8_scales", {})
    return {k: v.float() * scales[k][:, None] if k in scales else v.float()
            for k, v in blob["weights"].items()}


def _eval_at(run_dir: Path, step: int) -> dict[str, float] | None:
    """The run's last evaluation at or before ``step`` (from metrics.jsonl)."""
    from workbench.engine.runs import RunDir

    evals = [r for r in RunDir(run_dir).read_metrics() if "eval/return" in r and r["step"] <= step]
    if not evals:
        return None
    r = evals[-1]
    return {"step": int(r["step"]), "return": float(r["eval/return"]),
            "std": float(r.get("eval/return_std", math.nan)),
            "games": float(r.get("eval/episodes", math.nan))}


def export_run(run_dir: str | Path, out: Path) -> str:
    """Write the Q-network of a DQN run's last checkpoint to ``out`` (atomically); say what."""
    from workbench.engine.runs import open_run

    run = open_run(run_dir)
    info = run.read_info()
    if info.plugin != "dqn":
        raise UserError(f"{run.path} is a run of plugin '{info.plugin}'; only DQN runs export "
                        "weights for eval --pretrained.")
    state = checkpoint.load(run.checkpoint, mmap=True)  # the replay buffer stays on disk
    cfg, q = state["config"], state["state"]["q"]
    step = int(state["step"])
    blob = {"format": FORMAT, "version": VERSION, "plugin": "dqn",
            "preset": info.preset or info.plugin, "run": info.name, "step": step,
            "eval": _eval_at(run.path, step), "env": dict(cfg["env"]),
            "eval_epsilon": float(cfg["eval_epsilon"]), "net": _net_spec(q, cfg),
            **pack(q)}
    checkpoint.save(blob, out)
    size = out.stat().st_size / 1e6
    ev = blob["eval"]
    at = (f"; eval return {ev['return']:.2f} +- {ev['std']:.2f} over {ev['games']:.0f} games at "
          f"step {ev['step']:,}" if ev else "; no evaluation logged yet")
    return f"wrote {out} ({size:.1f} MB): {blob['preset']} Q-network at step {step:,}{at}"


def load(path: Path) -> tuple[nn.Module, dict[str, Any]]:
    """The float32 Q-network (eval mode, CPU) and the file's metadata."""
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unpickling failure means the file is bad
        raise UserError(f"{path} cannot be read as a pretrained agent ({type(e).__name__}).") from None
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise UserError(f"{path} is not a pretrained DQN agent (written by `workbench export RUN "
                        "--format weights`).")
    if blob["version"] > VERSION:
        raise UserError(f"{path} was written by a newer workbench; upgrade to play it.")
    spec = blob["net"]
    if spec["kind"] in ("nature_cnn", "compact_cnn"):  # files before frame_size: 84x84
        side = int(spec.get("frame_size", 84))
        cnn = CompactCNN if spec["kind"] == "compact_cnn" else NatureCNN
        net: nn.Module = cnn(spec["in_channels"], spec["num_actions"], spec["dueling"],
                             frame_size=(side, side), num_quantiles=spec.get("num_quantiles", 0))
    else:
        net = MLP(spec["in_features"], spec["num_actions"], spec["hidden"], spec["dueling"],
                  num_quantiles=spec.get("num_quantiles", 0))
    net.load_state_dict(unpack(blob))
    return net.eval(), blob


def policy(net: nn.Module, meta: dict[str, Any], epsilon: float, rng: np.random.Generator
           ) -> evaluation.Policy:
    """The loaded network, epsilon-greedy with draws from ``rng``, as an evaluation policy."""

    @torch.no_grad()
    def greedy(obs: np.ndarray) -> np.ndarray:
        return net(torch.from_numpy(obs)).argmax(dim=1).numpy()

    return lambda obs: epsilon_greedy(obs, epsilon, rng, meta["net"]["num_actions"], greedy)


def play(path: Path, opts: DQNEvalOptions) -> str:
    """``workbench eval --pretrained NAME|FILE``: play full games, one line each, then the mean."""
    if opts.video and opts.out is None:
        raise UserError("--pretrained --video needs --out DIR: there is no run directory to put "
                        "the video in, and nothing is written where you did not ask.")
    net, meta = load(path)
    env = from_dict(EnvConfig, meta["env"])
    if opts.video and opts.out is not None:
        check_folder(Path(opts.out), "--out", "Give a folder (new or existing) for the video.")
    seed = 0 if opts.seed is None else opts.seed
    epsilon = meta["eval_epsilon"] if opts.epsilon is None else opts.epsilon
    act = policy(net, meta, epsilon, np.random.default_rng(seed))
    no_video = evaluation.why_no_video(env) if opts.video else None
    games, film = evaluation.play(act, env, opts.episodes or 10, seed,
                                  opts.video and no_video is None)
    ev = meta.get("eval")
    trained = (f"; at training time: {ev['return']:.2f} +- {ev['std']:.2f} over {ev['games']:.0f} "
               "games" if ev else "")
    lines = [f"{meta['preset']} ({path}): Q-network from step {meta['step']:,}, {env.id}{trained}",
             *evaluation.report(games, seed, f"at epsilon {epsilon:g}")]
    if film is not None:
        from workbench.media import real_time, save_gif

        frames, fps = real_time(film.frames, film.fps)
        gif = save_gif(frames, Path(opts.out) / f"{meta['preset']}-seed{seed}.gif", fps=fps)
        lines.append(f"video: {gif}")
    elif opts.video:
        lines.append(f"no video: {no_video or 'the RGB twin could not follow this game'}")
    return "\n".join(lines)


def explain(path: Path, out: Path | None, opts: Any) -> str:
    """``workbench explain --pretrained NAME|FILE --out DIR``."""
    from workbench.agents.dqn.explain import explain_pretrained

    return explain_pretrained(path, out, opts)


def serving(path: Path) -> tuple[Serving, dict[str, Any]]:
    """``workbench serve --pretrained NAME|FILE``: POST /act for the file's Q-network, and what
    /info says of it."""
    from workbench.agents.dqn.serving import dqn_serving
    from workbench.envs.vector import VectorEnv

    net, meta = load(path)
    env = VectorEnv.from_config(from_dict(EnvConfig, meta["env"]), 0, num_envs=1, evaluation=True)
    try:
        example = env.reset()[0]
    finally:
        env.close()
    info = {"plugin": "DQN", "run": f"{meta['preset']} ({path})", "step": int(meta["step"])}
    return dqn_serving(lambda obs: net(torch.from_numpy(obs)), env, example), info

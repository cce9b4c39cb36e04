"""What one evaluation costs a run: wall seconds of the evaluation's games (10 full games and
the video) played by the shipped Pong agent, the way the rollout loop plays them now (all games
at once on up to 16 envs, env 0's game filmed by the RGB twin while they play) against the way
it did before 2026-12-05 (9 games on 8 envs, so the 9th alone after the others, then a 10th game
alone for the video). Same policy, rounds interleaved; the games differ between the two ways
(their seeds), so the table gives steps played beside the seconds.

    python benchmarks/eval_time.py [--rounds 2] [--episodes 10] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workbench.agents.dqn import pretrained  # noqa: E402
from workbench.commands import pretrained as shipped  # noqa: E402
from workbench.config import from_dict  # noqa: E402
from workbench.envs.config import EnvConfig  # noqa: E402
from workbench.rollout import evaluation  # noqa: E402


def before(policy, e: EnvConfig, episodes: int, seed: int):
    """The evaluation as it was: 8 envs for episodes - 1 games, then a filmed game alone."""
    saved = evaluation.MAX_EVAL_ENVS
    evaluation.MAX_EVAL_ENVS = 8
    try:
        games, _ = evaluation.play_games(policy, e, episodes - 1, seed)
    finally:
        evaluation.MAX_EVAL_ENVS = saved
    game, film = evaluation.play_video_game(policy, e, seed + 500)
    return [*games, game], film


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--episodes", type=int, default=10)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    net, meta = pretrained.load(shipped.resolve("dqn-pong")[1])
    e = from_dict(EnvConfig, meta["env"])
    ways = {"now: all at once, env 0 filmed": lambda pol, seed: evaluation.play(
                pol, e, args.episodes, seed, True),
            "before: 8 envs, then the 9th and the filmed 10th alone": lambda pol, seed: before(
                pol, e, args.episodes, seed)}
    results: dict[str, list[tuple[float, int, float]]] = {w: [] for w in ways}
    for r in range(args.rounds):
        for name, play in ways.items():
            rng = np.random.default_rng(r)
            policy = pretrained.policy(net, meta, meta["eval_epsilon"], rng)
            t = time.perf_counter()
            games, film = play(policy, 10_000 + r)
            secs = time.perf_counter() - t
            assert film is not None, "the twin lost its game"
            results[name].append((secs, sum(g.length for g in games),
                                  float(np.mean([g.ret for g in games]))))
            print(f"round {r + 1}: {name}: {secs:.1f} s, {results[name][-1][1]:,} steps, "
                  f"mean return {results[name][-1][2]:.1f}", flush=True)
    print(f"\n| evaluation ({args.episodes} games + video, shipped dqn-pong agent) | seconds (median) "
          f"| steps played | x |\n|---|---|---|---|")
    base = statistics.median(s for s, _, _ in results[list(ways)[1]])
    for name, rows in results.items():
        secs = statistics.median(s for s, _, _ in rows)
        steps = statistics.median(n for _, n, _ in rows)
        print(f"| {name} | {secs:.1f} | {steps:,.0f} | {base / secs:.2f} |")


if __name__ == "__main__":
    main()

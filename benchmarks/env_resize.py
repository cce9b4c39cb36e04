"""What ``env.resize=max`` costs the Atari envs: vector steps/s of ale-py's own area resize
against full 210x160 frames shrunk by each cell's maximum (``workbench.envs.vector.MaxResize``).

Both sides are the same ``VectorEnv`` (8 Pong envs by default, ``--env-threads`` C++ threads,
random actions) in their own processes, timed in alternating chunks (A/B/A/B, ``ab.py``). The
reference is the area side: the ratio is max's steps/s over area's. A training run's step adds
the update to this (11 ms per update, two per vector step at the dqn-pong preset), so the share
of a run's time that max adds is the env-side difference in ms over the whole vector step.

    nice -n 10 python benchmarks/env_resize.py --threads 2 --repeats 5
    python benchmarks/env_resize.py --quick
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ab import Side, median_of, parse_threads, run_interleaved  # noqa: E402


class EnvWorker:
    def __init__(self, resize: str, screen_size: int, num_envs: int, env_threads: int,
                 steps: int, env_id: str = "ALE/Pong-v5") -> None:
        import numpy as np

        from workbench.envs.vector import VectorEnv

        self.np = np
        self.env = VectorEnv(env_id, num_envs, seed=0, num_threads=env_threads,
                             screen_size=screen_size, resize=resize)
        self.rng = np.random.default_rng(0)
        self.steps = steps

    def prepare(self) -> dict[str, Any]:
        self.env.reset()
        return {"obs": list(self.env.obs_shape)}

    def chunk(self) -> dict[str, Any]:
        n, env = self.env.num_envs, self.env
        actions = self.rng.integers(0, env.num_actions, (self.steps, n))
        start = time.perf_counter()
        for a in actions:
            env.step(a)
        seconds = time.perf_counter() - start
        return {"vector steps/s": self.steps / seconds, "ms/vector step": 1e3 * seconds / self.steps}

    def close(self) -> None:
        self.env.close()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", default="2", help="cores each side is pinned to (comma-separated list of counts)")
    p.add_argument("--repeats", type=int, default=5, help="timed A/B rounds")
    p.add_argument("--steps", type=int, default=500, help="vector steps per timed chunk")
    p.add_argument("--screen-size", type=int, default=56)
    p.add_argument("--num-envs", type=int, default=8)
    p.add_argument("--quick", action="store_true", help="a few steps: checks that it runs")
    args = p.parse_args(argv)
    if args.quick:
        args.repeats, args.steps, args.num_envs = 1, 8, 2
    if not 16 <= args.screen_size < 210:
        raise SystemExit(f"--screen-size must be in [16, 210); got {args.screen_size}")
    rows = []
    for threads in parse_threads(args.threads):
        common = {"screen_size": args.screen_size, "num_envs": args.num_envs,
                  "env_threads": threads, "steps": args.steps}
        sides = [Side("area", "env_resize:EnvWorker", {"resize": "area", **common}),
                 Side("max", "env_resize:EnvWorker", {"resize": "max", **common})]
        _, results = run_interleaved(sides, threads, args.repeats)
        area, peak = (median_of(r, "ms/vector step") for r in results)
        rows.append((threads, area, peak))
    print(f"\n{args.num_envs} envs, {args.screen_size}x{args.screen_size}, random actions; "
          "medians of the A/B rounds\n")
    print("| threads | area: ms/vector step | max: ms/vector step | max / area (time) | extra ms |")
    print("|---|---|---|---|---|")
    for threads, area, peak in rows:
        print(f"| {threads} | {area:.2f} | {peak:.2f} | {peak / area:.2f} | {peak - area:+.2f} |")


if __name__ == "__main__":
    main()

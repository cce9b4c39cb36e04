"""PPO: env steps/s of workbench's training step against CleanRL's ``ppo.py`` (CartPole) and
``ppo_atari.py`` (Pong).

Anchor: ``anchor_cleanrl_ppo.CleanRLPPO``, our re-write of the per-step work of the two
scripts (its header says what it mirrors and what it does not). Ours: ``PPO.train_step``, what
``workbench run`` calls, one call per rollout + update, with the same hyperparameters (the
``ppo-cartpole`` preset; for Pong the ``ppo-pong`` preset on ``PongNoFrameskip-v4``). Ours
differs where workbench differs by design: Atari through ale-py's C++ vector env
(``env.num_threads`` = the thread count), uint8 frames kept as uint8 in the rollout with the
1/255 folded into the first convolution, channels_last, the precision ``precision=auto``
picks, and the reset step of next-step autoreset left out of the loss.

Both sides run in their own processes, pinned to the same cores with the same thread count,
timed in alternating chunks of ``--iterations`` PPO iterations (A/B/A/B, see ``ab.py``);
``x`` is the ratio of median SPS, ours / CleanRL's, in the same run.

    nice -n 10 python benchmarks/ppo_throughput.py --game cartpole,pong --threads 1,2
    nice -n 10 python benchmarks/ppo_throughput.py --quick        # seconds: a smoke run
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ab import Side, median_of, parse_threads, run_interleaved  # noqa: E402

PRESETS = {"cartpole": ("ppo-cartpole", {}),
           "pong": ("ppo-pong", {"env.id": "PongNoFrameskip-v4"})}


class WorkbenchPPO:
    """``PPO.train_step`` (one rollout and its update per call), ``iterations`` per chunk."""

    def __init__(self, game: str, iterations: int, threads: int,
                 overrides: dict[str, Any] | None = None) -> None:
        import torch

        from workbench import registry
        from workbench.agents.ppo.agent import PPO
        from workbench.config import build_config
        from workbench.logger import Logger
        from workbench.plugin import Context
        from workbench.runtime import resolve_precision

        name, extra = PRESETS[game]
        spec, preset = registry.resolve(name)
        cfg = build_config(registry.load_config_class(spec), dict(preset.overrides), extra,
                           {"torch_threads": threads, "env.num_threads": threads},
                           dict(overrides or {}))
        torch.set_num_threads(threads)
        self.tmp = tempfile.TemporaryDirectory(prefix="ppo-bench-")  # removed by close()
        run_dir = Path(self.tmp.name)
        device = torch.device("cpu")
        ctx = Context(device=device,
                      precision=resolve_precision(cfg.precision, device, type(cfg).auto_cpu_precision),
                      logger=Logger(run_dir, wandb_mode="disabled", metrics=False),
                      run_dir=run_dir, seed=cfg.seed, compile_enabled=cfg.compile)
        self.agent = PPO(cfg, ctx)
        self.iterations, self.step = iterations, 0
        self.precision = ctx.precision.name

    def prepare(self) -> dict[str, Any]:
        return {"precision": self.precision}

    def chunk(self) -> dict[str, float]:
        t, cpu, start = time.perf_counter(), time.process_time(), self.step
        for _ in range(self.iterations):
            metrics = self.agent.train_step(self.step)
            self.step += self.agent.steps_per_call
        float(metrics["train/loss"])  # what the loop's log does once per window
        steps = self.step - start
        return {"sps": steps / (time.perf_counter() - t),
                "cpu_sps": steps / (time.process_time() - cpu)}

    def close(self) -> None:
        self.agent.close()
        self.tmp.cleanup()


def parse_overrides(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--ours takes key=value config overrides; got {item!r}")
        out[key] = value
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--game", default="cartpole,pong", help="cartpole, pong or both (comma-separated)")
    p.add_argument("--threads", default="1,2", help="thread counts to measure at (comma-separated)")
    p.add_argument("--repeats", type=int, default=3, help="timed A/B rounds per game and thread count")
    p.add_argument("--iterations", type=int, default=0,
                   help="PPO iterations per timed chunk (default: 4 on CartPole, 1 on Pong)")
    p.add_argument("--ours", nargs="*", default=[], metavar="KEY=VALUE",
                   help="config overrides for our side, e.g. precision=bf16")
    p.add_argument("--no-pin", action="store_true", help="do not pin both sides to the same cores")
    p.add_argument("--quick", action="store_true", help="a smoke run: CartPole, 1 thread, 1 round")
    args = p.parse_args(argv)
    if args.quick:
        args.game, args.threads, args.repeats, args.iterations = "cartpole", "1", 1, 1
    ours = parse_overrides(args.ours)
    rows = []
    for game in args.game.split(","):
        iterations = args.iterations or (4 if game == "cartpole" else 1)
        for threads in parse_threads(args.threads):
            sides = [Side("cleanrl", "anchor_cleanrl_ppo:CleanRLPPO",
                          {"game": game, "iterations": iterations}),
                     Side("ours", "ppo_throughput:WorkbenchPPO",
                          {"game": game, "iterations": iterations, "threads": threads,
                           "overrides": ours})]
            prepared, results = run_interleaved(sides, threads, args.repeats, pin=not args.no_pin)
            rows.append((game, threads, prepared, results))
            report(rows[-1:])
    if len(rows) > 1:
        report(rows)


def report(rows: list[tuple[str, int, list[dict[str, Any]], list[list[dict[str, Any]]]]]) -> None:
    print("\nPPO env steps per second (median of the rounds, rollout + update); x = ours / "
          "CleanRL in the same run. cpu-SPS: per second of process CPU time (all threads).")
    print("| game | threads | CleanRL SPS | ours SPS | x (per round) | CleanRL cpu-SPS | ours cpu-SPS | x |")
    print("|---|---|---|---|---|---|---|---|")
    for game, threads, prepared, (anchor, mine) in rows:
        a, o = median_of(anchor, "sps"), median_of(mine, "sps")
        ac, oc = median_of(anchor, "cpu_sps"), median_of(mine, "cpu_sps")
        per_round = ", ".join(f"{m['sps'] / c['sps']:.2f}" for m, c in zip(mine, anchor))
        label = f"ours ({prepared[1]['precision']})"
        print(f"| {game} | {threads} | {a:,.0f} | {o:,.0f} {label} | **{o / a:.2f}** ({per_round}) "
              f"| {ac:,.0f} | {oc:,.0f} | {oc / ac:.2f} |")


if __name__ == "__main__":
    sys.path.insert(1, str(Path(__file__).resolve().parents[1]))
    main()

"""DQN on Pong: env steps/s of workbench's training step against CleanRL's ``dqn_atari.py``.

Anchor: ``anchor_cleanrl_dqn.CleanRLDQN``, our re-write of the per-step work of CleanRL's
``dqn_atari.py`` (one env through Python Atari wrappers, an SB3-style replay buffer, fp32 NCHW
network, a greedy forward per step once epsilon allows, one update per 4 steps; its header says
what it mirrors and what it does not).

Ours: ``DQN.train_step`` (what ``workbench run`` calls) with the same hyperparameters: buffer
100k, learning starts 10k, batch 32, one update per 4 env steps, plain DQN targets (no Double
DQN, 1-step), MSE, Adam lr 1e-4 eps 1e-8, no gradient clipping, hard target copy every 1,000
steps, the same epsilon schedule (1 -> 0.01 over 10 % of the steps the benchmark runs, so both
sides act greedily 99 % of the time once learning starts). It differs where workbench differs
by design: 8 envs stepped by ale-py's C++ vector env in its own threads (``env.num_threads`` =
the thread count), a frame-once replay buffer, and the precision and memory format of its
defaults (``--ours precision=fp32`` etc. to change them).

Each side runs in its own process, both pinned to the same cores with the same thread count
(``--threads``; at the machine's full core count nothing is pinned), timed in alternating chunks
of ``--steps`` env steps after learning starts (A/B/A/B, see ``ab.py``). Ours also reports, per
chunk, its update-only rate (sample + loss + backward + Adam, nothing else) and its env-only rate
(the same vector env stepping random actions), so SPS / min(env-only, 4 x updates/s) says how
close the loop is to its own limit; the CPU-time version of that limit adds the two costs per
step (CPU time is what a loaded machine distorts least; with one core they cannot overlap).

    nice -n 10 python benchmarks/dqn_throughput.py --threads 1,2 --repeats 5
    nice -n 10 python benchmarks/dqn_throughput.py --threads 2 --ours torch_threads=1 env.num_threads=1
    nice -n 10 python benchmarks/dqn_throughput.py --before /tmp/wb-before   # + an older checkout
    nice -n 10 python benchmarks/dqn_throughput.py --quick          # seconds: a smoke run
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ab import Side, median_of, parse_threads, run_interleaved  # noqa: E402

UPDATES_TIMED = 40


def cleanrl_overrides(total: int, learning_starts: int, buffer_size: int, threads: int) -> dict[str, Any]:
    """Workbench config keys for CleanRL's dqn_atari.py hyperparameters."""
    return {"env.id": "PongNoFrameskip-v4", "buffer_size": buffer_size,
            "learning_starts": learning_starts, "batch_size": 32, "train_frequency": 4,
            "gradient_steps": 1, "gamma": 0.99, "n_step": 1, "double": False, "dueling": False,
            "loss": "mse", "lr": 1e-4, "adam_eps": 1e-8, "max_grad_norm": 0.0,
            "target_network_frequency": 1_000, "tau": 1.0, "start_e": 1.0, "end_e": 0.01,
            "exploration_steps": int(0.1 * total), "env.noop_max": 30, "env.frame_skip": 4,
            "env.frame_stack": 4, "env.life_loss_terminal": True, "env.clip_rewards": True,
            "torch_threads": threads, "env.num_threads": threads, "total_steps": total,
            "checkpoint_replay": False}


class WorkbenchDQN:
    """``DQN.train_step`` in chunks of ``chunk_steps`` env steps, plus its two limits."""

    def __init__(self, total_timesteps: int, learning_starts: int, buffer_size: int,
                 chunk_steps: int, threads: int, overrides: dict[str, Any] | None = None) -> None:
        import torch

        from workbench import registry
        from workbench.agents.dqn.agent import DQN
        from workbench.config import build_config
        from workbench.logger import Logger
        from workbench.plugin import Context
        from workbench.runtime import resolve_precision

        try:  # the core's layout since issue 21; --before may time an older checkout
            from workbench.engine.loop import MetricWindow
        except ImportError:
            from workbench.loop import MetricWindow
        spec, _ = registry.resolve("dqn")
        cfg = build_config(registry.load_config_class(spec),
                           cleanrl_overrides(total_timesteps, learning_starts, buffer_size, threads),
                           dict(overrides or {}))
        if cfg.torch_threads > 0:  # the split asked for, e.g. --ours torch_threads=1 env.num_threads=1
            torch.set_num_threads(cfg.torch_threads)
        self.tmp = tempfile.TemporaryDirectory(prefix="dqn-bench-")  # removed by close()
        run_dir = Path(self.tmp.name)
        device = torch.device("cpu")
        try:  # as the loop resolves precision=auto for this plugin (older checkouts: no 3rd arg)
            precision = resolve_precision(cfg.precision, device, type(cfg).auto_cpu_precision)
        except AttributeError:
            precision = resolve_precision(cfg.precision, device)
        ctx = Context(device=device, precision=precision,
                      logger=Logger(run_dir, wandb_mode="disabled", metrics=False), run_dir=run_dir,
                      seed=cfg.seed, compile_enabled=cfg.compile)
        self.agent = DQN(cfg, ctx)
        self.window = MetricWindow()  # what the loop does with each step's metrics
        self.cfg, self.step, self.chunk_steps = cfg, 0, chunk_steps
        self.precision = ctx.precision.name

    def _advance(self, until: int) -> None:
        while self.step < until:
            self.window.add(self.agent.train_step(self.step))
            self.step += self.agent.steps_per_call

    def prepare(self) -> dict[str, float]:
        t, start = time.perf_counter(), self.step
        self._advance(self.cfg.learning_starts)
        return {"sps_before_learning": (self.step - start) / (time.perf_counter() - t),
                "precision": self.precision}

    def _update_rate(self) -> tuple[float, float]:
        """Updates per second of wall time and of process CPU time."""
        t, cpu = time.perf_counter(), time.process_time()
        for _ in range(UPDATES_TIMED):
            self.agent.update()
        return (UPDATES_TIMED / (time.perf_counter() - t),
                UPDATES_TIMED / (time.process_time() - cpu))

    def _env_rate(self) -> tuple[float, float]:
        """Env steps per second of wall time and of process CPU time (random actions)."""
        import numpy as np

        env = self.agent.env
        rng = np.random.default_rng(0)
        calls = max(1, self.chunk_steps // env.num_envs)
        t, cpu = time.perf_counter(), time.process_time()
        for _ in range(calls):
            env.step(rng.integers(0, env.num_actions, env.num_envs))
        steps = calls * env.num_envs
        rates = steps / (time.perf_counter() - t), steps / (time.process_time() - cpu)
        self.agent.obs = env.reset()  # the loop's next step starts from fresh games
        self.agent.obs_first[:] = True
        return rates

    def chunk(self) -> dict[str, float]:
        t, cpu, start = time.perf_counter(), time.process_time(), self.step
        self._advance(self.step + self.chunk_steps)
        sps = (self.step - start) / (time.perf_counter() - t)
        cpu_sps = (self.step - start) / (time.process_time() - cpu)
        self.window.clear()
        updates, cpu_updates = self._update_rate()
        env_sps, env_cpu_sps = self._env_rate()
        k = self.cfg.train_frequency
        # wall: envs step in their own threads while the learner updates, so the slower of the
        # two bounds SPS; CPU: both must be paid for, so their CPU costs per step add up
        return {"sps": sps, "cpu_sps": cpu_sps, "updates_per_s": updates, "env_sps": env_sps,
                "limit": min(env_sps, updates * k),
                "cpu_limit": 1.0 / (1.0 / env_cpu_sps + 1.0 / (cpu_updates * k))}

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
    p.add_argument("--threads", default="1,2", help="thread counts to measure at (comma-separated)")
    p.add_argument("--repeats", type=int, default=3, help="timed A/B rounds per thread count")
    p.add_argument("--steps", type=int, default=2_000, help="env steps per timed chunk")
    p.add_argument("--learning-starts", type=int, default=10_000)
    p.add_argument("--buffer-size", type=int, default=100_000)
    p.add_argument("--ours", nargs="*", default=[], metavar="KEY=VALUE",
                   help="config overrides for our side, e.g. precision=fp32 compile=true")
    p.add_argument("--before", default=None, metavar="CHECKOUT",
                   help="also time this checkout's workbench (e.g. `git worktree add /tmp/wb-before "
                        "d51b0ce`) as a third side, for a before/after ratio in the same run")
    p.add_argument("--no-pin", action="store_true", help="do not pin both sides to the same cores")
    p.add_argument("--quick", action="store_true",
                   help="a smoke run: 1 thread, 1 round, 200-step chunks, learning starts 1,000")
    args = p.parse_args(argv)
    if args.quick:
        args.threads, args.repeats, args.steps = "1", 1, 200
        args.learning_starts, args.buffer_size = 1_000, 5_000
    threads_list = parse_threads(args.threads)
    ours = parse_overrides(args.ours)
    total = args.learning_starts + args.steps * (args.repeats + 1) + 1
    print(f"CleanRL hyperparameters: buffer {args.buffer_size:,}, learning starts "
          f"{args.learning_starts:,}, batch 32, train_frequency 4, target every 1,000, MSE, "
          f"epsilon 1 -> 0.01 over {int(0.1 * total):,} steps; chunks of {args.steps:,} steps, "
          f"1 warm-up + {args.repeats} timed rounds" + (f"; ours: {ours}" if ours else ""))
    rows = []
    for threads in threads_list:
        common = {"total_timesteps": total, "learning_starts": args.learning_starts,
                  "buffer_size": args.buffer_size, "chunk_steps": args.steps}
        mine = {**common, "threads": threads, "overrides": ours}
        sides = [Side("cleanrl", "anchor_cleanrl_dqn:CleanRLDQN", common),
                 Side("ours", "dqn_throughput:WorkbenchDQN", mine)]
        if args.before:
            sides.append(Side("before", "dqn_throughput:WorkbenchDQN", mine, root=args.before))
        prepared, results = run_interleaved(sides, threads, args.repeats, pin=not args.no_pin)
        rows.append((threads, prepared, results))
        report(rows[-1:], [s.name for s in sides])  # as soon as it is measured
    if len(rows) > 1:
        report(rows, [s.name for s in sides])


def report(rows: list[tuple[int, list[dict[str, Any]], list[list[dict[str, Any]]]]],
           names: list[str]) -> None:
    """One row per thread count and side; ratios divide medians by the CleanRL anchor's."""
    print("\nSPS after learning starts (median of the rounds); x = ratio to the CleanRL anchor in "
          "the same run. cpu-SPS = env steps per second of process CPU time (all threads): "
          "on a loaded machine, the figure that load distorts least.")
    print("| threads | side | SPS | x (per round) | cpu-SPS | x | updates/s | env-only SPS "
          "| SPS / own limit (wall, CPU) | SPS before learning |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for threads, prepared, results in rows:
        anchor = results[0]
        a, a_cpu = median_of(anchor, "sps"), median_of(anchor, "cpu_sps")
        for name, prep, res in zip(names, prepared, results):
            o, o_cpu = median_of(res, "sps"), median_of(res, "cpu_sps")
            per_round = ", ".join(f"{m['sps'] / c['sps']:.2f}" for m, c in zip(res, anchor))
            own = "| - | - | - "
            if "limit" in res[0]:
                frac = statistics.median(m["sps"] / m["limit"] for m in res)
                frac_cpu = statistics.median(m["cpu_sps"] / m["cpu_limit"] for m in res
                                             if "cpu_limit" in m) if "cpu_limit" in res[0] else float("nan")
                own = (f"| {median_of(res, 'updates_per_s'):.1f} | {median_of(res, 'env_sps'):,.0f} "
                       f"| {frac:.2f}, {frac_cpu:.2f} ")
            label = f"{name} ({prep['precision']})" if "precision" in prep else name
            print(f"| {threads} | {label} | {o:.1f} | **{o / a:.2f}** ({per_round}) | {o_cpu:.1f} "
                  f"| {o_cpu / a_cpu:.2f} {own}| {prep['sps_before_learning']:,.0f} |")

if __name__ == "__main__":
    # this checkout, even when not installed; only when run as a script: a --before side
    # imports this module in a child that must keep its own checkout first on the path
    sys.path.insert(1, str(Path(__file__).resolve().parents[1]))
    main()

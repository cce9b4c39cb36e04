"""DQN on Pong: env steps per second of the real training step, against its two limits.

With CleanRL's ``dqn_atari.py`` hyperparameters (batch 32, train_frequency 4, buffer 100k,
learning starts 10k, plain DQN targets), this prints, as medians over ``--repeats``:

* SPS of ``DQN.train_step`` (what the loop calls) for ``--steps`` env steps after learning starts;
* the env-only rate (the same vector env stepping random actions);
* the update-only rate x train_frequency (sample + forward + backward + Adam, nothing else);
* SPS / min(the two limits), and SPS / CleanRL's 104.8 SPS measured on this machine kind
  (shared/FIGURES.md);
* update-only rates for fp32, channels_last, bf16 autocast, bf16 + channels_last, and the latter
  with torch.compile, so each switch's effect is measured in the same run.

    nice -n 10 python benchmarks/dqn_throughput.py --repeats 3
"""

from __future__ import annotations

import argparse
import gc
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from agents.dqn.agent import DQN
from envs.vector import VectorEnv
from workbench import registry
from workbench.config import build_config
from workbench.logger import Logger
from workbench.plugin import Context
from workbench.runtime import resolve_precision

CLEANRL_SPS = 104.8  # shared/FIGURES.md: dqn_atari.py after learning starts, 2 threads, quiet
CLEANRL = {"buffer_size": 100_000, "learning_starts": 10_000, "batch_size": 32,
           "train_frequency": 4, "n_step": 1, "dueling": False, "double": False,
           "lr": 1e-4, "target_network_frequency": 1_000, "exploration_steps": 1_000_000,
           "end_e": 0.01, "env.noop_max": 30}


def build(num_envs: int, precision: str, channels_last: bool, compile_: bool, **extra) -> DQN:
    spec, _ = registry.resolve("dqn")
    cfg = build_config(registry.load_config_class(spec), CLEANRL,
                       {"env.id": "ALE/Pong-v5", "env.num_envs": num_envs, "precision": precision,
                        "channels_last": channels_last, "compile": compile_, **extra})
    device = torch.device("cpu")
    run_dir = Path(tempfile.mkdtemp(prefix="dqn-bench-"))
    ctx = Context(device=device, precision=resolve_precision(cfg.precision, device),
                  logger=Logger(run_dir, wandb_mode="disabled", metrics=False), run_dir=run_dir,
                  seed=cfg.seed, compile_enabled=cfg.compile)
    return DQN(cfg, ctx)


def fill(agent: DQN, steps: int) -> float:
    """Play until learning starts; returns the SPS of that phase."""
    step, t = 0, time.perf_counter()
    while step < steps:
        agent.train_step(step)
        step += agent.steps_per_call
    return step / (time.perf_counter() - t)


def loop_sps(agent: DQN, start: int, steps: int) -> float:
    step, t = start, time.perf_counter()
    while step < start + steps:
        agent.train_step(step)
        step += agent.steps_per_call
    return (step - start) / (time.perf_counter() - t)


def update_rate(agent: DQN, updates: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        agent.update()
    t = time.perf_counter()
    for _ in range(updates):
        agent.update()
    return updates / (time.perf_counter() - t)


def env_rate(num_envs: int, steps: int) -> float:
    env = VectorEnv("ALE/Pong-v5", num_envs, seed=0, num_threads=2)
    rng = np.random.default_rng(0)
    env.reset()
    calls = steps // num_envs
    actions = rng.integers(0, env.num_actions, (calls, num_envs))
    t = time.perf_counter()
    for a in actions:
        env.step(a)
    rate = calls * num_envs / (time.perf_counter() - t)
    env.close()
    return rate


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=2_000, help="timed env steps after learning starts")
    p.add_argument("--updates", type=int, default=60, help="timed updates per variant")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--num-envs", type=int, default=8)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    p.add_argument("--no-compile", action="store_true", help="skip the torch.compile variant")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.num_envs} envs, "
          f"CleanRL hyperparameters (batch 32, train_frequency 4, buffer 100k, learning starts 10k)")

    # the real training step, default variant (bf16 autocast + channels_last)
    agent = build(args.num_envs, "bf16", True, False)
    before = fill(agent, CLEANRL["learning_starts"])
    sps, env_only, upd = [], [], []
    step = CLEANRL["learning_starts"]
    for r in range(args.repeats):
        sps.append(loop_sps(agent, step, args.steps))
        step += args.steps
        env_only.append(env_rate(args.num_envs, 8_000))
        upd.append(update_rate(agent, args.updates))
        print(f"  repeat {r + 1}: SPS {sps[-1]:.1f}, env-only {env_only[-1]:.0f}, "
              f"updates/s {upd[-1]:.1f}", flush=True)
    agent.close()
    del agent
    gc.collect()

    med = statistics.median
    update_limit = med(upd) * CLEANRL["train_frequency"]
    lower = min(med(env_only), update_limit)
    print()
    print(f"SPS before learning starts          {before:8.1f}")
    print(f"SPS after learning starts (median)  {med(sps):8.1f}")
    print(f"env-only steps/s (median)           {med(env_only):8.0f}")
    print(f"update-only limit: {med(upd):.1f} updates/s x 4 = {update_limit:8.1f} steps/s")
    print(f"SPS / lower limit                   {med(sps) / lower:8.2f}")
    print(f"SPS / CleanRL ({CLEANRL_SPS} SPS)          {med(sps) / CLEANRL_SPS:8.2f}")

    # what each switch changes, measured on the update alone, interleaved over repeats
    variants = [("fp32", "fp32", False, False), ("fp32 + channels_last", "fp32", True, False),
                ("bf16", "bf16", False, False), ("bf16 + channels_last", "bf16", True, False)]
    if not args.no_compile:
        variants.append(("bf16 + channels_last + compile", "bf16", True, True))
    agents = {}
    for name, precision, cl, comp in variants:
        a = build(args.num_envs, precision, cl, comp, buffer_size=20_000)
        fill(a, 2_000)
        if comp:  # compilation happens at the first calls: keep it out of the timing
            t = time.perf_counter()
            update_rate(a, 5, warmup=0)
            print(f"  compile warm-up {time.perf_counter() - t:.1f} s")
        agents[name] = a
    rates: dict[str, list[float]] = {name: [] for name in agents}
    for _ in range(args.repeats):
        for name, a in agents.items():
            rates[name].append(update_rate(a, args.updates))
    print()
    base = med(rates["fp32"])
    for name, r in rates.items():
        print(f"{name:<32} {med(r):6.1f} updates/s  x{med(r) / base:.2f} vs fp32  "
              f"(limit {4 * med(r):6.1f} steps/s)")
    for a in agents.values():
        a.close()


if __name__ == "__main__":
    main()

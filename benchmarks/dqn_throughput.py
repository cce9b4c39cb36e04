"""DQN on Pong: env steps per second of the real training step, against its two limits.

With CleanRL's ``dqn_atari.py`` hyperparameters (batch 32, train_frequency 4, buffer 100k,
learning starts 10k, plain DQN targets), this prints, as medians over ``--repeats``:

* SPS of ``DQN.train_step`` (what the loop calls) for ``--steps`` env steps after learning starts;
* the env-only rate (the same vector env stepping random actions);
* the update-only rate x train_frequency (sample + forward + backward + Adam, nothing else);
* SPS / min(the two limits); SPS / a CleanRL replica timed in the same run (see
  ``cleanrl_replica_sps``), and SPS / CleanRL's 104.8 SPS measured on a quiet machine
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
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from workbench.agents.dqn.agent import DQN
from workbench.envs.vector import VectorEnv

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


def cleanrl_replica_sps(learning_starts: int, steps: int, repeats: int) -> Iterator[float]:
    """CleanRL's ``dqn_atari.py`` hot path, re-created so it is timed under the same load as ours:
    one env stepped synchronously, an SB3-style buffer holding obs and next_obs stacks, fp32
    NCHW Nature CNN, MSE on plain DQN targets, Adam, one greedy forward per env step. The env is
    ale-py's C++ one with one env (FIGURES.md: 2,400 steps/s vs ~1,400 for CleanRL's Python
    wrapper stack), so this replica is, if anything, faster than CleanRL itself."""
    from workbench.agents.dqn.networks import NatureCNN

    env = VectorEnv("ALE/Pong-v5", 1, seed=0, num_threads=1, life_loss_terminal=True)
    n_act, size = env.num_actions, 100_000
    obs_buf = np.zeros((size, 4, 84, 84), np.uint8)
    next_buf = np.zeros((size, 4, 84, 84), np.uint8)
    act_buf = np.zeros(size, np.int64)
    rew_buf = np.zeros(size, np.float32)
    done_buf = np.zeros(size, np.float32)
    q, target = NatureCNN(4, n_act), NatureCNN(4, n_act)
    target.load_state_dict(q.state_dict())
    opt = torch.optim.Adam(q.parameters(), lr=1e-4)
    rng = np.random.default_rng(0)
    obs, pos = env.reset(), 0
    total = learning_starts + steps * repeats
    t0 = time.perf_counter()
    for step in range(total):
        if step >= learning_starts and (step - learning_starts) % steps == 0:
            if step > learning_starts:  # a chunk is done: hand its SPS out, resume when asked
                yield steps / (time.perf_counter() - t0)
            t0 = time.perf_counter()
        eps = max(1.0 - step / 1_000_000 * 0.99, 0.01)
        if rng.random() < eps:
            action = rng.integers(0, n_act, 1)
        else:
            with torch.no_grad():
                action = q(torch.from_numpy(obs)).argmax(1).numpy()
        nxt, reward, terminated, truncated, reset_step = env.step(action)
        if not reset_step[0]:
            i = pos % size
            obs_buf[i], next_buf[i], act_buf[i] = obs[0], nxt[0], action[0]
            rew_buf[i], done_buf[i] = np.sign(reward[0]), float(terminated[0])
            pos += 1
        obs = nxt
        if step > learning_starts and step % 4 == 0:
            idx = rng.integers(0, min(pos, size), 32)
            o, no = torch.from_numpy(obs_buf[idx]), torch.from_numpy(next_buf[idx])
            with torch.no_grad():
                y = torch.from_numpy(rew_buf[idx]) + 0.99 * target(no).max(1).values * (
                    1 - torch.from_numpy(done_buf[idx]))
            pred = q(o).gather(1, torch.from_numpy(act_buf[idx]).unsqueeze(1)).squeeze(1)
            loss = torch.nn.functional.mse_loss(pred, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        if step % 1_000 == 0:
            target.load_state_dict(q.state_dict())
    env.close()
    yield steps / (time.perf_counter() - t0)


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
    replica_runs = cleanrl_replica_sps(CLEANRL["learning_starts"], args.steps, args.repeats)
    sps, env_only, upd, replica = [], [], [], []
    step = CLEANRL["learning_starts"]
    for r in range(args.repeats):
        replica.append(next(replica_runs))  # interleaved with ours: both see the same load
        sps.append(loop_sps(agent, step, args.steps))
        step += args.steps
        env_only.append(env_rate(args.num_envs, 8_000))
        upd.append(update_rate(agent, args.updates))
        print(f"  repeat {r + 1}: SPS {sps[-1]:.1f}, CleanRL replica SPS {replica[-1]:.1f}, "
              f"env-only {env_only[-1]:.0f}, updates/s {upd[-1]:.1f}", flush=True)
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
    print(f"CleanRL replica SPS, same run       {med(replica):8.1f}")
    print(f"SPS / CleanRL replica (same run)    {med(sps) / med(replica):8.2f}")
    print(f"SPS / CleanRL ({CLEANRL_SPS} SPS, quiet)  {med(sps) / CLEANRL_SPS:8.2f}")

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

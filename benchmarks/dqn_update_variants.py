"""What each change to DQN's update is worth, measured alone on the update (sample + loss +
backward + Adam) at CleanRL's hyperparameters (batch 32, plain DQN, MSE).

Each variant is today's agent with one change undone (or one option switched), all built in one
process and timed in interleaved rounds (A/B/C/...), as milliseconds per update of wall time and
of this thread's CPU time (the latter is what load distorts least; with ``--threads 1`` all the
work is on this thread):

* ``today``: the agent as it is (precision=auto, channels_last);
* ``- NHWC stacks``: stacks built NCHW and turned channels_last by torch, as before;
* ``- folded 1/255``: the frames scaled by 1/255 before conv1 instead of conv1's weights;
* ``precision=bf16`` / ``channels_last=false`` / ``compile=true``: the config switches;
* ``double`` / ``double + one forward``: Double DQN as today (a no-grad online forward of the
  next states) against one online forward over states and next states together.

    nice -n 10 python benchmarks/dqn_update_variants.py --threads 1 --repeats 10
    nice -n 10 python benchmarks/dqn_update_variants.py --quick
    python benchmarks/dqn_update_variants.py --preset dqn-pong --threads 2 \
        --variants today,batch_size=64,batch_size=128,dueling=false,max_grad_norm=0
    python benchmarks/dqn_update_variants.py --preset dqn-pong --threads 2 --repeats 6 \
        --variants env.screen_size=84,env.screen_size=64,today,env.screen_size=42,env.screen_size=42+network=compact
    python benchmarks/dqn_update_variants.py --preset dqn-pong --set env.screen_size=84 --threads 2 \
        --variants today,batch_size=64   # the update of dqn-pong as it was before 2026-12-06 (84x84)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import types
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dqn_throughput import WorkbenchDQN  # noqa: E402


def _nchw_update(agent: Any) -> None:
    """Undo the buffer-built NHWC stacks: sample NCHW, let torch make them channels_last."""
    sample = agent.buffer.sample
    agent.buffer.sample = lambda n, channels_last=False: sample(n)
    to_device = agent._to_device
    agent._to_device = lambda array, nhwc=False: to_device(array)


def _unfolded_scale(agent: Any) -> None:
    """Undo the fold: scale the frames by 1/255, then run the layers as they are."""
    for net in (agent.q, agent.q_target):
        net.forward = types.MethodType(lambda self, obs: self.head(self.features(obs.float() / 255.0)), net)


def _one_online_forward(agent: Any) -> None:
    """Double DQN with one online forward over [obs; next_obs] (backward then covers both)."""
    from workbench.agents.dqn.agent import td_target

    def loss(obs, actions, returns, discounts, next_obs, weights=None):
        n = obs.shape[0]
        q_all = agent.q(torch.cat([obs, next_obs]))
        with torch.no_grad():
            target = td_target(returns, discounts, q_all[n:].detach(), agent.q_target(next_obs))
        q = q_all[:n].gather(1, actions.unsqueeze(1)).squeeze(1).float()
        return F.mse_loss(q, target), q.detach().mean(), (q.detach() - target).abs()

    agent.loss_fn = loss


VARIANTS: dict[str, tuple[dict[str, Any], Any]] = {
    "today": ({}, None),
    "- NHWC stacks": ({}, _nchw_update),
    "- folded 1/255": ({}, _unfolded_scale),
    "precision=bf16": ({"precision": "bf16"}, None),
    "precision=fp32": ({"precision": "fp32"}, None),
    "channels_last=false": ({"channels_last": False}, None),
    "compile=true": ({"compile": True}, None),
    "double": ({"double": True}, None),
    "double + one forward": ({"double": True}, _one_online_forward),
    # levers of a preset's update cost (with --preset dqn-pong: its batch 32, dueling, 3-step)
    "batch_size=64": ({"batch_size": 64}, None),
    "batch_size=128": ({"batch_size": 128}, None),
    "dueling=false": ({"dueling": False}, None),
    "prioritized_replay=true": ({"prioritized_replay": True}, None),
    # QR-DQN brings its own loss (quantile Huber), so these leave CleanRL's MSE
    **{f"num_quantiles={n}": ({"num_quantiles": n, "loss": "huber"}, None) for n in (32, 64, 200)},
    "max_grad_norm=0": ({"max_grad_norm": 0.0}, None),
    # smaller frames (ale-py resizes the screen; the Nature CNN's dense layer follows)
    "env.screen_size=84": ({"env.screen_size": 84}, None),
    "env.screen_size=64": ({"env.screen_size": 64}, None),
    "env.screen_size=56": ({"env.screen_size": 56}, None),
    "env.screen_size=42": ({"env.screen_size": 42}, None),
    "env.screen_size=42+network=compact": ({"env.screen_size": 42, "network": "compact"}, None),
}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=10, help="interleaved rounds")
    p.add_argument("--updates", type=int, default=10, help="updates per variant per round")
    p.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated names")
    p.add_argument("--preset", default=None, metavar="NAME",
                   help="start every variant from this preset's settings (e.g. dqn-pong) instead "
                        "of CleanRL's")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                   help="change the base every variant starts from (e.g. env.screen_size=84: "
                        "dqn-pong before 2026-12-06)")
    p.add_argument("--quick", action="store_true", help="a smoke run: 2 variants, 1 round")
    args = p.parse_args(argv)
    names = [n.strip() for n in args.variants.split(",")]
    if args.quick:
        names, args.repeats, args.updates = ["today", "- folded 1/255"], 1, 2
    unknown = sorted(set(names) - set(VARIANTS))
    if unknown:
        raise SystemExit(f"unknown variants {unknown}; allowed: {', '.join(VARIANTS)}")
    torch.set_num_threads(args.threads)
    base: dict[str, Any] = {}
    if args.preset:
        from workbench import registry

        spec, preset = registry.resolve(args.preset)
        if preset is None or spec.name != "dqn":
            raise SystemExit(f"--preset {args.preset}: not a preset of dqn")
        base = {k: v for k, v in preset.overrides.items()
                if k not in ("total_steps", "buffer_size", "learning_starts")}
    if args.set:
        from workbench.config import parse_overrides

        base.update(parse_overrides(args.set))
    agents = {}
    for name in names:
        overrides, patch = VARIANTS[name]
        worker = WorkbenchDQN(total_timesteps=10_000, learning_starts=600, buffer_size=4_000,
                              chunk_steps=0, threads=args.threads, overrides={**base, **overrides})
        worker.prepare()
        if patch is not None:
            patch(worker.agent)
        t = time.perf_counter()
        for _ in range(3):  # warm-up (and compilation, for compile=true)
            worker.agent.update()
        print(f"  built {name} ({worker.precision}); warm-up {time.perf_counter() - t:.1f} s", flush=True)
        agents[name] = worker
    wall: dict[str, list[float]] = {n: [] for n in names}
    cpu: dict[str, list[float]] = {n: [] for n in names}
    for _ in range(args.repeats):
        for name, worker in agents.items():
            t, c = time.perf_counter(), time.thread_time()
            for _ in range(args.updates):
                worker.agent.update()
            wall[name].append(1000 * (time.perf_counter() - t) / args.updates)
            cpu[name].append(1000 * (time.thread_time() - c) / args.updates)
    base_w, base_c = statistics.median(wall[names[0]]), statistics.median(cpu[names[0]])
    print(f"\n{args.threads} thread(s), median of {args.repeats} rounds of {args.updates} updates; "
          f"x = speed relative to '{names[0]}'" + (f"; settings of {args.preset}" if args.preset else ""))
    print("| variant | ms/update (wall) | x | ms/update (thread CPU) | x | transitions/s (wall) |")
    print("|---|---|---|---|---|---|")
    for name in names:
        w, c = statistics.median(wall[name]), statistics.median(cpu[name])
        batch = agents[name].cfg.batch_size
        print(f"| {name} | {w:.1f} | {base_w / w:.2f} | {c:.1f} | {base_c / c:.2f} | {1000 * batch / w:,.0f} |")
    for worker in agents.values():
        worker.close()


if __name__ == "__main__":
    # this checkout, even when not installed; only when run as a script: a --before side
    # imports this module in a child that must keep its own checkout first on the path
    sys.path.insert(1, str(Path(__file__).resolve().parents[1]))
    main()

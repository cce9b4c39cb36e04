"""Character GPT at nanoGPT's CPU configuration: workbench against nanoGPT's ``train.py``.

Anchor: ``anchor_nanogpt.NanoGPT``, our re-write of nanoGPT's model and training step at its
README CPU configuration (4 layers, 4 heads, 128 dims, block 64, batch 12, lr 1e-3, dropout 0,
no compile, fp32), on the same corpus file ``gpt-shakespeare`` reads (its header says what it
mirrors and what it does not). Each side runs in its own process, pinned to the same cores with
the same thread count, timed in alternating chunks (A/B/A/B, see ``ab.py``).

Two figures, each at every ``--threads`` count:

* ``tokens``: training tokens/s at nanoGPT's exact CPU configuration. Ours is the ``text-lm``
  plugin's ``train_step`` with the same model, batch and optimizer settings, at its defaults
  otherwise (``--ours precision=bf16`` etc. to change them). Neither side evaluates.
* ``loss``: wall time to nanoGPT's 2,000-iteration val loss. The anchor runs its 2,000 iterations
  with its own evaluations (every 250); ours runs the ``gpt-shakespeare`` preset as the loop
  does (evaluation + sample every ``eval_every``, checkpoints, metrics). After every chunk both
  models are scored, untimed, on the same fixed 1,440 validation blocks; ours' time is taken at
  the first chunk whose score is at or below the anchor's score at 2,000.

    nice -n 10 python benchmarks/gpt_speed.py --threads 1,2 --repeats 5        # both figures
    nice -n 10 python benchmarks/gpt_speed.py --figure tokens --threads 1 --before /tmp/wb-before
    nice -n 10 python benchmarks/gpt_speed.py --quick                          # seconds: a smoke run
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ab import Pair, Side, median_of, parse_threads, run_interleaved  # noqa: E402

# the text-lm keys for nanoGPT's CPU configuration (anchor_nanogpt.CPU_CONFIG)
NANOGPT_CPU = {"model.arch": "gpt", "model.n_layer": 4, "model.n_head": 4, "model.n_embd": 128,
               "model.block_size": 64, "model.dropout": 0.0, "model.bias": False,
               "optim.batch_size": 12, "optim.lr": 1e-3, "optim.warmup_steps": 100,
               "optim.decay_steps": 2000, "optim.min_lr_ratio": 0.1, "optim.beta1": 0.9,
               "optim.beta2": 0.99, "optim.weight_decay": 0.1, "optim.max_grad_norm": 1.0,
               "total_steps": 2000}


class WorkbenchGPT:
    """A ``text-lm`` run advanced ``chunk_iters`` steps per ``chunk()``; with ``loop`` it also
    does what ``workbench run`` does between steps (metrics, evaluation + sample, checkpoints)."""

    def __init__(self, name: str, overrides: dict[str, Any], chunk_iters: int, loop: bool) -> None:
        import torch

        from workbench import registry
        from workbench.config import build_config
        from workbench.engine import checkpoint
        from workbench.engine.loop import MetricWindow
        from workbench.logger import Logger
        from workbench.plugin import Context
        from workbench.runtime import resolve_device, resolve_precision, seed_everything

        spec, preset = registry.resolve(name)
        cfg = build_config(registry.load_config_class(spec), dict(preset.overrides) if preset else {},
                           {"device": "cpu", **overrides})
        device = resolve_device(cfg.device)
        try:  # as the loop resolves precision=auto for this plugin (older checkouts: no 3rd arg)
            precision = resolve_precision(cfg.precision, device, type(cfg).auto_cpu_precision)
        except AttributeError:
            precision = resolve_precision(cfg.precision, device)
        seed_everything(cfg.seed)
        self.tmp = tempfile.TemporaryDirectory(prefix="gpt-bench-")
        run_dir = Path(self.tmp.name)
        self.logger = Logger(run_dir, wandb_mode="disabled", metrics=loop)
        ctx = Context(device=device, precision=precision, logger=self.logger, run_dir=run_dir,
                      seed=cfg.seed, compile_enabled=cfg.compile)
        self.plugin = registry.load_plugin_class(spec)(cfg, ctx)
        self.cfg, self.chunk_iters, self.loop = cfg, chunk_iters, loop
        self.window, self.save = MetricWindow(), checkpoint.save
        self.step, self.train_s, self.train_cpu_s = 0, 0.0, 0.0
        self.precision = precision.name
        self._torch = torch

    def prepare(self) -> dict[str, Any]:
        return {"chars": self.plugin.tokenizer.chars, "precision": self.precision}

    def _after_step(self, before: int) -> None:
        cfg, step = self.cfg, self.step
        crossed = lambda every: every > 0 and before // every != step // every  # noqa: E731
        if crossed(cfg.log_every):
            self.logger.log(self.window.means(), step)
            self.window.clear()
        if crossed(cfg.eval_every):
            self.logger.log(dict(self.plugin.evaluate(step)), step)
        if crossed(cfg.checkpoint_every):
            self.save({"step": step, "state": self.plugin.state_dict()},
                      Path(self.tmp.name) / "checkpoint.pt")

    def chunk(self) -> dict[str, float]:
        t, cpu = time.perf_counter(), time.process_time()
        for _ in range(self.chunk_iters):
            metrics = self.plugin.train_step(self.step)
            self.step += 1
            self.window.add(metrics)
            if self.loop:
                self._after_step(self.step - 1)
        dt, dcpu = time.perf_counter() - t, time.process_time() - cpu
        self.train_s += dt
        self.train_cpu_s += dcpu
        tokens = self.chunk_iters * self.plugin.tokens_per_step
        return {"tokens_per_s": tokens / dt, "tokens_per_cpu_s": tokens / dcpu, "iter": self.step,
                "train_s": self.train_s, "train_cpu_s": self.train_cpu_s}

    def total_steps(self) -> dict[str, int]:
        return {"total_steps": self.cfg.total_steps}

    def loss_on(self, blocks: np.ndarray) -> float:
        torch = self._torch
        model = self.plugin.model
        model.eval()
        with torch.no_grad():
            data = torch.from_numpy(blocks.astype(np.int64))
            losses = [float(self.plugin.loss(b[:, :-1], b[:, 1:], model))
                      for b in data.split(self.cfg.optim.batch_size)]
        model.train()
        return float(np.mean(losses))

    def close(self) -> None:
        self.plugin.close()
        self.logger.close()
        self.tmp.cleanup()


def val_blocks(chars: str, n: int = 1440, block: int = 64, seed: int = 1234) -> np.ndarray:
    """``n`` fixed blocks of ``block + 1`` ids from the last 10 % of the corpus (nanoGPT's val)."""
    from anchor_nanogpt import corpus_text

    text = corpus_text()
    val = text[int(len(text) * 0.9):]
    table = {c: i for i, c in enumerate(chars)}
    ids = np.array([table[c] for c in val], dtype=np.int64)
    starts = np.random.default_rng(seed).integers(0, len(ids) - block - 1, n)
    return ids[starts[:, None] + np.arange(block + 1)]


def tokens_figure(threads: int, args: argparse.Namespace, ours: dict[str, Any]) -> dict[str, Any]:
    mine = {"name": "text-lm", "overrides": {**NANOGPT_CPU, **ours}, "chunk_iters": args.iters,
            "loop": False}
    sides = [Side("nanogpt", "anchor_nanogpt:NanoGPT", {"chunk_iters": args.iters, "evals": False}),
             Side("ours", "gpt_speed:WorkbenchGPT", mine)]
    if args.before:
        sides.append(Side("before", "gpt_speed:WorkbenchGPT", mine, root=args.before))
    prepared, results = run_interleaved(sides, threads, args.repeats, pin=not args.no_pin)
    anchor = results[0]
    a, a_cpu = median_of(anchor, "tokens_per_s"), median_of(anchor, "tokens_per_cpu_s")
    out: dict[str, Any] = {"anchor": a, "anchor_cpu": a_cpu, "sides": []}
    for side, prep, res in zip(sides[1:], prepared[1:], results[1:]):
        o, o_cpu = median_of(res, "tokens_per_s"), median_of(res, "tokens_per_cpu_s")
        out["sides"].append({"name": side.name, "tokens": o, "ratio": o / a, "cpu": o_cpu,
                             "precision": prep["precision"],
                             "rounds": [m["tokens_per_s"] / n["tokens_per_s"] for m, n in zip(res, anchor)]})
    return out


def loss_figure(threads: int, args: argparse.Namespace, ours: dict[str, Any]) -> dict[str, Any]:
    """Alternating chunks until the anchor has done ``--anchor-iters`` and ours its preset."""
    anchor_chunk = args.anchor_iters // args.chunks
    sides = [Side("nanogpt", "anchor_nanogpt:NanoGPT",
                  {"chunk_iters": anchor_chunk, "evals": True,
                   "overrides": {"max_iters": args.anchor_iters, "lr_decay_iters": args.anchor_iters}}),
             Side("ours", "gpt_speed:WorkbenchGPT",
                  {"name": args.preset, "overrides": ours, "chunk_iters": args.ours_chunk, "loop": True})]
    print(f"  {threads} thread(s): nanoGPT {args.anchor_iters:,} iterations in chunks of "
          f"{anchor_chunk}; ours {args.preset} {ours or ''} in chunks of {args.ours_chunk}")
    curves: list[list[tuple[int, float, float, float]]] = [[], []]
    with Pair(sides, threads, pin=not args.no_pin) as pair:
        prepared = [pair.ask(i, "prepare") for i in range(2)]
        if prepared[0]["chars"] != prepared[1]["chars"]:
            raise SystemExit("the two sides tokenized the corpus differently; cannot compare losses")
        blocks = val_blocks(prepared[0]["chars"], n=args.val_blocks)
        ours_total = None
        while True:
            anchor_done = curves[0] and curves[0][-1][0] >= args.anchor_iters
            ours_done = curves[1] and (curves[1][-1][0] >= (ours_total or 0))
            if anchor_done and ours_done:
                break
            for i in (0, 1):
                if (i == 0 and anchor_done) or (i == 1 and ours_done):
                    continue
                res = pair.ask(i, "chunk")
                loss = pair.ask(i, "loss_on", blocks)  # untimed
                curves[i].append((int(res["iter"]), float(res["train_s"]), float(loss),
                                  float(res["train_cpu_s"])))
            if ours_total is None:
                ours_total = int(pair.ask(1, "total_steps")["total_steps"])
            a, o = curves[0][-1], curves[1][-1]
            print(f"    nanoGPT {a[0]:>5} it {a[1]:7.1f} s ({a[3]:6.1f} CPU) loss {a[2]:.3f} | "
                  f"ours {o[0]:>5} it {o[1]:7.1f} s ({o[3]:6.1f} CPU) loss {o[2]:.3f}", flush=True)
    target_iter, anchor_s, target, anchor_cpu = curves[0][-1]
    reached = next((c for c in curves[1] if c[2] <= target), None)
    return {"target": target, "anchor_s": anchor_s, "anchor_cpu": anchor_cpu,
            "anchor_iters": target_iter, "reached": reached, "ours_final": curves[1][-1],
            "curves": curves}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--figure", choices=("tokens", "loss", "both"), default="both")
    p.add_argument("--threads", default="1,2", help="thread counts (comma-separated)")
    p.add_argument("--repeats", type=int, default=5, help="timed A/B rounds for tokens/s")
    p.add_argument("--iters", type=int, default=40, help="iterations per tokens/s chunk")
    p.add_argument("--preset", default="gpt-shakespeare", help="our side of the loss figure")
    p.add_argument("--anchor-iters", type=int, default=2000)
    p.add_argument("--chunks", type=int, default=20, help="anchor chunks in the loss figure")
    p.add_argument("--ours-chunk", type=int, default=50, help="our steps per loss-figure chunk")
    p.add_argument("--val-blocks", type=int, default=1440, help="fixed val blocks scored per chunk")
    p.add_argument("--ours", nargs="*", default=[], metavar="KEY=VALUE", help="overrides for ours")
    p.add_argument("--before", default=None, metavar="CHECKOUT",
                   help="tokens figure: also time this checkout's workbench (an older commit, e.g. "
                        "`git worktree add /tmp/wb-before 2b1aac0`) as a third side")
    p.add_argument("--no-pin", action="store_true", help="do not pin both sides to the same cores")
    p.add_argument("--quick", action="store_true", help="a smoke run of both figures (seconds)")
    args = p.parse_args(argv)
    ours: dict[str, Any] = {}
    for item in args.ours:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--ours takes key=value config overrides; got {item!r}")
        ours[key] = value
    if args.quick:
        args.threads, args.repeats, args.iters = "1", 1, 3
        args.anchor_iters, args.chunks, args.ours_chunk, args.val_blocks = 8, 2, 4, 24
        ours = {"total_steps": 8, "eval_every": 4, "checkpoint_every": 4, "sample.tokens": 8, **ours}
    threads_list = parse_threads(args.threads)
    rows = []
    for threads in threads_list:
        row: dict[str, Any] = {"threads": threads}
        if args.figure in ("tokens", "both"):
            row["tokens"] = tokens_figure(threads, args, ours if args.quick is False else {})
        if args.figure in ("loss", "both"):
            row["loss"] = loss_figure(threads, args, ours)
        rows.append(row)
    report(rows)


def report(rows: list[dict[str, Any]]) -> None:
    """Wall-clock figures, and the same per second of process CPU time (what load distorts
    least on a shared machine; meaningful at 1 thread, where no thread spins waiting)."""
    print()
    if any("tokens" in r for r in rows):
        print("| threads | side | nanoGPT anchor tokens/s | side tokens/s | ratio (per round) "
              "| per CPU-second: anchor / side / ratio | side's precision |")
        print("|---|---|---|---|---|---|---|")
        for r in rows:
            if "tokens" not in r:
                continue
            t = r["tokens"]
            for o in t["sides"]:
                print(f"| {r['threads']} | {o['name']} | {t['anchor']:,.0f} | {o['tokens']:,.0f} | "
                      f"**{o['ratio']:.2f}** ({', '.join(f'{x:.2f}' for x in o['rounds'])}) | "
                      f"{t['anchor_cpu']:,.0f} / {o['cpu']:,.0f} / **{o['cpu'] / t['anchor_cpu']:.2f}** "
                      f"| {o['precision']} |")
    if any("loss" in r for r in rows):
        print("\n| threads | nanoGPT: val loss at its last iteration, wall s, CPU s | ours: first "
              "chunk at or below it | time ratio: wall, CPU |")
        print("|---|---|---|---|")
        for r in rows:
            if "loss" not in r:
                continue
            f = r["loss"]
            anchor = f"{f['target']:.3f} at {f['anchor_iters']:,}, {f['anchor_s']:.1f} s, {f['anchor_cpu']:.1f} s"
            if f["reached"] is None:
                it, s, loss, cpu = f["ours_final"]
                print(f"| {r['threads']} | {anchor} | not reached: {loss:.3f} at {it:,} "
                      f"({s:.1f} s, {cpu:.1f} s CPU) | - |")
            else:
                it, s, loss, cpu = f["reached"]
                print(f"| {r['threads']} | {anchor} | {loss:.3f} at {it:,}, {s:.1f} s, {cpu:.1f} s CPU | "
                      f"**{s / f['anchor_s']:.2f}**, **{cpu / f['anchor_cpu']:.2f}** |")

if __name__ == "__main__":
    # this checkout, even when not installed; only when run as a script: a --before side
    # imports this module in a child that must keep its own checkout first on the path
    sys.path.insert(1, str(Path(__file__).resolve().parents[1]))
    main()

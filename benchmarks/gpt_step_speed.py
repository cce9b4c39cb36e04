"""Milliseconds per GPT training step at nanoGPT's CPU size: fp32 vs bf16 autocast, 1 vs 2
torch threads (each setting in a fresh process; median of the timed steps).

    python benchmarks/gpt_step_speed.py            # prints a table and the ratios

On a shared machine the thread count matters most: OpenMP's 2 threads spin-wait for a core that
another process holds, so 1 thread can be many times faster than 2; OMP_WAIT_POLICY=PASSIVE
(threads sleep instead of spinning) removes most of the penalty.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

STEPS, WARMUP = 30, 5


def child(threads: int, precision: str) -> None:
    import torch
    import torch.nn.functional as F

    from workbench.generators.seq.config import ModelConfig
    from workbench.generators.seq.models import GPT, param_groups

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = GPT(ModelConfig(n_layer=4, n_head=4, n_embd=128, block_size=64), vocab_size=79)
    opt = torch.optim.AdamW(param_groups(model, 0.1), lr=1e-3)
    x = torch.randint(0, 79, (12, 65))
    times = []
    for i in range(STEPS + WARMUP):
        t = time.perf_counter()
        with torch.autocast("cpu", torch.bfloat16, enabled=precision == "bf16"):
            logits, _ = model(x[:, :-1])
        loss = F.cross_entropy(logits.float().flatten(0, 1), x[:, 1:].flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if i >= WARMUP:
            times.append(time.perf_counter() - t)
    print(1000 * statistics.median(times))


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(int(sys.argv[2]), sys.argv[3])
        return
    results = {}
    settings = [(1, "fp32", ""), (1, "bf16", ""), (2, "fp32", ""), (2, "bf16", ""),
                (2, "fp32", "PASSIVE"), (2, "bf16", "PASSIVE")]
    for threads, precision, wait in settings:
        env = {**os.environ, **({"OMP_WAIT_POLICY": wait} if wait else {})}
        out = subprocess.run([sys.executable, __file__, "--child", str(threads), precision],
                             capture_output=True, text=True, check=True, env=env)
        ms = results[threads, precision, wait] = float(out.stdout.strip())
        label = f"threads={threads} {precision}" + (f" OMP_WAIT_POLICY={wait}" if wait else "")
        print(f"{label:<42} {ms:7.1f} ms/step  {12 * 64 / ms * 1000:8,.0f} tokens/s")
    print(f"bf16 / fp32 time, 1 thread: {results[1, 'bf16', ''] / results[1, 'fp32', '']:.2f}")
    print(f"2 threads / 1 thread time, fp32: {results[2, 'fp32', ''] / results[1, 'fp32', '']:.2f}; "
          f"with OMP_WAIT_POLICY=PASSIVE: {results[2, 'fp32', 'PASSIVE'] / results[1, 'fp32', '']:.2f}")
    print("(against nanoGPT's own step, timed beside ours: benchmarks/gpt_speed.py)")


if __name__ == "__main__":
    main()

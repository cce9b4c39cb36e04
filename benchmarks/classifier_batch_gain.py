"""How much a batch of 32 saves per image over 32 single forward passes, for the classifier's
networks on this machine: the most any server's batching can gain for them (a request costs at
least its share of a forward pass). Inference mode, fp32, medians of interleaved rounds.

    python benchmarks/classifier_batch_gain.py [--threads 1] [--rounds 5]

Read with docs/serving.md ("Load test"): on a CPU a batch of 32 costs about 32 single passes for
images of this size, so batching pays only for the smallest network; on a GPU it costs about one.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workbench.classifiers.models import ConvNet, ResNet  # noqa: E402

NETWORKS = {  # name -> (network, channels, size)
    "ResNet-14 width 16, 32 px RGB": (lambda: ResNet(3, 10, 16, 2), 3, 32),
    "ResNet-14 width 16, 64 px RGB": (lambda: ResNet(3, 10, 16, 2), 3, 64),
    "ResNet-14 width 32, 64 px RGB": (lambda: ResNet(3, 10, 32, 2), 3, 64),
    "digits ConvNet, 16 px gray (classifier-digits)": (lambda: ConvNet(1, 10, 16, 128), 1, 16),
}


def ms_per_call(net: torch.nn.Module, x: torch.Tensor, calls: int) -> float:
    with torch.inference_mode():
        t = time.perf_counter()
        for _ in range(calls):
            net(x)
        return (time.perf_counter() - t) / calls * 1000


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--batch", type=int, default=32)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    nets = {}
    for name, (make, ch, size) in NETWORKS.items():
        net = make().eval()
        one, many = torch.rand(1, ch, size, size), torch.rand(args.batch, ch, size, size)
        ms_per_call(net, many, 1)  # warm-up
        nets[name] = (net, one, many)
    times: dict[str, tuple[list[float], list[float]]] = {n: ([], []) for n in nets}
    for _ in range(args.rounds):  # interleaved: each round times every network once
        for name, (net, one, many) in nets.items():
            times[name][0].append(ms_per_call(net, one, 10))
            times[name][1].append(ms_per_call(net, many, 2) / args.batch)
    print(f"| network, input | batch 1, ms | batch {args.batch}, ms per image | gain per image |")
    print("|---|---|---|---|")
    for name, (single, batched) in times.items():
        a, b = statistics.median(single), statistics.median(batched)
        print(f"| {name} | {a:.2f} | {b:.3f} | {a / b:.1f}x |")
    print(f"({args.threads} thread(s), medians of {args.rounds} interleaved rounds)")


if __name__ == "__main__":
    main()

"""DCGAN on the offline MNIST digits: does eval/fd fall below a quarter of its step-0 value
within 3,000 steps? (The target the image generators were built to; the reference textbook
DCGAN of docs/benchmarks.md went 751 -> 18-24 on its own feature network.)

    python benchmarks/dcgan_fd.py                        # run `workbench run dcgan-mnist`, report
    python benchmarks/dcgan_fd.py runs/dcgan-mnist/NAME  # report on a finished run

Prints the FD curve, the ratio final / step 0 against the 0.25 target, the training speed, and
the reference FDs of real and degraded digit sets for scale.
"""

from __future__ import annotations

import sys

from run_rows import REPO, run_rows  # benchmarks/ is the script's folder, on sys.path

sys.path.insert(0, str(REPO))


def reference_scale() -> dict[str, float]:
    """FD of real and degraded digit sets against the same held-out digits, for scale."""
    import torch
    import torch.nn.functional as F

    from workbench.data.images import load_images, to_float
    from workbench.generators.metrics import DigitFD

    train = load_images("mnist", "train", image_size=32, channels=1)
    fd = DigitFD(to_float(load_images("mnist", "test", image_size=32, channels=1).images))
    real = to_float(train.images[torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[:1000]])
    blurred = F.avg_pool2d(F.pad(real, (1, 1, 1, 1), mode="replicate"), 3, 1)
    gen = torch.Generator().manual_seed(0)
    return {"real training digits": fd(real), "3x3 box-blurred digits": fd(blurred),
            "a single class (ones)": fd(to_float(train.images[train.labels == 1])),
            "uniform noise": fd(torch.rand(1000, 1, 32, 32, generator=gen) * 2 - 1)}


def main() -> None:
    run, rows = run_rows("dcgan-mnist", "bench-fd")
    fds = [(r["step"], r["eval/fd"]) for r in rows if "eval/fd" in r]
    sps = [r["perf/sps"] for r in rows if "perf/sps" in r]
    print(f"run: {run}")
    print("step    eval/fd")
    for step, fd in fds:
        print(f"{step:>5}  {fd:8.1f}")
    (s0, fd0), (s1, fd1) = fds[0], fds[-1]
    ratio = fd1 / fd0
    print(f"FD step {s1} / step {s0} = {fd1:.1f} / {fd0:.1f} = {ratio:.3f} "
          f"(target < 0.25: {'met' if ratio < 0.25 else 'NOT met'}; "
          f"reference run 751 -> 18-24, ratio 0.024-0.032)")
    if sps:
        sps.sort()
        print(f"median training speed {sps[len(sps) // 2]:.2f} steps/s "
              f"({1000 / sps[len(sps) // 2]:.0f} ms/step; reference bf16 113 ms/step on a quiet machine)")
    print("reference FDs against the same held-out digits:")
    for what, value in reference_scale().items():
        print(f"  {what:<26} {value:8.1f}")


if __name__ == "__main__":
    main()

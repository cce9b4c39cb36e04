"""How fast `workbench --help`, `list` and `describe` answer (they must not import torch).

    python benchmarks/cli_startup.py [--repeats 5]

Prints the median wall time of each command over N runs, the time of `import torch` on the
same machine for scale, and the ratio to the 1-second budget in DEVELOPERS.md.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time


def wall(argv: list[str], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    py = [sys.executable]
    rows = {
        "python -c pass": wall([*py, "-c", "pass"], args.repeats),
        "workbench --help": wall([*py, "-m", "workbench", "--help"], args.repeats),
        "workbench list": wall([*py, "-m", "workbench", "list"], args.repeats),
        "workbench describe dqn-pong": wall([*py, "-m", "workbench", "describe", "dqn-pong"], args.repeats),
        "python -c 'import torch'": wall([*py, "-c", "import torch"], args.repeats),
    }
    print(f"median of {args.repeats} runs")
    for name, seconds in rows.items():
        print(f"  {name:<30} {seconds * 1000:7.0f} ms   ({seconds:.2f} x the 1 s budget)")


if __name__ == "__main__":
    main()

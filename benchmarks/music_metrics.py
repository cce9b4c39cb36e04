"""Score samples of a trained music run against its corpus (the figures of docs/music.md).

For each seed: ``workbench sample``'s code path writes a MIDI file, music21 parses it back, and
we report the notes music21 finds, the in-key fraction of those notes, the pitch-class
histogram distance, pitch range and n-gram copying, next to the corpus's own figures (the val
pieces) and a control of uniformly random pitches over the corpus's range.

    workbench run lstm-bach --name bach
    python benchmarks/music_metrics.py runs/lstm-bach/bach --seeds 5
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import numpy as np

from workbench.engine.loop import load_for_inference
from workbench.generators.music import metrics as mm
from workbench.generators.music.io import read_back_notes
from workbench.generators.seq.config import SequenceSampleOptions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run_dir")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=None, help="default: the run's sample.tokens")
    parser.add_argument("--temperature", type=float, default=None)
    args = parser.parse_args()

    plugin, run, step = load_for_inference(args.run_dir)
    ref = plugin.reference()
    print(f"{run.path} at step {step:,}; {len(plugin.train_pieces)} train / "
          f"{len(plugin.val_pieces)} val pieces")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            out = Path(tmp) / f"s{seed}.mid"
            report = plugin.sample(out, SequenceSampleOptions(tokens=args.tokens,
                                                             temperature=args.temperature, seed=seed))
            metrics = dict(line.split() for line in report.splitlines()[1:])
            back = read_back_notes(out)
            rows.append({"seed": seed, "notes (read back)": len(back),
                         "in-key (read back)": mm.in_key_fraction(back),
                         "pc distance": float(metrics["pitch_class_distance"]),
                         "range": float(metrics["pitch_range"]),
                         "8-grams in train": float(metrics["ngram_copied_train"]),
                         "8-grams in val": float(metrics["ngram_copied_val"])})
    keys = list(rows[0])[1:]
    print("seed  " + "  ".join(f"{k:>18}" for k in keys))
    for r in rows:
        print(f"{r['seed']:>4}  " + "  ".join(f"{r[k]:>18.3f}" for k in keys))
    print("median" + "  ".join(f"{statistics.median(r[k] for r in rows):>18.3f}" for k in keys))

    rng = np.random.default_rng(0)
    val_notes = [p for line in plugin._voice_lines(plugin.val_pieces) for p in line]
    lo, hi = int(np.percentile(val_notes, 2)), int(np.percentile(val_notes, 98))
    control = [mm.in_key_fraction(rng.integers(lo, hi + 1, 100).tolist()) for _ in range(5)]
    gen_in_key = statistics.median(r["in-key (read back)"] for r in rows)
    print(f"\ncorpus (val pieces): in-key {ref['in_key']:.3f}, mean range {ref['range']:.1f} semitones")
    print(f"control, uniform random pitches {lo}..{hi}: in-key {statistics.median(control):.3f}")
    print(f"in-key gap, samples vs corpus: {100 * (gen_in_key - ref['in_key']):+.1f} points")


if __name__ == "__main__":
    main()

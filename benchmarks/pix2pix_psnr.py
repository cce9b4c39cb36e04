"""pix2pix on the offline edges -> photos pairs: validation PSNR against the trivial baselines
(the target the plugin was built to: clearly above copying the input).

    python benchmarks/pix2pix_psnr.py                          # run `workbench run pix2pix-edges`
    python benchmarks/pix2pix_psnr.py runs/pix2pix-edges/NAME  # report on a finished run

Baselines, on the same held-out pairs: copying the input (an edge map) as the output, and the
best flat image (the mean training photo colour), which an L1-trained model beats only once it
has learned something about the photos.
"""

from __future__ import annotations

from run_rows import run_rows  # benchmarks/ is the script's folder, on sys.path


def main() -> None:
    run, rows = run_rows("pix2pix-edges", "bench-psnr")
    evals = [r for r in rows if "eval/psnr" in r]
    sps = sorted(r["perf/sps"] for r in rows if "perf/sps" in r)
    print(f"run: {run}")
    print(" step   L1     PSNR dB  SSIM")
    for r in evals:
        print(f"{r['step']:>5}  {r['eval/l1']:.3f}  {r['eval/psnr']:6.2f}  {r['eval/ssim']:.3f}")
    last = evals[-1]
    copy, flat = last["eval/psnr_copy_input"], last["eval/psnr_mean_target"]
    print(f"baseline copy the input:       PSNR {copy:6.2f} dB  SSIM {last['eval/ssim_copy_input']:.3f}")
    print(f"baseline mean training colour: PSNR {flat:6.2f} dB")
    print(f"final PSNR {last['eval/psnr']:.2f} dB: {last['eval/psnr'] - copy:+.2f} dB vs copying the "
          f"input, {last['eval/psnr'] - flat:+.2f} dB vs the flat mean colour")
    if sps:
        print(f"median training speed {sps[len(sps) // 2]:.2f} steps/s")


if __name__ == "__main__":
    main()

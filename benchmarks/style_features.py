"""Which feature network should style transfer use offline? Every candidate runs style-gatys
on the same content x style pairs, and each result is scored by an independent judge, the
Gabor probe (generators/style/features.py: GaborProbe), next to two references: the content
photo itself (no style at all) and a plain colour transfer (each RGB channel's mean and
standard deviation matched to the style's, after Reinhard et al. 2001). It also writes the
content x style grid of each candidate (docs/images/style_grid_<net>.png), a side-by-side
picture of the candidates (docs/images/style_candidates.png) and the ica filters
(docs/images/style_ica_filters.png).

    python benchmarks/style_features.py [--size 128] [--steps 100] [--threads 1] [--out docs/images]

Lower is better for both probe scores; a good result has a probe style score well below the
content photo's and the colour transfer's, at a probe content score far below the style image's.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workbench.config import build_config  # noqa: E402
from workbench.generators.style.config import GatysConfig  # noqa: E402
from workbench.generators.style.gatys import Gatys  # noqa: E402
from workbench.generators.style.objective import as_uint8, probe_scores  # noqa: E402
from workbench.logger import Logger  # noqa: E402
from workbench.media import image_grid, save_png  # noqa: E402
from workbench.plugin import Context  # noqa: E402
from workbench.runtime import resolve_precision  # noqa: E402

CONTENTS = ("astronaut", "coffee", "chelsea")
STYLES = ("mosaic", "waves", "brick")
CANDIDATES = {"multiscale": {"features.net": "multiscale"},
              "ica": {"features.net": "ica"},
              "vgg19-random": {"features.net": "vgg19"}}


def colour_transfer(content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    """Each channel's mean and standard deviation matched to the style image's."""
    mc, sc = content.mean((2, 3), keepdim=True), content.std((2, 3), keepdim=True)
    ms, ss = style.mean((2, 3), keepdim=True), style.std((2, 3), keepdim=True)
    return ((content - mc) / sc.clamp_min(1e-6) * ss + ms).clamp(0, 1)


def stylise(overrides: dict, content: str, style: str, size: int, steps: int, tmp: Path):
    cfg = build_config(GatysConfig, {"content": content, "style": style, "image_size": size,
                                     **overrides})
    device = torch.device("cpu")
    ctx = Context(device, resolve_precision(cfg.precision, device, cfg.auto_cpu_precision),
                  Logger(tmp), tmp, 0)
    plugin = Gatys(cfg, ctx)
    start = time.perf_counter()
    for step in range(steps):
        plugin.train_step(step)
    return plugin, time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="docs/images")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    rows: dict[str, list[dict]] = {name: [] for name in ["content photo", "colour transfer", *CANDIDATES]}
    tiles: dict[str, list[torch.Tensor]] = {name: [] for name in CANDIDATES}
    with tempfile.TemporaryDirectory() as tmp:
        for content in CONTENTS:
            for style in STYLES:
                # the candidates run one after the other on each pair: load drifts hit all alike
                for name, overrides in CANDIDATES.items():
                    plugin, secs = stylise(overrides, content, style, args.size, args.steps, Path(tmp))
                    c, s, x = plugin.content, plugin.style, plugin.output()
                    rows[name].append({**probe_scores(x, c, s), "secs": secs})
                    tiles[name].append(as_uint8(x)[0])
                    print(f"{content:>10} x {style:<8} {name:<13} {rows[name][-1]}", flush=True)
                rows["content photo"].append(probe_scores(c, c, s))
                rows["colour transfer"].append(probe_scores(colour_transfer(c, s), c, s))
                if len(tiles.get("_styles", [])) < len(STYLES):
                    tiles.setdefault("_styles", []).append(as_uint8(s)[0])
            tiles.setdefault("_contents", []).append(as_uint8(c)[0])

    print(f"\n{len(CONTENTS)} contents x {len(STYLES)} styles, {args.size} px, {args.steps} L-BFGS "
          f"steps, {args.threads} thread(s); probe scores (lower is better), median over pairs:")
    print(f"{'':<16}{'probe style':>12}{'probe content':>15}{'s/image':>9}")
    med = {}
    for name, results in rows.items():
        med[name] = {k: statistics.median(r[k] for r in results) for k in results[0]}
        secs = f"{med[name]['secs']:9.1f}" if "secs" in med[name] else ""
        print(f"{name:<16}{med[name]['probe_style']:12.4f}{med[name]['probe_content']:15.4f}{secs}")
    for name in CANDIDATES:
        print(f"{name}: probe style / colour transfer's = "
              f"{med[name]['probe_style'] / med['colour transfer']['probe_style']:.2f}, "
              f"/ content photo's = {med[name]['probe_style'] / med['content photo']['probe_style']:.2f}")

    # pictures: per candidate a grid with a header row of styles and a first column of contents
    blank = torch.full_like(tiles["_styles"][0], 255)
    for name in CANDIDATES:
        grid = [blank, *tiles["_styles"]]
        for i, c in enumerate(tiles["_contents"]):
            grid += [c, *tiles[name][i * len(STYLES):(i + 1) * len(STYLES)]]
        save_png(image_grid(torch.stack(grid), nrow=len(STYLES) + 1), out / f"style_grid_{name}.png")
    side = [tiles["_contents"][0]]
    for name in CANDIDATES:
        side.append(tiles[name][0])
    side.append(tiles["_styles"][0])
    save_png(image_grid(torch.stack(side), nrow=len(side)), out / "style_candidates.png")
    from workbench.generators.style.features import ica_filters

    w = ica_filters(0)  # the ica candidate's filters, each scaled to its own range
    w = (w - w.amin((1, 2, 3), keepdim=True)) / (w.amax((1, 2, 3), keepdim=True) - w.amin((1, 2, 3), keepdim=True))
    w = torch.nn.functional.interpolate(w, scale_factor=4, mode="nearest")
    save_png(image_grid((w * 255).round().to(torch.uint8), nrow=16), out / "style_ica_filters.png")
    print(f"wrote {out}/style_grid_*.png, {out}/style_candidates.png and {out}/style_ica_filters.png")


if __name__ == "__main__":
    main()

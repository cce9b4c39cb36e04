"""Style transfer (style-gatys, style-fast): the Gram matrix, the VGG-19 layout and its state
dict, learning on tiny runs, bad images refused before a run directory exists, sampling a
photo, export and resume."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from workbench.commands.cli import main
from workbench.engine.runs import find_runs
from workbench.errors import UserError

GATYS_TINY = ["image_size=48", "log_every=2", "eval_every=0", "checkpoint_every=0",
              "--wandb", "disabled"]
FAST_TINY = ["total_steps=3", "log_every=1", "eval_every=0", "checkpoint_every=0",
             "image_size=32", "style_size=48", "batch_size=2", "width=4", "residual_blocks=1",
             "--wandb", "disabled"]


def _only_run(root: Path) -> Path:
    runs = list(find_runs(root))
    assert len(runs) == 1
    return runs[0].path


# ----------------------------------------------------------------- the pieces
def test_gram_matrix_is_the_normalised_inner_product_of_channels():
    from workbench.generators.style.features import gram

    f = torch.randn(2, 5, 4, 3)
    g = gram(f)
    for n in range(2):
        flat = f[n].reshape(5, 12)
        expected = torch.stack([torch.stack([(flat[i] * flat[j]).sum() for j in range(5)])
                                for i in range(5)]) / (5 * 4 * 3)
        assert torch.allclose(g[n], expected, atol=1e-6)
    with torch.autocast("cpu", dtype=torch.bfloat16):  # stays float32 under autocast
        assert gram(f.bfloat16()).dtype == torch.float32


def test_vgg19_features_have_torchvisions_indices_and_key_names():
    from workbench.generators.style.config import vgg19_names
    from workbench.generators.style.features import vgg19_features

    conv_indices = [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]
    keys = vgg19_features().state_dict().keys()
    assert list(keys) == [f"{i}.{p}" for i in conv_indices for p in ("weight", "bias")]
    names = vgg19_names()
    assert len(names) == 37 and names[0] == "conv1_1" and names[22] == "relu4_2"
    assert names[28] == "conv5_1" and names[36] == "pool5"


def _response_kurtosis(filters: torch.Tensor, photo: torch.Tensor) -> float:
    """Mean excess kurtosis of each filter's responses over a photo: high = sparse responses."""
    r = torch.nn.functional.conv2d(photo, filters).flatten(2)[0]
    r = r - r.mean(1, keepdim=True)
    return float(((r ** 4).mean(1) / (r ** 2).mean(1) ** 2 - 3).mean())


def test_ica_filters_are_learned_sparse_zero_mean_and_a_function_of_their_seed():
    from workbench.generators.style.features import MultiScaleFeatures, ica_filters
    from workbench.generators.style.images import load_image

    w = ica_filters(0)
    assert w.shape == (128, 3, 7, 7) and ica_filters(0) is w  # computed once per process
    assert torch.allclose(w.sum((1, 2, 3)), torch.zeros(128), atol=1e-4)  # blind to flat grey
    assert torch.allclose(w.flatten(1).norm(dim=1), torch.full((128,), 2 ** 0.5), atol=1e-4)
    random = MultiScaleFeatures(["scale0"], seed=0).filters[0]
    # ICA finds the filters whose responses to natural images are sparsest: on a photo it
    # learned nothing from, they respond rarely and strongly (high kurtosis); random ones do not
    photo = torch.from_numpy(load_image("astronaut", 96).copy()).permute(2, 0, 1)[None] / 127.5 - 1
    assert _response_kurtosis(w, photo) > 3 * _response_kurtosis(random, photo)
    net = MultiScaleFeatures(["scale0", "scale2"], learned=w)
    out = net(torch.rand(1, 3, 32, 32))
    assert out["scale0"].shape == (1, 131, 32, 32) and out["scale2"].shape == (1, 131, 8, 8)


@pytest.mark.slow
def test_the_shipped_ica_filters_are_what_learning_them_here_gives():
    from workbench.generators.style.features import ICA_FILE, ica_filters, learn_ica_filters

    shipped, fresh = ica_filters(0), learn_ica_filters(0)
    assert ICA_FILE.is_file() and shipped.shape == fresh.shape
    # per filter, up to numerical noise (and the sign ICA leaves open)
    cos = torch.nn.functional.cosine_similarity(shipped.flatten(1), fresh.flatten(1))
    assert cos.abs().min() > 0.99


def test_a_torchvision_vgg19_state_dict_file_loads_through_features_weights(tmp_path):
    from workbench.generators.style.features import VGGFeatures, vgg19_features

    torch.manual_seed(123)
    saved = vgg19_features()
    # torchvision's whole-model layout: features.N.*, plus a classifier this loader ignores
    state = {f"features.{k}": v for k, v in saved.state_dict().items()}
    state["classifier.0.weight"] = torch.zeros(4, 4)
    path = tmp_path / "vgg19.pth"
    torch.save(state, path)
    net = VGGFeatures(["relu2_1"], weights=str(path), seed=0)
    assert torch.equal(net.body[5].weight, saved[5].weight)
    random_net = VGGFeatures(["relu2_1"], seed=0)
    assert not torch.equal(random_net.body[5].weight, saved[5].weight)

    torch.save({"features.0.weight": torch.zeros(3, 3)}, path)
    with pytest.raises(UserError, match="not a VGG-19 state dict"):
        VGGFeatures(["relu1_1"], weights=str(path))


def test_grey_and_rgba_images_become_rgb_and_large_ones_are_resized(tmp_path):
    from workbench.generators.style.images import load_image

    grey = tmp_path / "grey.png"
    Image.fromarray(np.full((300, 200), 90, np.uint8)).save(grey)
    rgba = tmp_path / "rgba.png"
    pixels = np.zeros((40, 40, 4), np.uint8)
    pixels[..., 0] = 255  # red, fully transparent on the left half
    pixels[:, 20:, 3] = 255
    Image.fromarray(pixels).save(rgba)
    g = load_image(str(grey), 64)
    assert g.shape == (64, 64, 3) and (g == 90).all()
    r = load_image(str(rgba), 40)
    assert r.shape == (40, 40, 3)
    assert (r[:, 2] == 255).all()  # transparent: composited on white
    assert tuple(r[5, 35]) == (255, 0, 0)


# ----------------------------------------------------------------- bad input
def _png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height: enough for Pillow's pixel-limit check."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def _bad_file(kind: str, tmp_path: Path) -> str:
    path = tmp_path / f"{kind}.png"
    if kind == "missing":
        return str(path)
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "not-an-image":
        path.write_text("this is a text file\n")
    elif kind == "truncated":
        good = tmp_path / "good.png"
        Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)).save(good)
        data = good.read_bytes()
        path.write_bytes(data[:len(data) // 2])
    elif kind == "bomb":  # over twice Pillow's limit: Pillow raises
        path.write_bytes(_png_header(30_000, 30_000))
    elif kind == "bomb-warning":  # between the limit and twice it: Pillow only warns; refused too
        path.write_bytes(_png_header(10_000, 10_000))
    return str(path)


@pytest.mark.parametrize("kind, says", [
    ("missing", "no such file"), ("empty", "empty file"), ("not-an-image", "not an image"),
    ("truncated", "truncated"), ("bomb", "decompression bomb"),
    ("bomb-warning", "decompression bomb"),
])
@pytest.mark.parametrize("plugin", ["style-gatys", "style-fast"])
def test_a_bad_style_image_is_exit_2_before_any_run_directory(plugin, kind, says, tmp_path,
                                                              runs_root, capsys):
    assert main(["run", plugin, f"style={_bad_file(kind, tmp_path)}", "total_steps=1"]) == 2
    err = capsys.readouterr().err
    assert says in err and "style=" in err and "Traceback" not in err
    assert not runs_root.exists()


def test_an_unknown_image_name_lists_the_built_in_ones(runs_root, capsys):
    assert main(["run", "style-gatys", "content=astronautt", "total_steps=1"]) == 2
    err = capsys.readouterr().err
    assert 'Did you mean "astronaut"' in err and "brick" in err and not runs_root.exists()


@pytest.mark.slow
def test_content_option_on_another_plugins_run_is_exit_2(runs_root, capsys):
    assert main(["run", "linreg", "total_steps=5", "log_every=5", "--wandb", "disabled"]) == 0
    capsys.readouterr()
    assert main(["sample", str(_only_run(runs_root)), "--content", "coffee"]) == 2
    assert "--content" in capsys.readouterr().err


# ----------------------------------------------------------------- learning, sampling, export, resume
@pytest.mark.slow
def test_gatys_lowers_its_loss_on_a_tiny_run(runs_root):
    from workbench.engine.loop import load_for_inference

    assert main(["run", "style-gatys", "total_steps=1", *GATYS_TINY]) == 0
    first, _, _ = load_for_inference(_only_run(runs_root))
    start = first.scores()["eval/loss"]
    # the same run continued: 15 more L-BFGS steps
    assert main(["resume", str(_only_run(runs_root)), "total_steps=16"]) == 0
    last, _, _ = load_for_inference(_only_run(runs_root))
    scores = last.scores()
    assert scores["eval/loss"] < 0.6 * start
    assert scores["eval/probe_style"] < first.scores()["eval/probe_style"]


@pytest.mark.slow
@pytest.mark.parametrize("coarse,cut", [(0, 3), (2, 2), (2, 3)])
def test_gatys_resumed_equals_gatys_run_straight_through(coarse, cut, tmp_path, monkeypatch):
    # coarse-to-fine: cut at the last coarse step (saved before the switch) or after it
    from workbench.engine.loop import load_for_inference

    args = [a for a in GATYS_TINY if not a.startswith("image_size")]
    args += [f"image_size={64 if coarse else 48}", f"coarse_steps={coarse}"]
    images = []
    for name, steps in (("straight", [6]), ("resumed", [cut, 6])):
        root = tmp_path / name
        monkeypatch.setenv("WORKBENCH_RUNS", str(root))
        assert main(["run", "style-gatys", f"total_steps={steps[0]}", "precision=fp32",
                     *args]) == 0
        for total in steps[1:]:
            assert main(["resume", str(_only_run(root)), f"total_steps={total}"]) == 0
        plugin, _, step = load_for_inference(_only_run(root))
        assert step == 6
        images.append(plugin.image.detach().clone())
    assert images[0].shape[-1] == (64 if coarse else 48)
    assert torch.allclose(images[0], images[1], atol=1e-5)


@pytest.mark.slow
def test_gatys_coarse_stage_optimises_half_size_and_shows_full_size(runs_root):
    from workbench.engine.loop import load_for_inference

    args = [a for a in GATYS_TINY if not a.startswith("image_size")]
    assert main(["run", "style-gatys", "total_steps=4", "image_size=64", "coarse_steps=4",
                 *args]) == 0
    plugin, _, _ = load_for_inference(_only_run(runs_root))
    assert plugin.image.shape[-2:] == (32, 32) and plugin.output().shape[-2:] == (64, 64)
    start = plugin.scores()["eval/loss"]
    assert main(["resume", str(_only_run(runs_root)), "total_steps=8"]) == 0
    plugin, _, _ = load_for_inference(_only_run(runs_root))
    assert plugin.image.shape[-2:] == (64, 64) and not plugin.coarse
    assert np.isfinite(plugin.scores()["eval/loss"]) and start > 0


@pytest.mark.slow
def test_fast_sample_stylises_a_named_photo_and_export_matches(tmp_path, runs_root, capsys):
    assert main(["run", "style-fast", *FAST_TINY]) == 0
    run = _only_run(runs_root)
    photo = tmp_path / "photo.jpg"
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (60, 100, 3), np.uint8)).save(photo)
    out = tmp_path / "out.png"
    assert main(["sample", str(run), "--content", str(photo), "--size", "80", "--out", str(out)]) == 0
    with Image.open(out) as image:
        assert image.size == (80, 48) and image.mode == "RGB"  # aspect kept, sides multiples of 4
    capsys.readouterr()
    assert main(["sample", str(run), "--content", str(tmp_path / "nope.png")]) == 2
    assert "no such file" in capsys.readouterr().err
    exported = tmp_path / "net.pt"
    assert main(["export", str(run), "--format", "torchscript", "--out", str(exported)]) == 0
    assert "max |export - eager|" in capsys.readouterr().out and exported.is_file()


@pytest.mark.slow
def test_fast_sample_needs_no_style_file_once_trained(tmp_path, runs_root):
    style = tmp_path / "style.png"
    Image.fromarray(np.random.default_rng(2).integers(0, 255, (64, 64, 3), np.uint8)).save(style)
    assert main(["run", "style-fast", f"style={style}", *FAST_TINY]) == 0
    style.unlink()
    out = tmp_path / "out.png"
    assert main(["sample", str(_only_run(runs_root)), "--out", str(out), "--size", "64"]) == 0
    assert out.is_file()


@pytest.mark.slow
def test_fast_network_learns_the_style_on_held_out_photos(runs_root):
    import json

    assert main(["run", "style-fast", "total_steps=60", "eval_every=60", "eval_at_start=true",
                 *[a for a in FAST_TINY if not a.startswith(("total_steps", "eval_every", "width"))],
                 "width=8"]) == 0
    rows = [json.loads(x) for x in (_only_run(runs_root) / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in rows if "eval/loss" in r]
    # measured 0.40-0.46 (style) and 0.49-0.55 (loss) of the start, fp32 and bf16, 60 and 120
    # steps, thread counts apart; an untrained network stays at 1
    assert evals[-1]["eval/style"] < 0.6 * evals[0]["eval/style"]
    assert evals[-1]["eval/loss"] < 0.7 * evals[0]["eval/loss"]

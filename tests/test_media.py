"""Media files: image grids keep uint8 pixels, GIF videos play in real time."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from workbench.errors import UserError
from workbench.media import (
    gif_durations,
    image_grid,
    real_time,
    save_gif,
    save_grid_or_folder,
    to_uint8_image,
)


def test_a_uint8_image_grid_keeps_its_pixel_values():
    pattern = torch.tensor([[0, 64], [128, 255]], dtype=torch.uint8)
    grid = image_grid(pattern.view(1, 1, 2, 2), pad=0)
    assert grid.dtype == np.uint8 and grid.shape == (2, 2, 3)
    np.testing.assert_array_equal(grid[..., 0], pattern.numpy())  # not [0, 255, 255, 255]
    np.testing.assert_array_equal(to_uint8_image(pattern)[..., 0], pattern.numpy())
    floats = torch.tensor([[0.0, 0.25], [0.5, 1.0]])  # floats in [0, 1] still scale to 0..255
    np.testing.assert_array_equal(image_grid(floats.view(1, 1, 2, 2), pad=0)[..., 0],
                                  [[0, 64], [128, 255]])


@pytest.mark.parametrize("fps", [15.0, 7.5, 30.0])
def test_a_gif_plays_at_the_rate_it_was_given(tmp_path, fps):
    frames = np.random.default_rng(0).integers(0, 255, (45, 8, 8, 3), dtype=np.uint8)
    path = save_gif(frames, tmp_path / "v.gif", fps=fps)
    gif = Image.open(path)
    total = 0
    for i in range(gif.n_frames):
        gif.seek(i)
        total += gif.info["duration"]
    assert gif.n_frames == 45 and total == pytest.approx(45 / fps * 1000, abs=10)


def test_real_time_keeps_every_frame_of_a_short_game_and_thins_a_long_one():
    frames = np.zeros((300, 2, 2, 3), np.uint8)
    kept, fps = real_time(frames, 15.0)  # Atari at frame_skip 4: 60 / 4 agent steps a second
    assert len(kept) == 300 and fps == 15.0
    kept, fps = real_time(np.zeros((2500, 2, 2, 3), np.uint8), 15.0)
    assert len(kept) <= 1000 and len(kept) / fps == pytest.approx(2500 / 15.0, rel=0.01)
    assert sum(gif_durations(300, 15.0)) == 20_000  # 300 frames at 15 fps: 20 s exactly


def test_sample_out_is_a_grid_for_an_image_suffix_and_a_folder_of_pngs_otherwise(tmp_path):
    images = np.stack([np.full((1, 5, 5), v, np.uint8) for v in (10, 20, 30)])
    assert save_grid_or_folder(images, tmp_path / "grid.png", "sample") is True
    assert Image.open(tmp_path / "grid.png").size == (2 * 7 + 2, 2 * 7 + 2)  # 2x2 tiles, padded
    assert save_grid_or_folder(images, tmp_path / "singles", "sample") is False
    files = sorted(p.name for p in (tmp_path / "singles").iterdir())
    assert files == ["sample_0000.png", "sample_0001.png", "sample_0002.png"]
    assert np.asarray(Image.open(tmp_path / "singles" / "sample_0002.png")).max() == 30


def test_sample_out_naming_an_existing_file_is_a_user_error_that_keeps_the_file(tmp_path):
    notes = tmp_path / "notes"
    notes.write_text("mine")
    with pytest.raises(UserError, match="--out names .*notes, but it is a file, not a folder"):
        save_grid_or_folder(np.zeros((2, 1, 4, 4), np.uint8), notes, "sample")
    with pytest.raises(UserError, match="on its path, is a file"):
        save_grid_or_folder(np.zeros((2, 1, 4, 4), np.uint8), notes / "grid.png", "sample")
    assert notes.read_text() == "mine"

"""The shared image-data layer: shapes, fixed disjoint splits, conversions, clear errors."""

from __future__ import annotations

import gzip
import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from workbench.data.images import load_images
from workbench.errors import UserError


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "cache"))


@pytest.mark.parametrize("source, n_all, size", [("mnist", 5000, 28), ("digits", 1797, 8)])
def test_offline_sources_give_uint8_nchw_with_disjoint_splits_covering_everything(source, n_all, size):
    parts = {split: load_images(source, split) for split in ("train", "val", "test")}
    everything = load_images(source, "all")
    assert everything.images.shape == (n_all, 1, size, size)
    assert everything.images.dtype == torch.uint8 and everything.labels.dtype == torch.int64
    assert everything.classes == [str(i) for i in range(10)]
    indices = [set(p.index.tolist()) for p in parts.values()]
    assert sum(len(i) for i in indices) == n_all
    assert set.union(*indices) == set(range(n_all))
    assert not (indices[0] & indices[1]) and not (indices[0] & indices[2]) and not (indices[1] & indices[2])
    # the split's images are the images of "all" at its index
    test = parts["test"]
    assert torch.equal(test.images, everything.images[test.index])
    assert torch.equal(test.labels, everything.labels[test.index])
    # stratified: every class in every split; shuffled: the first images already mix classes
    assert (test.labels.bincount(minlength=10) > 0).all()
    assert len(set(test.labels[:40].tolist())) >= 5


def test_splits_are_a_function_of_the_seed():
    a = load_images("mnist", "test", seed=0).index
    b = load_images("mnist", "test", seed=0).index
    c = load_images("mnist", "test", seed=1).index
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_resize_and_channel_conversion():
    s = load_images("digits", "val", image_size=32, channels=3)
    assert s.images.shape[1:] == (3, 32, 32) and s.images.dtype == torch.uint8
    assert torch.equal(s.images[:, 0], s.images[:, 2])  # gray -> RGB repeats the plane
    assert s.images.max() > 200  # 16 gray levels were mapped to 0..255
    m = load_images("mnist", "val", image_size=32)
    assert m.images.shape[1:] == (1, 32, 32)
    back = load_images("digits", "val", image_size=32, channels=3)
    from workbench.data.images import convert_channels

    assert torch.equal(convert_channels(back.images, 1), load_images("digits", "val", image_size=32).images)


def _write_png(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def test_image_folder_with_class_subfolders(tmp_path):
    rng = np.random.default_rng(0)
    for cls in ("cat", "dog"):
        for i in range(10):
            _write_png(tmp_path / "pics" / cls / f"{i}.png", rng.integers(0, 255, (12, 10, 3), np.uint8))
    (tmp_path / "pics" / "notes.txt").write_text("not an image")
    s = load_images("folder", "all", path=str(tmp_path / "pics"))
    assert s.classes == ["cat", "dog"]
    assert s.images.shape == (20, 3, 12, 10)
    assert s.labels.tolist() == [0] * 10 + [1] * 10
    small = load_images("folder", "train", path=str(tmp_path / "pics"), image_size=8, channels=1)
    assert small.images.shape == (16, 1, 8, 8)


def test_flat_folder_is_one_class_and_different_sizes_need_image_size(tmp_path):
    _write_png(tmp_path / "flat" / "a.png", np.zeros((8, 8), np.uint8))
    _write_png(tmp_path / "flat" / "b.png", np.full((16, 16), 255, np.uint8))
    with pytest.raises(UserError, match="image_size"):
        load_images("folder", "all", path=str(tmp_path / "flat"))
    s = load_images("folder", "all", path=str(tmp_path / "flat"), image_size=4)
    assert s.classes == ["flat"] and s.images.shape == (2, 1, 4, 4)
    assert s.images[0].max() == 0 and s.images[1].min() == 255


@pytest.mark.parametrize("source", ["folder", "cifar10", "mnist"])
def test_a_wrong_data_path_is_a_clear_error_naming_it(tmp_path, source):
    missing = tmp_path / "no-such-dir"
    with pytest.raises(UserError, match="no-such-dir"):
        load_images(source, "train", path=str(missing))


def test_an_empty_folder_is_a_clear_error(tmp_path):
    (tmp_path / "empty" / "cls").mkdir(parents=True)
    with pytest.raises(UserError, match="holds no images"):
        load_images("folder", "train", path=str(tmp_path / "empty"))


def test_cifar10_without_a_path_says_how_to_get_it():
    with pytest.raises(UserError, match="cifar-10-python.tar.gz"):
        load_images("cifar10", "train")


def test_bad_source_or_split_names_the_allowed_values():
    with pytest.raises(UserError, match="mnist, digits, cifar10, folder"):
        load_images("imagenet", "train")
    with pytest.raises(UserError, match="train, val, test, all"):
        load_images("mnist", "training")


def write_fake_cifar10(root, per_batch=20, seed=0):
    """The CIFAR-10 python-version layout with random pixels (tests only)."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 255, (per_batch, 3072), np.uint8),
                 b"labels": [int(i % 10) for i in range(per_batch)]}
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f)
    names = [n.encode() for n in ("airplane automobile bird cat deer dog frog horse ship truck").split()]
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": names}, f)
    return root


def test_cifar10_batches_keep_the_official_test_set(tmp_path):
    root = write_fake_cifar10(tmp_path / "cifar")
    test = load_images("cifar10", "test", path=str(root))
    train = load_images("cifar10", "train", path=str(root))
    val = load_images("cifar10", "val", path=str(root))
    assert test.images.shape == (20, 3, 32, 32)
    assert len(train) + len(val) == 100 and len(val) == 10
    assert test.classes[0] == "airplane"
    assert test.index.min() >= 100


def test_full_mnist_idx_files_are_read_when_present(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)

    def idx(file, array, gz):
        head = bytes([0, 0, 8, array.ndim]) + np.asarray(array.shape, ">i4").tobytes()
        (gzip.open if gz else open)(file, "wb").write(head + array.astype(np.uint8).tobytes())

    idx(raw / "train-images-idx3-ubyte.gz", rng.integers(0, 255, (100, 28, 28)), True)
    idx(raw / "train-labels-idx1-ubyte", np.arange(100) % 10, False)
    idx(raw / "t10k-images-idx3-ubyte", rng.integers(0, 255, (20, 28, 28)), False)
    idx(raw / "t10k-labels-idx1-ubyte", np.arange(20) % 10, False)
    s = load_images("mnist", "test", path=str(tmp_path))
    assert s.images.shape == (20, 1, 28, 28) and "full MNIST" in s.description
    assert len(load_images("mnist", "train", path=str(tmp_path))) == 90


def test_a_file_pillow_cannot_read_is_skipped_with_its_label(tmp_path, monkeypatch):
    from PIL import Image

    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "cache"))
    for cls in ("a", "b"):
        (tmp_path / "imgs" / cls).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(np.full((8, 8), 40 * i, np.uint8)).save(tmp_path / "imgs" / cls / f"{i}.png")
    (tmp_path / "imgs" / "a" / "broken.png").write_bytes(b"not an image at all")
    data = load_images("folder", "all", path=str(tmp_path / "imgs"))
    assert len(data.images) == 6 and sorted(data.labels.tolist()) == [0, 0, 0, 1, 1, 1]
    (tmp_path / "only").mkdir()
    (tmp_path / "only" / "x.png").write_bytes(b"junk")
    with pytest.raises(UserError, match="could be read"):
        load_images("folder", "all", path=str(tmp_path / "only"))

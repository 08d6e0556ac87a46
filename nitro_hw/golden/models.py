"""NITRO-D local-loss models (spec §3.4-§3.6) and :func:`build_model`.

``reference_compat=True`` (default) reproduces every (R) item of spec §9; ``False`` fixes A1
(single classifier update in CNNs), A2 (the intended conv amp) and A3 (−∞ decoder-pool padding).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .blocks import LocalConv2dBlock, LocalLinearBlock, TraceFn, argmax_hits, rss_error
from .intmath import new_overflow_counter
from .layers import Dropout, IntegerConv2d, IntegerLinear, MaxPool2d, NitroScaling
from .optim import check_positive_int
from .zoo import ModelConfig


@dataclass
class StepStats:
    """Statistics of one training step.

    Attributes
    ----------
    correct : int
        Argmax hits of the output layer (training mode).
    batch : int
        Batch size.
    overflow : dict
        ``{point: count}`` of values that wrapped at the four int32 points.
    loss : int
        Exact RSS ``sum((y_hat - y)^2)`` of the output layer (int64, no int8 wrap; the reference's
        int8 loss metric is meaningless, §9 B5).
    head_correct : dict
        Argmax hits of each block's local head (last pass wins, as in the reference).
    """

    correct: int
    batch: int
    overflow: dict[str, int]
    loss: int = 0
    head_correct: dict[str, int] = field(default_factory=dict)

    @property
    def accuracy(self) -> float:
        """``correct / batch``."""
        return self.correct / self.batch if self.batch else 0.0


class _OutputLayer:
    """Output layer: IntegerLinear(F_last -> K) + NITRO-Scaling, trained on the global error (§3.4)."""

    name = "output"

    def __init__(self, in_features: int, num_classes: int, rng, init: str, subnet_decay_inv: int) -> None:
        self.linear = IntegerLinear(in_features, num_classes, rng, init, 1, subnet_decay_inv, False)
        self.scaling = NitroScaling(in_features)


class LocalLossModel:
    """Common training / inference logic of :class:`IntegerLocalLossMLP` and :class:`IntegerLocalLossCNN`."""

    config: ModelConfig
    reference_compat: bool
    feature_extractor: list  # LocalConv2dBlock | MaxPool2d | Dropout
    conv_blocks: list[LocalConv2dBlock]
    classifier: list[tuple[LocalLinearBlock, Dropout | None]]
    output: _OutputLayer

    # ------------------------------------------------------------------ input checks
    def _check_x(self, x) -> np.ndarray:
        if not isinstance(x, np.ndarray):
            raise TypeError(f"x must be a numpy array, got {type(x).__name__}")
        if x.dtype != np.int8:
            raise TypeError(f"x must be int8, got {x.dtype}")
        shape = tuple(self.config.input_shape)
        if x.ndim == 4 and x.shape[1:] == shape:
            pass
        elif x.ndim == 2 and self.config.kind == "mlp" and x.shape[1] == self.config.input_features:
            pass
        else:
            want = f"[B, {', '.join(map(str, shape))}]"
            if self.config.kind == "mlp":
                want += f" or [B, {self.config.input_features}]"
            raise ValueError(f"x has shape {x.shape}, expected {want}")
        if x.shape[0] == 0:
            raise ValueError("x must hold at least one sample")
        return x

    def _check_y(self, y, batch: int) -> np.ndarray:
        if not isinstance(y, np.ndarray) or y.dtype != np.int8:
            raise TypeError(f"y must be an int8 numpy array, got {getattr(y, 'dtype', type(y).__name__)}")
        if y.shape != (batch, self.config.num_classes):
            raise ValueError(f"y has shape {y.shape}, expected {(batch, self.config.num_classes)}")
        return y

    # ------------------------------------------------------------------ forward
    def _forward(self, x, training: bool, rng, counter, trace) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        a = x
        if self.config.kind == "cnn":
            for layer in self.feature_extractor:
                if isinstance(layer, LocalConv2dBlock):
                    a = layer.forward(a, training, counter, trace)
                elif isinstance(layer, MaxPool2d):
                    a = layer.forward(a)
                else:
                    a = layer.forward(a, training, rng)
        a = a.reshape(a.shape[0], -1)
        for block, drop in self.classifier:
            a = block.forward(a, training, counter, trace)
            if drop is not None:
                a = drop.forward(a, training, rng)
        z = self.output.linear.forward(a, counter, store=training)
        y_hat = self.output.scaling.forward(z)
        if trace is not None:
            for n, v in (("x", a), ("z", z), ("y_hat", y_hat)):
                trace("output", "forward", n, v)
        return a, z, y_hat

    def _needs_rng(self) -> bool:
        return any(isinstance(layer, Dropout) for layer in self.feature_extractor) or any(
            d is not None for _, d in self.classifier
        )

    def forward_logits(self, x: np.ndarray) -> np.ndarray:
        """Eval-mode int8 output logits ``[B, K]`` (dropout off, local heads unused)."""
        x = self._check_x(x)
        return self._forward(x, False, None, None, None)[2]

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Eval-mode class predictions (argmax of the int8 logits, first index on ties), int64 ``[B]``."""
        return np.argmax(self.forward_logits(x), axis=1)

    # ------------------------------------------------------------------ training
    def train_step(
        self,
        x: np.ndarray,
        y: np.ndarray,
        lr_inv: int,
        rng: np.random.RandomState | None = None,
        trace: TraceFn | None = None,
    ) -> StepStats:
        """One training step in the exact order of spec §3.6 (augmentation is the caller's job).

        Parameters
        ----------
        x : numpy.ndarray of int8
            ``[B, C, H, W]`` (or ``[B, C*H*W]`` for an MLP).
        y : numpy.ndarray of int8
            One-hot targets times 32, ``[B, K]``.
        lr_inv : int
            Inverse learning rate (> 0).
        rng : numpy.random.RandomState, optional
            Dropout masks are drawn from it in layer order; required when the model has dropout.
        trace : callable, optional
            ``trace(block, phase, name, value)`` (see :mod:`nitro_hw.golden.trace_names`).

        Returns
        -------
        StepStats
        """
        x = self._check_x(x)
        y = self._check_y(y, x.shape[0])
        lr_inv = check_positive_int(lr_inv, "lr_inv")
        if self._needs_rng() and not isinstance(rng, np.random.RandomState):
            raise TypeError("this model has dropout: rng must be a numpy.random.RandomState")
        counter = new_overflow_counter()
        x_out, _, y_hat = self._forward(x, True, rng, counter, trace)
        correct = argmax_hits(y_hat, y)
        loss = int(np.sum((y_hat.astype(np.int64) - y.astype(np.int64)) ** 2))
        e = rss_error(y_hat, y)
        r = self.output.linear.backward(e, lr_inv, counter)
        if trace is not None:
            trace("output", "output_update", "e", e)
            trace("output", "output_update", "grad", r.grad)
            trace("output", "output_update", "update", r.update)
            trace("output", "output_update", "weights", r.weight)
        head_correct: dict[str, int] = {}
        for block, _ in reversed(self.classifier):
            head_correct[block.name] = block.local_update(y, lr_inv, counter, trace)
        if self.config.kind == "cnn":
            if self.reference_compat:  # §9 A1: the classifier blocks are updated a second time
                for block, _ in reversed(self.classifier):
                    head_correct[block.name] = block.local_update(y, lr_inv, counter, trace)
            for block in reversed(self.conv_blocks):
                head_correct[block.name] = block.local_update(y, lr_inv, counter, trace)
        return StepStats(correct, x.shape[0], counter, loss, head_correct)

    # ------------------------------------------------------------------ parameters
    def _parameter_layers(self) -> dict[str, IntegerLinear | IntegerConv2d]:
        layers: dict[str, IntegerLinear | IntegerConv2d] = {}
        for block in self.conv_blocks:
            layers.update(block.parameter_layers())
        for block, _ in self.classifier:
            layers.update(block.parameter_layers())
        layers["output"] = self.output.linear
        return layers

    def parameter_names(self) -> tuple[str, ...]:
        """Parameter names in construction (RNG draw) order."""
        return tuple(self._parameter_layers())

    def parameters(self) -> dict[str, np.ndarray]:
        """Copies of all weights (int32), keyed by stable names, in construction order."""
        return {n: layer.weight.copy() for n, layer in self._parameter_layers().items()}

    def num_parameters(self) -> int:
        """Total number of weights, local heads included."""
        return sum(layer.weight.size for layer in self._parameter_layers().values())

    def set_parameters(self, params: dict[str, np.ndarray]) -> None:
        """Replace all weights (copied); names, shapes and dtype int32 are validated.

        Raises
        ------
        ValueError
            On missing or unknown names, or a shape mismatch.
        TypeError
            On a non-int32 array.
        """
        layers = self._parameter_layers()
        missing, unknown = set(layers) - set(params), set(params) - set(layers)
        if missing or unknown:
            raise ValueError(f"set_parameters: missing {sorted(missing)}, unknown {sorted(unknown)}")
        for n, layer in layers.items():
            v = params[n]
            if not isinstance(v, np.ndarray) or v.dtype != np.int32:
                got = getattr(v, "dtype", type(v))
                raise TypeError(f"set_parameters: {n} must be an int32 array, got {got}")
            if v.shape != layer.weight.shape:
                raise ValueError(f"set_parameters: {n} has shape {v.shape}, expected {layer.weight.shape}")
        for n, layer in layers.items():
            layer.weight = params[n].copy()

    @property
    def blocks(self) -> list:
        """All local-loss blocks: conv blocks, then classifier blocks."""
        return list(self.conv_blocks) + [b for b, _ in self.classifier]


def _classifier(cfg: ModelConfig, in_features: int, hidden, rng, first: int = 0):
    blocks: list[tuple[LocalLinearBlock, Dropout | None]] = []
    f = in_features
    for i, h in enumerate(hidden):
        block = LocalLinearBlock(
            f"block{first + i}", f, h, cfg.num_classes, rng, cfg.alpha, cfg.fwd_decay_inv,
            cfg.subnet_decay_inv, cfg.lr_amp_factor, cfg.init,
        )  # fmt: skip
        blocks.append((block, Dropout(cfg.fc_dropout) if cfg.fc_dropout > 0 else None))
        f = h
    return blocks, f


class IntegerLocalLossMLP(LocalLossModel):
    """Flatten -> [LocalLinearBlock (-> Dropout)] per hidden size -> output layer (spec §3.5).

    Parameters
    ----------
    config : ModelConfig
        A ``kind == "mlp"`` config.
    rng : numpy.random.RandomState
        Draws the weights in spec §5.2 order.
    reference_compat : bool
        Accepted for symmetry (the MLP path has no compat-dependent behaviour).
    """

    def __init__(
        self, config: ModelConfig, rng: np.random.RandomState, reference_compat: bool = True
    ) -> None:
        if config.kind != "mlp":
            raise ValueError(f"IntegerLocalLossMLP needs an 'mlp' config, got {config.kind!r}")
        self.config, self.reference_compat = config, reference_compat
        self.feature_extractor, self.conv_blocks = [], []
        self.classifier, f = _classifier(config, config.input_features, config.hidden, rng)
        self.output = _OutputLayer(f, config.num_classes, rng, config.init, config.subnet_decay_inv)


class IntegerLocalLossCNN(LocalLossModel):
    """Conv feature extractor of LocalConv2dBlocks and pools, then an MLP classifier (spec §3.5).

    Parameters
    ----------
    config : ModelConfig
        A ``kind == "cnn"`` config.
    rng : numpy.random.RandomState
        Draws the weights in spec §5.2 order.
    reference_compat : bool
        See the module docstring.
    """

    def __init__(
        self, config: ModelConfig, rng: np.random.RandomState, reference_compat: bool = True
    ) -> None:
        if config.kind != "cnn":
            raise ValueError(f"IntegerLocalLossCNN needs a 'cnn' config, got {config.kind!r}")
        self.config, self.reference_compat = config, reference_compat
        c, h, w = config.input_shape
        if h != w:
            raise ValueError(f"CNN input must be square, got {h}x{w}")
        d = h
        fe: list = []
        self.conv_blocks = []
        for idx, spec in enumerate(config.arch):
            if spec[0] == "conv":
                _, c_out, k, stride, pad = spec
                block = LocalConv2dBlock(
                    f"conv{idx}", c, c_out, k, pad, d, config.num_classes, rng, config.pred_decoder_dim,
                    config.alpha, config.fwd_decay_inv, config.subnet_decay_inv, config.lr_amp_factor,
                    config.init, stride, reference_compat,
                )  # fmt: skip
                fe.append(block)
                self.conv_blocks.append(block)
                c, d = c_out, block.out_size
                if config.fe_dropout > 0:
                    fe.append(Dropout(config.fe_dropout))
            else:
                _, k, stride = spec
                if stride != k:
                    raise ValueError(f"maxpool stride must equal its kernel, got {spec}")
                fe.append(MaxPool2d(k))
                d = d // k
                if d <= 0:
                    raise ValueError(f"arch entry {idx} {spec} reduces the feature map to nothing")
        if config.fe_dropout == 0 and config.fc_dropout > 0:
            fe.insert(len(fe) - 1, Dropout(config.fc_dropout))
        self.feature_extractor = fe
        self.feature_size = c * d * d
        self.classifier, f = _classifier(config, self.feature_size, config.fc_hidden, rng)
        self.output = _OutputLayer(f, config.num_classes, rng, config.init, config.subnet_decay_inv)


def build_model(
    config: ModelConfig, rng: np.random.RandomState, reference_compat: bool = True
) -> IntegerLocalLossMLP | IntegerLocalLossCNN:
    """Build the model of ``config``, drawing its initial weights from ``rng`` (spec §5.2 order).

    Parameters
    ----------
    config : ModelConfig
        A zoo config (:func:`nitro_hw.golden.zoo.get_config`) or a custom one.
    rng : numpy.random.RandomState
        Legacy RNG (``RandomState(seed)`` gives the stream of ``np.random.seed(seed)``).
    reference_compat : bool
        Reproduce the reference's quirks (spec §9); default True.

    Returns
    -------
    IntegerLocalLossMLP or IntegerLocalLossCNN
    """
    if not isinstance(config, ModelConfig):
        raise TypeError(f"config must be a ModelConfig, got {type(config).__name__}")
    if not isinstance(rng, np.random.RandomState):
        raise TypeError(f"rng must be a numpy.random.RandomState, got {type(rng).__name__}")
    if config.kind == "mlp":
        return IntegerLocalLossMLP(config, rng, reference_compat)
    return IntegerLocalLossCNN(config, rng, reference_compat)

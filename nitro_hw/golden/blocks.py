"""Local-loss blocks (spec §3.1-§3.3): encoder + learning head, trained by a local RSS loss.

Trace hook signature: ``trace(block: str, phase: str, name: str, value: numpy.ndarray)``; the
(phase, name) pairs are listed in :mod:`nitro_hw.golden.trace_names`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .layers import IntegerConv2d, IntegerLinear, MaxPool2d, NitroRelu, NitroScaling
from .primitives import wrap8

TraceFn = Callable[[str, str, str, np.ndarray], None]


def rss_error(y_hat: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Error of the RSS loss without the factor 2: ``wrap8(y_hat - y)`` as int8 (spec §3.3)."""
    return wrap8(y_hat.astype(np.int16) - y.astype(np.int16))


def argmax_hits(y_hat: np.ndarray, y: np.ndarray) -> int:
    """Number of rows where ``argmax(y_hat) == argmax(y)`` (first index on ties)."""
    return int(np.count_nonzero(np.argmax(y_hat, axis=1) == np.argmax(y, axis=1)))


@dataclass(frozen=True)
class DecoderPool:
    """Decoder max-pool of a conv block's learning head (spec §3.2); ``kernel == (1, 1)`` means none.

    Attributes
    ----------
    kernel : (int, int)
        ``(ks_h, ks_w)``, also the stride.
    padding : (int, int)
        ``(pad_h, pad_w)``.
    out_hw : (int, int)
        ``(D_h, D_w)`` of the sizing loop (equal to the pool's output size).
    d_dec : int
        Flattened head input size ``C_out * D_h * D_w``.
    """

    kernel: tuple[int, int]
    padding: tuple[int, int]
    out_hw: tuple[int, int]
    d_dec: int

    @property
    def used(self) -> bool:
        """Whether a pool is inserted."""
        return self.kernel != (1, 1)


def decoder_pool_size(channels: int, d: int, budget: int) -> DecoderPool:
    """The decoder-pool sizing rule of spec §3.2 for ``channels`` maps of size ``d x d``.

    Parameters
    ----------
    channels : int
        Encoder output channels ``C_out``.
    d : int
        Encoder output spatial size ``D``.
    budget : int
        ``pred_decoder_dim`` (``T``).

    Returns
    -------
    DecoderPool
    """
    if channels <= 0 or d <= 0 or budget <= 0:
        raise ValueError(f"channels, d and budget must be positive, got {channels}, {d}, {budget}")
    ks_h = ks_w = 1
    d_h = d_w = d
    n = channels * d * d
    while n > budget and ks_h < d:
        ks_h *= 2
        d_h = -(-d // ks_h)
        n = channels * d_h * d_w
        if n > budget:
            ks_w *= 2
            d_w = -(-d // ks_w)
            n = channels * d_h * d_w
    pad = (0, 0)
    if ks_h > 1 or ks_w > 1:
        pad = ((ks_h * (d_h - d // ks_h)) // 2, (ks_w * (d_w - d // ks_w)) // 2)
    return DecoderPool((ks_h, ks_w), pad, (d_h, d_w), n)


class _LocalBlock:
    """Shared local-update logic; subclasses build ``encoder``, ``pool`` (or None) and ``head``."""

    name: str
    encoder: IntegerLinear | IntegerConv2d
    scaling: NitroScaling
    act: NitroRelu
    pool: MaxPool2d | None
    head: IntegerLinear
    head_scaling: NitroScaling

    def _init_common(self, num_classes: int, alpha: int) -> None:
        self.num_classes = int(num_classes)
        self.act = NitroRelu(alpha)
        self.h: np.ndarray | None = None

    def forward(
        self, x: np.ndarray, training: bool = False, counter: dict | None = None, trace: TraceFn | None = None
    ) -> np.ndarray:
        """Encoder forward ``h = relu(scaling(encoder(x)))`` (int8); stores ``x, s, h`` in training."""
        z = self.encoder.forward(x, counter, store=training)
        s = self.scaling.forward(z)
        h = self.act.forward(s, store=training)
        if training:
            self.h = h
        if trace is not None:
            for n, v in (("x", x), ("z", z), ("s", s), ("h", h)):
                trace(self.name, "forward", n, v)
        return h

    def local_update(
        self, y: np.ndarray, lr_inv: int, counter: dict | None = None, trace: TraceFn | None = None
    ) -> int:
        """One local update (spec §3.3) from the stored forward state; returns the head's argmax hits."""
        if self.h is None:
            raise RuntimeError(f"{self.name}: local_update called before a training-mode forward")
        h = self.h
        p = self.pool.forward(h, store=True) if self.pool is not None else h
        f = p.reshape(p.shape[0], -1)
        y_hat = self.head_scaling.forward(self.head.forward(f, counter, store=True))
        e = rss_error(y_hat, y)
        r = self.head.backward(e, lr_inv, counter)
        if trace is not None:
            if self.pool is not None:
                trace(self.name, "head", "pool", p)
            trace(self.name, "head", "y_hat", y_hat)
            trace(self.name, "head", "e", e)
            trace(self.name, "head", "back_error", r.d_in)
            trace(self.name, "head_update", "grad", r.grad)
            trace(self.name, "head_update", "update", r.update)
            trace(self.name, "head_update", "weights", r.weight)
        if self.pool is not None:
            # NITRO-ReLU backward maps 0 to 0, so it is applied in the pooled domain (only the argmax
            # cells carry an error) and then routed: identical to routing first, 16-64x less work.
            d_p = r.d_in.reshape(p.shape)
            if trace is not None:
                trace(self.name, "encoder_update", "d_h", self.pool.backward(d_p))
            s_at_max = self.pool.gather(self.act.s)
            d_s = self.pool.backward(self.act.backward_at(self.scaling.backward(d_p), s_at_max))
        else:
            d_s = self.act.backward(self.scaling.backward(r.d_in.reshape(h.shape)))
        u = self.encoder.backward(d_s, lr_inv, counter)
        if trace is not None:
            trace(self.name, "encoder_update", "d_s", d_s)
            trace(self.name, "encoder_update", "grad", u.grad)
            trace(self.name, "encoder_update", "update", u.update)
            trace(self.name, "encoder_update", "weights", u.weight)
        return argmax_hits(y_hat, y)

    def parameter_layers(self) -> dict[str, IntegerLinear | IntegerConv2d]:
        """``{"<name>.encoder": layer, "<name>.head": layer}``."""
        return {f"{self.name}.encoder": self.encoder, f"{self.name}.head": self.head}


class LocalLinearBlock(_LocalBlock):
    """IntegerLinear -> NITRO-Scaling -> NITRO-ReLU, with a linear learning head (spec §3.1).

    Parameters
    ----------
    name : str
        Block name for parameters and traces (``block<i>``).
    in_features, out_features, num_classes : int
        Sizes.
    rng : numpy.random.RandomState
        Draws the encoder weights, then the head weights.
    alpha : int
        NITRO-ReLU inverse slope.
    fwd_decay_inv, subnet_decay_inv : int
        Decay of the encoder / head.
    lr_amp_factor : int
        Encoder amp (the head uses 1).
    init : str
        Init scheme.
    """

    def __init__(
        self,
        name: str,
        in_features: int,
        out_features: int,
        num_classes: int,
        rng: np.random.RandomState | None,
        alpha: int = 4,
        fwd_decay_inv: int = 0,
        subnet_decay_inv: int = 0,
        lr_amp_factor: int = 640,
        init: str = "uniform_kaiming_leaky_relu",
    ) -> None:
        self.name = name
        self.encoder = IntegerLinear(in_features, out_features, rng, init, lr_amp_factor, fwd_decay_inv)
        self.scaling = NitroScaling(in_features)
        self.pool = None
        self.head = IntegerLinear(out_features, num_classes, rng, init, 1, subnet_decay_inv, True)
        self.head_scaling = NitroScaling(out_features)
        self.d_dec = out_features
        self._init_common(num_classes, alpha)


class LocalConv2dBlock(_LocalBlock):
    """IntegerConv2d -> NITRO-Scaling -> NITRO-ReLU, head [MaxPool] -> Flatten -> Linear (spec §3.2).

    Parameters
    ----------
    name : str
        Block name (``conv<i>``, the reference's layer index).
    in_channels, out_channels, kernel_size, padding : int
        Convolution (stride 1).
    in_size : int
        Spatial input size ``D_in`` (square).
    num_classes : int
        ``K``.
    rng : numpy.random.RandomState
        Draws the encoder weights, then the head weights.
    pred_decoder_dim : int
        Decoder budget ``T``.
    alpha, fwd_decay_inv, subnet_decay_inv, lr_amp_factor, init
        As for :class:`LocalLinearBlock`.
    reference_compat : bool
        True: zero-padded decoder pool and encoder amp ``lr_amp_factor`` (§9 A2, A3). False: −∞
        padding and the intended amp ``lr_amp_factor * (D*D // (ks_h*ks_w))``.
    """

    def __init__(
        self,
        name: str,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        padding: int,
        in_size: int,
        num_classes: int,
        rng: np.random.RandomState | None,
        pred_decoder_dim: int = 4096,
        alpha: int = 4,
        fwd_decay_inv: int = 0,
        subnet_decay_inv: int = 0,
        lr_amp_factor: int = 640,
        init: str = "uniform_kaiming_leaky_relu",
        stride: int = 1,
        reference_compat: bool = True,
    ) -> None:
        self.name = name
        self.out_size = in_size + 2 * padding - kernel_size + 1
        if self.out_size <= 0:
            raise ValueError(f"{name}: input size {in_size} too small for kernel {kernel_size}")
        sizing = decoder_pool_size(out_channels, self.out_size, pred_decoder_dim)
        amp = lr_amp_factor
        if not reference_compat:
            amp = lr_amp_factor * max(1, self.out_size**2 // (sizing.kernel[0] * sizing.kernel[1]))
        self.encoder = IntegerConv2d(
            in_channels, out_channels, kernel_size, padding, stride, rng, init, amp, fwd_decay_inv
        )
        self.scaling = NitroScaling(self.encoder.fan_in)
        self.pool = None
        if sizing.used:
            self.pool = MaxPool2d(sizing.kernel, sizing.padding, "zero" if reference_compat else "neg_inf")
            oh, ow = self.pool.output_size(self.out_size, self.out_size)
            if (oh, ow) != sizing.out_hw:  # the rule guarantees this; keep it checked
                raise AssertionError(f"{name}: pool output {(oh, ow)} != sizing {sizing.out_hw}")
        self.sizing = sizing
        self.d_dec = sizing.d_dec
        self.head = IntegerLinear(self.d_dec, num_classes, rng, init, 1, subnet_decay_inv, True)
        self.head_scaling = NitroScaling(self.d_dec)
        self._init_common(num_classes, alpha)

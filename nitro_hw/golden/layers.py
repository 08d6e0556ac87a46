"""Integer layers of NITRO-D: forward and backward exactly as spec §2.

Layers keep what their backward pass needs from the last training-mode forward call. They never
modify arrays in place: every forward/backward returns new arrays and weight updates replace
``layer.weight`` by a new array, so arrays handed to a trace hook stay valid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .init import init_weights
from .intmath import (
    conv2d_weight_grad_exact,
    conv2d_wrap32,
    matmul_wrap32,
    max_abs,
    tdiv_const,
    wrap32_counted,
)
from .optim import IntegerSGD
from .primitives import INT32_MAX, SCALING_CLIP

NITRO_RELU_MEAN = {3: 31, 4: 36, 5: 38, 7: 40, 8: 42, 10: 43, 15: 44, 16: 44, 20: 45}
"""Mean correction ``c(alpha)`` of NITRO-ReLU (spec §2.4)."""

DROPOUT_RESCALE = {
    5: 1052, 10: 1111, 15: 1176, 20: 1250, 25: 1333, 30: 1428, 35: 1538, 40: 1666, 45: 1818,
    50: 2000, 55: 2222, 60: 2500, 65: 2857, 70: 3333, 75: 4000, 80: 5000, 85: 6666, 90: 10000, 95: 20000,
}  # fmt: skip
"""Dropout rescale ``floor(1000/(1-p))`` keyed by ``100*p`` (spec §2.8)."""

_ACT_DTYPES = (np.int8, np.int16)


def _check_int_array(x, name: str, ndim: int, dtypes=_ACT_DTYPES) -> np.ndarray:
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(x).__name__}")
    if x.dtype not in dtypes:
        names = "/".join(np.dtype(d).name for d in dtypes)
        raise TypeError(f"{name} must have dtype {names}, got {x.dtype}")
    if x.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {x.shape}")
    return x


@dataclass(frozen=True)
class UpdateResult:
    """Result of a trainable layer's backward pass.

    Attributes
    ----------
    d_in : numpy.ndarray or None
        Input error (int32), computed with the pre-update weights; None unless propagated.
    grad : numpy.ndarray
        Weight gradient, wrapped to int32.
    update : numpy.ndarray
        The SGD update ``U`` (int32).
    weight : numpy.ndarray
        The new weights (int32).
    """

    d_in: np.ndarray | None
    grad: np.ndarray
    update: np.ndarray
    weight: np.ndarray


class IntegerLinear:
    """Bias-free integer linear layer ``z = wrap32(x @ W.T)`` with ``W[out, in]`` int32 (spec §2.1).

    Parameters
    ----------
    in_features, out_features : int
        Layer sizes.
    rng : numpy.random.RandomState, optional
        Draws the initial weights with ``init`` (zeros when None).
    init : str
        Init scheme (:mod:`nitro_hw.golden.init`).
    amp, decay_inv : int
        IntegerSGD parameters.
    propagate_backward : bool
        Whether the backward pass computes the input error ``delta @ W``.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        rng: np.random.RandomState | None = None,
        init: str = "uniform_kaiming_leaky_relu",
        amp: int = 1,
        decay_inv: int = 0,
        propagate_backward: bool = False,
    ) -> None:
        if in_features <= 0 or out_features <= 0:
            raise ValueError(f"in_features/out_features must be positive, got {in_features}, {out_features}")
        self.in_features, self.out_features = int(in_features), int(out_features)
        shape = (self.out_features, self.in_features)
        self.weight = (
            np.zeros(shape, np.int32)
            if rng is None
            else init_weights(shape, init, self.in_features, self.out_features, rng)
        )
        self.optimizer = IntegerSGD(amp, decay_inv)
        self.propagate_backward = propagate_backward
        self.x: np.ndarray | None = None

    def forward(self, x: np.ndarray, counter: dict | None = None, store: bool = False) -> np.ndarray:
        """Pre-activation ``wrap32(x @ W.T)`` (int32) for int8/int16 ``x[B, in]``."""
        _check_int_array(x, "x", 2)
        if x.shape[1] != self.in_features:
            raise ValueError(f"x has {x.shape[1]} features, layer expects {self.in_features}")
        if store:
            self.x = x
        max_x = 128 if x.dtype == np.int8 else max_abs(x)
        max_w = max_abs(self.weight)
        return matmul_wrap32(x, self.weight.T, "z", counter, max_x, max_w)

    def backward(self, delta: np.ndarray, lr_inv: int, counter: dict | None = None) -> UpdateResult:
        """Input error (pre-update W, if propagated), gradient ``wrap32(delta.T @ x)`` and SGD update."""
        if self.x is None:
            raise RuntimeError("backward called before a training-mode forward")
        delta = np.asarray(delta)
        if delta.shape != (self.x.shape[0], self.out_features):
            raise ValueError(f"delta shape {delta.shape} != {(self.x.shape[0], self.out_features)}")
        max_d = max_abs(delta)
        max_w = max_abs(self.weight)
        d_in = None
        if self.propagate_backward:
            d_in = matmul_wrap32(delta, self.weight, "back_error", counter, max_d, max_w)
        max_x = 128 if self.x.dtype == np.int8 else max_abs(self.x)
        grad = np.ascontiguousarray(matmul_wrap32(self.x.T, delta, "grad", counter, max_x, max_d).T)
        update, self.weight = self.optimizer.step(self.weight, grad, lr_inv, counter)
        return UpdateResult(d_in, grad, update, self.weight)


class IntegerConv2d:
    """Bias-free stride-1 integer convolution (cross-correlation) with zero padding (spec §2.2).

    Parameters
    ----------
    in_channels, out_channels, kernel_size : int
        ``W`` has shape ``[out_channels, in_channels, kernel_size, kernel_size]``.
    padding : int
        Zero padding on all four sides.
    stride : int
        Must be 1 (the reference supports nothing else).
    rng, init, amp, decay_inv
        As for :class:`IntegerLinear`.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        padding: int = 0,
        stride: int = 1,
        rng: np.random.RandomState | None = None,
        init: str = "uniform_kaiming_leaky_relu",
        amp: int = 1,
        decay_inv: int = 0,
    ) -> None:
        if stride != 1:
            raise ValueError(f"IntegerConv2d supports only stride=1, got stride={stride}")
        if in_channels <= 0 or out_channels <= 0 or kernel_size <= 0:
            raise ValueError("in_channels, out_channels and kernel_size must be positive")
        if padding < 0:
            raise ValueError(f"padding must be >= 0, got {padding}")
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size, self.padding = int(kernel_size), int(padding)
        k = self.kernel_size
        shape = (self.out_channels, self.in_channels, k, k)
        fan_in, fan_out = self.in_channels * k * k, self.out_channels * k * k
        self.weight = (
            np.zeros(shape, np.int32) if rng is None else init_weights(shape, init, fan_in, fan_out, rng)
        )
        self.optimizer = IntegerSGD(amp, decay_inv)
        self.xpad: np.ndarray | None = None

    @property
    def fan_in(self) -> int:
        """Number of terms per output: ``C_in * k * k``."""
        return self.in_channels * self.kernel_size**2

    def output_size(self, d: int) -> int:
        """Spatial output size for spatial input size ``d``."""
        return d + 2 * self.padding - self.kernel_size + 1

    def forward(self, x: np.ndarray, counter: dict | None = None, store: bool = False) -> np.ndarray:
        """Pre-activation ``wrap32(conv(x, W))`` (int32) for int8/int16 ``x[B, C, H, W]``."""
        _check_int_array(x, "x", 4)
        if x.shape[1] != self.in_channels:
            raise ValueError(f"x has {x.shape[1]} channels, layer expects {self.in_channels}")
        p = self.padding
        xpad = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p))) if p else x
        if min(xpad.shape[2:]) < self.kernel_size:
            raise ValueError(f"input {x.shape[2:]} too small for kernel {self.kernel_size} (padding {p})")
        if store:
            self.xpad = xpad
        max_x = 128 if x.dtype == np.int8 else max_abs(x)
        max_w = max_abs(self.weight)
        return conv2d_wrap32(xpad, self.weight, "z", counter, max_x, max_w)

    def backward(self, delta: np.ndarray, lr_inv: int, counter: dict | None = None) -> UpdateResult:
        """Gradient ``wrap32(corr(xpad, delta))`` and SGD update; the input error is not implemented."""
        if self.xpad is None:
            raise RuntimeError("backward called before a training-mode forward")
        b, _, hp, wp = self.xpad.shape
        k = self.kernel_size
        want = (b, self.out_channels, hp - k + 1, wp - k + 1)
        if delta.shape != want:
            raise ValueError(f"delta shape {delta.shape} != {want}")
        max_x = 128 if self.xpad.dtype == np.int8 else max_abs(self.xpad)
        max_d = max_abs(delta)
        g = conv2d_weight_grad_exact(self.xpad, delta, k, max_x, max_d)
        grad = wrap32_counted(g, "grad", counter, bound=b * want[2] * want[3] * max_x * max_d)
        update, self.weight = self.optimizer.step(self.weight, grad, lr_inv, counter)
        return UpdateResult(None, grad, update, self.weight)


class NitroScaling:
    """NITRO-Scaling ``s = clamp(tdiv(z, SF), -127, 127)`` as int8, ``SF = 256*fan_in`` (spec §2.3).

    The backward pass is the identity (reference behaviour, §9 A9).
    """

    def __init__(self, fan_in: int) -> None:
        if fan_in <= 0:
            raise ValueError(f"fan_in must be positive, got {fan_in}")
        self.fan_in = int(fan_in)
        self.scale_factor = 256 * self.fan_in

    def forward(self, z: np.ndarray) -> np.ndarray:
        """Scale and clip an int32 pre-activation to int8."""
        if z.dtype != np.int32:
            q = tdiv_const(z, self.scale_factor)
            return np.clip(q, -SCALING_CLIP, SCALING_CLIP).astype(np.int8)
        q = z.astype(np.float64)  # |z| < 2^31: float64 trunc(z / sf) is the exact tdiv (see tdiv_const)
        q /= self.scale_factor
        np.trunc(q, out=q)
        np.clip(q, -SCALING_CLIP, SCALING_CLIP, out=q)
        return q.astype(np.int8)

    def backward(self, delta: np.ndarray) -> np.ndarray:
        """Identity."""
        return delta


class PocketLeakyReLU:
    """Non-centred integer leaky ReLU ``clamp(s,0,127) + tdiv(clamp(s,-127,0), alpha)`` (spec §2.4).

    Backward: ``tdiv(delta, ginv(s))`` with ginv 1 on [0, 127), alpha on [-127, 0) and 2^31-1 elsewhere.
    """

    def __init__(self, alpha: int = 4) -> None:
        if alpha not in NITRO_RELU_MEAN:
            raise ValueError(f"alpha must be one of {sorted(NITRO_RELU_MEAN)}, got {alpha}")
        self.alpha = int(alpha)
        s = np.arange(-128, 128, dtype=np.int64)
        pos = np.clip(s, 0, 127)
        neg = tdiv_const(np.clip(s, -127, 0), self.alpha)
        self._table = (pos + neg - self._mean()).astype(np.int8)  # indexed by s + 128
        self.s: np.ndarray | None = None

    def _mean(self) -> int:
        return 0

    @property
    def mean_correction(self) -> int:
        """The constant subtracted from the output (0 here, ``c(alpha)`` for NITRO-ReLU)."""
        return self._mean()

    def forward(self, s: np.ndarray, store: bool = False) -> np.ndarray:
        """Activation of int8 ``s`` (int8 out)."""
        if s.dtype != np.int8:
            raise TypeError(f"s must be int8, got {s.dtype}")
        if store:
            self.s = s
        return self._table[s.astype(np.int16) + 128]

    def backward(self, delta: np.ndarray) -> np.ndarray:
        """``tdiv(delta, ginv(s))`` as int32 (delta is int32)."""
        if self.s is None:
            raise RuntimeError("backward called before a training-mode forward")
        if delta.shape != self.s.shape:
            raise ValueError(f"delta shape {delta.shape} != stored input shape {self.s.shape}")
        return self.backward_at(delta, self.s)

    def backward_at(self, delta: np.ndarray, s: np.ndarray) -> np.ndarray:
        """``tdiv(delta, ginv(s))`` for explicitly given int8 inputs ``s`` (same shape as ``delta``)."""
        d = delta.astype(np.int32)
        out = np.where(s < 0, tdiv_const(d, self.alpha).astype(np.int32), d)
        blocked = (s == 127) | (s == -128)  # s is int8: ">= 127 or < -127"
        if blocked.any():
            out = np.where(blocked, tdiv_const(d, INT32_MAX).astype(np.int32), out)
        return out


class NitroRelu(PocketLeakyReLU):
    """NITRO-ReLU: :class:`PocketLeakyReLU` minus the mean correction ``c(alpha)`` (spec §2.4).

    Parameters
    ----------
    alpha : int
        Inverse negative slope, one of 3, 4, 5, 7, 8, 10, 15, 16, 20.
    """

    def _mean(self) -> int:
        return NITRO_RELU_MEAN[self.alpha]


class PocketReLU:
    """``clamp(x, 0, 127)`` (int8); backward ``delta * [0 < x <= 127]`` (unused in the experiments)."""

    def __init__(self) -> None:
        self.x: np.ndarray | None = None

    def forward(self, x: np.ndarray, store: bool = False) -> np.ndarray:
        """Clip to [0, 127]."""
        if store:
            self.x = x
        return np.clip(x, 0, 127).astype(np.int8)

    def backward(self, delta: np.ndarray) -> np.ndarray:
        """Pass the error where ``0 < x <= 127``."""
        if self.x is None:
            raise RuntimeError("backward called before a training-mode forward")
        keep = (self.x > 0) & (self.x <= 127)
        return np.where(keep, delta, 0).astype(np.int32)


class MaxPool2d:
    """Max pooling with ``stride == kernel`` (spec §2.6).

    Windows tile the padded input from offset 0; trailing rows/columns that do not fill a window
    are ignored. Ties go to the first position in row-major window order. The reference pads with
    what is effectively **0** (§9 A3, ``pad_value="zero"``); ``pad_value="neg_inf"`` is the clean
    −∞ padding.

    Parameters
    ----------
    kernel_size : int or (int, int)
        ``(kh, kw)``; also the stride.
    padding : int or (int, int)
        ``(ph, pw)``, each at most half its kernel size.
    pad_value : {"zero", "neg_inf"}
    stride : int or (int, int), optional
        Must equal ``kernel_size`` (the only stride the reference supports).
    """

    def __init__(self, kernel_size, padding=0, pad_value: str = "zero", stride=None) -> None:
        kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
        if stride is not None:
            sh, sw = (stride, stride) if isinstance(stride, int) else tuple(stride)
            if (sh, sw) != (kh, kw):
                raise ValueError(f"MaxPool2d supports only stride == kernel_size, got stride {stride}")
        ph, pw = (padding, padding) if isinstance(padding, int) else tuple(padding)
        if kh <= 0 or kw <= 0:
            raise ValueError(f"kernel_size must be positive, got {(kh, kw)}")
        if not (0 <= ph <= kh // 2 and 0 <= pw <= kw // 2):
            raise ValueError(f"padding {(ph, pw)} must be in [0, kernel//2] for kernel {(kh, kw)}")
        if pad_value not in ("zero", "neg_inf"):
            raise ValueError(f"pad_value must be 'zero' or 'neg_inf', got {pad_value!r}")
        self.kernel_size = (int(kh), int(kw))
        self.padding = (int(ph), int(pw))
        self.pad_value = pad_value
        self.index: np.ndarray | None = None
        self.in_shape: tuple[int, ...] | None = None

    def output_size(self, h: int, w: int) -> tuple[int, int]:
        """``floor((D + 2p - k)/k) + 1`` per axis."""
        (kh, kw), (ph, pw) = self.kernel_size, self.padding
        oh, ow = (h + 2 * ph - kh) // kh + 1, (w + 2 * pw - kw) // kw + 1
        if oh <= 0 or ow <= 0:
            raise ValueError(f"input {h}x{w} too small for pool kernel {(kh, kw)}")
        return oh, ow

    def _windows(self, x: np.ndarray) -> np.ndarray:
        (kh, kw), (ph, pw) = self.kernel_size, self.padding
        b, c, h, w = x.shape
        oh, ow = self.output_size(h, w)
        if ph or pw:
            if self.pad_value == "zero":
                x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
            else:
                x = np.pad(x.astype(np.int32), ((0, 0), (0, 0), (ph, ph), (pw, pw)),
                           constant_values=np.iinfo(np.int32).min)  # fmt: skip
        x = x[:, :, : oh * kh, : ow * kw]
        return x.reshape(b, c, oh, kh, ow, kw).transpose(0, 1, 2, 4, 3, 5).reshape(b, c, oh, ow, kh * kw)

    def forward(self, x: np.ndarray, store: bool = False) -> np.ndarray:
        """Pool ``x[B, C, H, W]``; the output keeps the input dtype."""
        _check_int_array(x, "x", 4, dtypes=(np.int8, np.int16, np.int32))
        win = self._windows(x)
        idx = np.argmax(win, axis=-1)
        out = np.take_along_axis(win, idx[..., None], axis=-1)[..., 0].astype(x.dtype)
        if store:
            self.index, self.in_shape = idx, x.shape
        return out

    def gather(self, x: np.ndarray) -> np.ndarray:
        """Values of ``x`` (shaped like the last training input) at the stored argmax cells."""
        if self.index is None:
            raise RuntimeError("gather called before a training-mode forward")
        if x.shape != self.in_shape:
            raise ValueError(f"x shape {x.shape} != pooled input shape {self.in_shape}")
        return np.take_along_axis(self._windows(x), self.index[..., None], axis=-1)[..., 0]

    def backward(self, delta: np.ndarray) -> np.ndarray:
        """Route each output error to its window's argmax cell (int32, input shape)."""
        if self.index is None:
            raise RuntimeError("backward called before a training-mode forward")
        if delta.shape != self.index.shape:
            raise ValueError(f"delta shape {delta.shape} != pool output shape {self.index.shape}")
        (kh, kw), (ph, pw) = self.kernel_size, self.padding
        b, c, h, w = self.in_shape
        oh, ow = self.index.shape[2:]
        win = np.zeros((b, c, oh, ow, kh * kw), dtype=np.int32)
        np.put_along_axis(win, self.index[..., None], delta.astype(np.int32)[..., None], axis=-1)
        tiled = win.reshape(b, c, oh, ow, kh, kw).transpose(0, 1, 2, 4, 3, 5).reshape(b, c, oh * kh, ow * kw)
        full = np.zeros((b, c, h + 2 * ph, w + 2 * pw), dtype=np.int32)
        full[:, :, : oh * kh, : ow * kw] = tiled
        return full[:, :, ph : ph + h, pw : pw + w]


class Flatten:
    """``[B, C, H, W] -> [B, C*H*W]`` in C order; backward reshapes back."""

    def __init__(self) -> None:
        self.in_shape: tuple[int, ...] | None = None

    def forward(self, x: np.ndarray, store: bool = False) -> np.ndarray:
        """Flatten all but the batch axis."""
        if store:
            self.in_shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, delta: np.ndarray) -> np.ndarray:
        """Reshape to the stored input shape."""
        if self.in_shape is None:
            raise RuntimeError("backward called before a training-mode forward")
        return delta.reshape(self.in_shape)


def dropout_percent(p: float) -> int:
    """Validate a dropout rate (a multiple of 0.05 in [0.05, 0.95]) and return ``round(100*p)``."""
    q = round(float(p) * 20)
    if not (1 <= q <= 19) or abs(float(p) * 20 - q) > 1e-9:
        raise ValueError(f"dropout rate must be a multiple of 0.05 in [0.05, 0.95], got {p}")
    return 5 * q


class Dropout:
    """Integer dropout (spec §2.8): ``tdiv(x*mask*f(p), 1000)`` as int16 in training, identity in eval.

    The mask is ``rng.binomial(1, 1 - p, size=x.shape)``, drawn in the forward pass.

    Parameters
    ----------
    p : float
        Drop rate, a multiple of 0.05 in [0.05, 0.95].
    """

    def __init__(self, p: float) -> None:
        self.p = float(p)
        self.rescale = DROPOUT_RESCALE[dropout_percent(p)]
        self.mask: np.ndarray | None = None

    def forward(self, x: np.ndarray, training: bool, rng: np.random.RandomState | None = None) -> np.ndarray:
        """Apply dropout (training) or return ``x`` unchanged (eval)."""
        if not training:
            return x
        if not isinstance(rng, np.random.RandomState):
            raise TypeError("Dropout in training mode needs rng: a numpy.random.RandomState")
        mask = rng.binomial(1, 1 - self.p, size=x.shape)
        self.mask = mask
        return tdiv_const(x.astype(np.int64) * mask * self.rescale, 1000).astype(np.int16)

    def backward(self, delta: np.ndarray) -> np.ndarray:
        """``tdiv(delta*mask*f, 1000)`` (int32; never used by the training step)."""
        if self.mask is None:
            raise RuntimeError("backward called before a training-mode forward")
        return tdiv_const(delta.astype(np.int64) * self.mask * self.rescale, 1000).astype(np.int32)

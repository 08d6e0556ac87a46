"""Integer weight initializers (spec §5.1).

Every scheme computes a bound ``b`` (capped at :data:`INIT_CAP`) and draws
``rng.randint(-b, b + 1, size=shape, dtype=np.int32)`` from the passed legacy ``RandomState``
(the same stream as ``np.random.seed`` + ``np.random.randint``). ``zeros`` / ``ones`` draw nothing.
"""

from __future__ import annotations

import numpy as np

from .primitives import isqrt

INIT_CAP = 64
"""Every bound is finally capped at 64."""

LEAKY_RELU_GAINS = {3: 1342, 4: 1372, 5: 1387, 7: 1400, 8: 1403, 10: 1407, 15: 1411, 16: 1411, 20: 1412}
"""Integer gains ``1000*sqrt(2/(1 + 1/alpha^2))``. The reference hard-wires alpha = 4 (gain 1372)."""

RELU_GAIN = 1414

INIT_SCHEMES = (
    "uniform_kaiming_leaky_relu",
    "uniform_kaiming_relu",
    "uniform_xavier",
    "uniform_std",
    "uniform_fixed",
    "zeros",
    "ones",
)


def init_bound(scheme: str, fan_in: int, fan_out: int) -> int:
    """The (capped) uniform bound ``b`` of an init scheme.

    Parameters
    ----------
    scheme : str
        One of :data:`INIT_SCHEMES` (``zeros``/``ones`` have bound 0/1).
    fan_in : int
        ``in_features`` (linear) or ``C_in*k*k`` (conv).
    fan_out : int
        ``out_features`` (linear) or ``C_out*k*k`` (conv).

    Returns
    -------
    int
    """
    if fan_in <= 0 or fan_out <= 0:
        raise ValueError(f"fan_in and fan_out must be positive, got {fan_in}, {fan_out}")
    if scheme == "uniform_kaiming_leaky_relu":
        b = LEAKY_RELU_GAINS[4] * 128 * 1732 // (isqrt(fan_in) * 10**6)
    elif scheme == "uniform_kaiming_relu":
        b = RELU_GAIN * 128 * 1732 // (isqrt(fan_in) * 10**6)
    elif scheme == "uniform_xavier":
        b = 1667 * 128 * 2449 // (isqrt(fan_in + fan_out) * 10**6)
    elif scheme == "uniform_std":
        b = isqrt(64 * 32767 // fan_in)
    elif scheme == "uniform_fixed":
        b = 64
    elif scheme == "zeros":
        return 0
    elif scheme == "ones":
        return 1
    else:
        raise ValueError(f"unknown init scheme {scheme!r}; expected one of {INIT_SCHEMES}")
    return min(b, INIT_CAP)


def init_weights(
    shape: tuple[int, ...], scheme: str, fan_in: int, fan_out: int, rng: np.random.RandomState
) -> np.ndarray:
    """Draw an int32 weight tensor for ``scheme`` (see module docstring).

    Parameters
    ----------
    shape : tuple of int
        Weight shape.
    scheme : str
        One of :data:`INIT_SCHEMES`.
    fan_in, fan_out : int
        Fan sizes of the layer (see :func:`init_bound`).
    rng : numpy.random.RandomState
        Legacy RNG the draw consumes.

    Returns
    -------
    numpy.ndarray of int32
    """
    if scheme == "zeros":
        return np.zeros(shape, dtype=np.int32)
    if scheme == "ones":
        return np.ones(shape, dtype=np.int32)
    if not isinstance(rng, np.random.RandomState):
        raise TypeError(f"rng must be a numpy.random.RandomState, got {type(rng).__name__}")
    b = init_bound(scheme, fan_in, fan_out)
    return rng.randint(-b, b + 1, size=shape, dtype=np.int32)

"""Integer primitives of NITRO-D (spec §0, §1.2, §1.3, §2.3).

Every function works on Python ints and on NumPy integer arrays. Array results are
``int64`` unless stated otherwise; the wrap functions return the narrow dtype they
model (``int8`` / ``int32``) so a caller cannot forget which storage point it is at.
"""

from __future__ import annotations

import numpy as np

INT8_MIN, INT8_MAX = -(2**7), 2**7 - 1
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
SCALING_CLIP = 127  # NITRO-Scaling clamps symmetrically to [-127, 127]


def tdiv(a, d):
    """Division truncated toward zero: ``sign(a)·sign(d)·floor(|a| / |d|)``.

    Parameters
    ----------
    a : int or array_like of int
        Dividend(s).
    d : int or array_like of int
        Divisor(s); must be non-zero.

    Returns
    -------
    int or numpy.ndarray of int64
        A Python ``int`` when both operands are Python ints, else an int64 array.

    Raises
    ------
    ZeroDivisionError
        If any divisor is zero.
    """
    if isinstance(a, int | np.integer) and isinstance(d, int | np.integer):
        a, d = int(a), int(d)
        if d == 0:
            raise ZeroDivisionError("tdiv: divisor is zero")
        q = abs(a) // abs(d)
        return q if (a >= 0) == (d > 0) else -q
    a = np.asarray(a, dtype=np.int64)
    d = np.asarray(d, dtype=np.int64)
    if np.any(d == 0):
        raise ZeroDivisionError("tdiv: divisor is zero")
    q = a // d
    fix = (q * d != a) & ((a < 0) != (d < 0))
    return q + fix.astype(np.int64)


def clamp(v, lo: int, hi: int):
    """Saturate ``v`` to ``[lo, hi]`` (int64 for arrays)."""
    if isinstance(v, int | np.integer):
        return max(lo, min(hi, int(v)))
    return np.clip(np.asarray(v, dtype=np.int64), lo, hi)


def _wrap(v, bits: int):
    if isinstance(v, int | np.integer):
        v = int(v) & ((1 << bits) - 1)
        return v - (1 << bits) if v >> (bits - 1) else v
    dtype = {8: np.int8, 16: np.int16, 32: np.int32}[bits]
    # astype between integer dtypes is modular (two's complement wrap-around).
    return np.asarray(v, dtype=np.int64).astype(dtype)


def wrap8(v):
    """Reduce modulo 2^8 into the signed range [-128, 127] (two's complement)."""
    return _wrap(v, 8)


def wrap32(v):
    """Reduce modulo 2^32 into the signed range [-2^31, 2^31 - 1] (two's complement)."""
    return _wrap(v, 32)


def isqrt(n: int) -> int:
    """Integer square root ``floor(sqrt(n))`` of a non-negative integer."""
    n = int(n)
    if n < 0:
        raise ValueError(f"isqrt: negative argument {n}")
    x, y = n, (n + 1) // 2
    while y < x:  # Newton iteration, as the reference does; exact for every n >= 0
        x, y = y, (y + n // y) // 2
    return x


def nitro_scaling(z, sf):
    """NITRO-Scaling forward: ``clamp(tdiv(z, sf), -127, 127)`` (spec §2.3).

    Parameters
    ----------
    z : int or array_like of int
        Pre-activation (int32 in the reference).
    sf : int
        The positive scale factor ``256 * fan_in``.

    Returns
    -------
    int or numpy.ndarray of int8
    """
    if int(sf) <= 0:
        raise ValueError(f"nitro_scaling: scale factor must be positive, got {sf}")
    s = clamp(tdiv(z, int(sf)), -SCALING_CLIP, SCALING_CLIP)
    return s if isinstance(s, int) else s.astype(np.int8)


def scale_factor(fan_in: int) -> int:
    """The NITRO-Scaling factor ``256 * fan_in`` (spec §2.3)."""
    if int(fan_in) <= 0:
        raise ValueError(f"scale_factor: fan_in must be positive, got {fan_in}")
    return 256 * int(fan_in)

"""Exact integer GEMM / convolution kernels with 32-bit wrap-around (spec §1.3, §1.4).

NumPy integer matmul does not use BLAS. These kernels compute the exact integer result with
float64 BLAS whenever the cheap bound ``K_terms * max|a| * max|b| < 2^53`` proves that every
partial sum is an exactly representable integer. When the bound fails, the wide operand is split
into limbs ``b = hi * 2^s + lo`` that each satisfy the bound, and the limb products are combined in
int64 (modulo 2^64, which is a multiple of 2^32, so the subsequent ``wrap32`` is always right; the
value is also the exact value whenever it fits int64, which holds for every int8 x int32 product sum
with fewer than 2^24 terms).

The four wrap points of the reference (spec §1.3) are named by :data:`OVERFLOW_POINTS`. The helper
:func:`wrap32_counted` applies ``wrap32`` and counts how many values actually wrapped.
"""

from __future__ import annotations

import os
import time

import numpy as np

from .primitives import INT32_MAX

EXACT_LIMIT = 2**53
"""Every integer of magnitude below this is exactly representable in float64."""

OVERFLOW_POINTS = ("z", "back_error", "grad", "update")
"""The four int32 storage points of spec §1.3, in the order of the spec."""

_CONV_CHUNK_ELEMS = 4_000_000  # float64 elements of one im2col chunk (32 MB)
_SMALL_GEMM_MACS = 1 << 24  # below this, one BLAS thread is faster (no thread hand-off on a busy box)


class _BlasThreads:
    """BLAS thread policy: one thread for small GEMMs, and for all GEMMs while the machine is busy.

    Multi-threaded OpenBLAS hands work to threads that may not get a core when other processes
    saturate the CPUs, which makes a GEMM several times slower than on one thread. Uses
    threadpoolctl when it is installed (else the BLAS default is kept). Set
    ``NITRO_HW_BLAS_POLICY=default`` to never change the thread count.
    """

    def __init__(self) -> None:
        self._ctl = None
        self._init = False
        self._busy = False
        self._busy_checked = -1e9
        self.enabled = os.environ.get("NITRO_HW_BLAS_POLICY", "auto") != "default"

    def _controllers(self):
        if not self._init:
            self._init = True
            try:
                from threadpoolctl import ThreadpoolController

                ctls = [c for c in ThreadpoolController().lib_controllers if c.user_api == "blas"]
                self._ctl = ctls or None
            except Exception:  # threadpoolctl missing or failing: keep the BLAS default
                self._ctl = None
        return self._ctl

    def _machine_busy(self) -> bool:
        now = time.monotonic()
        if now - self._busy_checked > 2.0:
            self._busy_checked = now
            try:
                self._busy = os.getloadavg()[0] >= (os.cpu_count() or 1) + 0.5
            except OSError:
                self._busy = False
        return self._busy

    def run(self, macs: int, fn, *args):
        """Call ``fn(*args)`` on one BLAS thread if ``macs`` is small or the machine is busy."""
        if not self.enabled or (macs >= _SMALL_GEMM_MACS and not self._machine_busy()):
            return fn(*args)
        ctls = self._controllers()
        if not ctls:
            return fn(*args)
        old = [c.num_threads for c in ctls]
        if all(n == 1 for n in old):
            return fn(*args)
        for c in ctls:
            c.set_num_threads(1)
        try:
            return fn(*args)
        finally:
            for c, n in zip(ctls, old, strict=True):
                c.set_num_threads(n)


_BLAS = _BlasThreads()


def new_overflow_counter() -> dict[str, int]:
    """Return a fresh overflow counter ``{point: 0}`` for the four wrap points."""
    return dict.fromkeys(OVERFLOW_POINTS, 0)


def max_abs(a: np.ndarray) -> int:
    """Largest magnitude in an integer array as a Python int (0 for empty; no int32 abs overflow)."""
    if a.size == 0:
        return 0
    return max(-int(a.min()), int(a.max()))


def wrap32_counted(v: np.ndarray, point: str, counter: dict[str, int] | None, bound: int | None = None):
    """``wrap32`` an array of exact integer values, counting the values that wrap.

    Parameters
    ----------
    v : numpy.ndarray
        Exact integer values: any integer dtype, or float64 holding integers below 2^53.
    point : str
        One of :data:`OVERFLOW_POINTS`; the counter key.
    counter : dict or None
        Counter to increment by the number of values outside the int32 range.
    bound : int, optional
        A proven bound on ``max|v|``; when it is below 2^31 the range check is skipped.

    Returns
    -------
    numpy.ndarray of int32
    """
    if point not in OVERFLOW_POINTS:
        raise ValueError(f"point must be one of {OVERFLOW_POINTS}, got {point!r}")
    if v.dtype == np.int32:
        return v
    if bound is not None and bound <= INT32_MAX:
        return v.astype(np.int32)  # in range: float64 -> int32 is exact here
    if v.dtype.kind == "f":
        v = v.astype(np.int64)
    r = v.astype(np.int32)  # integer astype wraps modulo 2^32
    if counter is not None:
        counter[point] += int(np.count_nonzero(r != v))
    return r


def _exact_bilinear(op, a: np.ndarray, b: np.ndarray, k_terms: int, max_a: int, max_b: int) -> np.ndarray:
    """Exact value of a bilinear ``op(a, b)`` (a sum of at most ``k_terms`` products per output).

    ``op`` works on two float64 (or int64) arrays. ``b`` is the operand that gets split into limbs
    if the exactness bound fails. The result is float64 holding exact integers when one float
    product was enough, else int64 (modulo 2^64).
    """
    f64 = np.float64
    if k_terms * max_a * max_b < EXACT_LIMIT or max_b == 0 or max_a == 0:
        return op(a.astype(f64, copy=False), b.astype(f64, copy=False))
    scale = k_terms * max_a
    sh = (EXACT_LIMIT.bit_length() - 1) - int(scale).bit_length()  # k*max_a*(2^sh - 1) < EXACT_LIMIT
    if sh < 1:  # not even a 1-bit limb is exact: plain int64 arithmetic
        return op(a.astype(np.int64), b.astype(np.int64)).astype(np.int64)
    b64 = b.astype(np.int64)
    lo = b64 & ((1 << sh) - 1)
    hi = b64 >> sh
    r_lo = op(a.astype(f64, copy=False), lo.astype(f64)).astype(np.int64)
    r_hi = _exact_bilinear(op, a, hi, k_terms, max_a, max_abs(hi)).astype(np.int64)
    with np.errstate(over="ignore"):
        return (r_hi << sh) + r_lo  # modulo 2^64: wrap32 of it is always right


def _as_int64(v: np.ndarray) -> np.ndarray:
    return v.astype(np.int64, copy=False)


def _matmul_any(a, b, max_a, max_b):
    macs = a.shape[0] * a.shape[1] * b.shape[1]
    return _BLAS.run(macs, _exact_bilinear, np.matmul, a, b, a.shape[1], max_a, max_b)


def _check_matmul(a, b):
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ValueError(f"matmul: incompatible shapes {a.shape} @ {b.shape}")


def matmul_exact(a: np.ndarray, b: np.ndarray, max_a: int | None = None, max_b: int | None = None):
    """Exact integer matrix product ``a @ b`` as int64.

    Parameters
    ----------
    a : numpy.ndarray
        Integer array ``[M, K]`` (the narrow operand, e.g. int8 activations or errors).
    b : numpy.ndarray
        Integer array ``[K, N]`` (the wide operand, e.g. int32 weights).
    max_a, max_b : int, optional
        Known bounds on the magnitudes (computed when omitted).

    Returns
    -------
    numpy.ndarray of int64
        ``a @ b``, exact modulo 2^64 (exact whenever it fits int64).
    """
    _check_matmul(a, b)
    max_a = max_abs(a) if max_a is None else max_a
    max_b = max_abs(b) if max_b is None else max_b
    return _as_int64(_matmul_any(a, b, max_a, max_b))


def matmul_wrap32(
    a: np.ndarray,
    b: np.ndarray,
    point: str,
    counter: dict[str, int] | None = None,
    max_a: int | None = None,
    max_b: int | None = None,
):
    """``wrap32(a @ b)`` computed exactly, counting wrapped values at ``point``.

    Returns
    -------
    numpy.ndarray of int32
    """
    _check_matmul(a, b)
    max_a = max_abs(a) if max_a is None else max_a
    max_b = max_abs(b) if max_b is None else max_b
    v = _matmul_any(a, b, max_a, max_b)
    return wrap32_counted(v, point, counter, bound=a.shape[1] * max_a * max_b)


def _im2col_t(xpad: np.ndarray, k: int, h: int, w: int) -> np.ndarray:
    """``[b, C, h+k-1, w+k-1]`` -> float64 ``[C*k*k, b*h*w]`` (row order c, u, v; column order b, i, j)."""
    bsz, c = xpad.shape[:2]
    xc = xpad.transpose(1, 0, 2, 3).astype(np.float64)  # [C, b, Hp, Wp]
    cols = np.empty((c, k, k, bsz, h, w), dtype=np.float64)
    for u in range(k):
        for v in range(k):
            cols[:, u, v] = xc[:, :, u : u + h, v : v + w]
    return cols.reshape(c * k * k, bsz * h * w)


def _batch_chunks(bsz: int, rows_per_image: int, cols: int):
    per = max(1, _CONV_CHUNK_ELEMS // max(1, rows_per_image * cols))
    return [(i, min(bsz, i + per)) for i in range(0, bsz, per)]


def _conv_shapes(xpad: np.ndarray, w: np.ndarray):
    if xpad.ndim != 4 or w.ndim != 4 or w.shape[1] != xpad.shape[1] or w.shape[2] != w.shape[3]:
        raise ValueError(f"conv2d: incompatible shapes x{xpad.shape} w{w.shape}")
    bsz, c, hp, wp = xpad.shape
    f, _, k, _ = w.shape
    h, wo = hp - k + 1, wp - k + 1
    if h <= 0 or wo <= 0:
        raise ValueError(f"conv2d: kernel {k} larger than padded input {hp}x{wp}")
    return bsz, c, f, k, h, wo


def _conv_fwd_op(cols_t, wmat):
    return wmat @ cols_t


def _conv_chunks(xpad, w, max_x, max_w):
    """Yield ``(i0, i1, z_chunk)`` with ``z_chunk`` ``[i1-i0, F, h, w]`` exact (float64 or int64)."""
    bsz, c, f, k, h, wo = _conv_shapes(xpad, w)
    wmat = w.reshape(f, c * k * k)
    for i0, i1 in _batch_chunks(bsz, h * wo, c * k * k):
        cols_t = _im2col_t(xpad[i0:i1], k, h, wo)
        macs = f * cols_t.shape[0] * cols_t.shape[1]
        r = _BLAS.run(macs, _exact_bilinear, _conv_fwd_op, cols_t, wmat, c * k * k, max_x, max_w)
        yield i0, i1, r.reshape(f, i1 - i0, h, wo).transpose(1, 0, 2, 3)


def conv2d_exact(xpad: np.ndarray, w: np.ndarray, max_x: int | None = None, max_w: int | None = None):
    """Exact stride-1 cross-correlation ``z[m,f,i,j] = sum W[f,c,u,v] * xpad[m,c,i+u,j+v]`` (int64).

    Parameters
    ----------
    xpad : numpy.ndarray
        Already padded integer input ``[B, C, Hp, Wp]``.
    w : numpy.ndarray
        Integer kernel ``[F, C, k, k]``.
    max_x, max_w : int, optional
        Known magnitude bounds.

    Returns
    -------
    numpy.ndarray of int64, shape ``[B, F, Hp-k+1, Wp-k+1]``
    """
    bsz, _, f, _, h, wo = _conv_shapes(xpad, w)
    max_x = max_abs(xpad) if max_x is None else max_x
    max_w = max_abs(w) if max_w is None else max_w
    out = np.empty((bsz, f, h, wo), dtype=np.int64)
    for i0, i1, r in _conv_chunks(xpad, w, max_x, max_w):
        out[i0:i1] = r
    return out


def conv2d_wrap32(
    xpad: np.ndarray,
    w: np.ndarray,
    point: str = "z",
    counter: dict[str, int] | None = None,
    max_x: int | None = None,
    max_w: int | None = None,
):
    """``wrap32`` of :func:`conv2d_exact`, counting wrapped values at ``point`` (int32 result)."""
    bsz, c, f, k, h, wo = _conv_shapes(xpad, w)
    max_x = max_abs(xpad) if max_x is None else max_x
    max_w = max_abs(w) if max_w is None else max_w
    bound = c * k * k * max_x * max_w
    out = np.empty((bsz, f, h, wo), dtype=np.int32)
    for i0, i1, r in _conv_chunks(xpad, w, max_x, max_w):
        if bound <= INT32_MAX:
            out[i0:i1] = r  # exact integers in range: the float -> int32 cast is exact
        else:
            out[i0:i1] = wrap32_counted(r, point, counter, bound)
    return out


def _conv_grad_op(cols_t, d_t):
    return d_t @ cols_t.T


def conv2d_weight_grad_exact(
    xpad: np.ndarray, delta: np.ndarray, k: int, max_x: int | None = None, max_d: int | None = None
):
    """Exact conv weight gradient ``G[f,c,u,v] = sum_{m,i,j} delta[m,f,i,j] * xpad[m,c,i+u,j+v]``.

    Parameters
    ----------
    xpad : numpy.ndarray
        Padded layer input ``[B, C, Hp, Wp]``.
    delta : numpy.ndarray
        Output error ``[B, F, Hp-k+1, Wp-k+1]``.
    k : int
        Kernel size.
    max_x, max_d : int, optional
        Known magnitude bounds.

    Returns
    -------
    numpy.ndarray of int64, shape ``[F, C, k, k]``
    """
    bsz, c, hp, wp = xpad.shape
    h, wo = hp - k + 1, wp - k + 1
    if delta.ndim != 4 or delta.shape[0] != bsz or delta.shape[2:] != (h, wo):
        raise ValueError(f"conv2d_weight_grad_exact: delta shape {delta.shape} does not fit x {xpad.shape}")
    f = delta.shape[1]
    max_x = max_abs(xpad) if max_x is None else max_x
    max_d = max_abs(delta) if max_d is None else max_d
    k_terms = bsz * h * wo  # bound over the whole sum, so float chunk sums stay exact too
    in_float = k_terms * max_x * max_d < EXACT_LIMIT
    total = np.zeros((f, c * k * k), dtype=np.float64 if in_float else np.int64)
    for i0, i1 in _batch_chunks(bsz, h * wo, c * k * k):
        cols_t = _im2col_t(xpad[i0:i1], k, h, wo)
        d_t = delta[i0:i1].transpose(1, 0, 2, 3).reshape(f, (i1 - i0) * h * wo)
        macs = f * cols_t.shape[0] * cols_t.shape[1]
        r = _BLAS.run(macs, _exact_bilinear, _conv_grad_op, cols_t, d_t, k_terms, max_x, max_d)
        with np.errstate(over="ignore"):
            total += r if in_float else _as_int64(r)
    return _as_int64(total).reshape(f, c, k, k)


def tdiv_const(a, d: int) -> np.ndarray:
    """Truncating division of an integer array by a positive constant, as int64.

    Uses ``trunc(a / d)`` in float64, which is exact for ``|a| < 2^53`` and ``0 < d < 2^53``:
    a non-integer quotient is at least ``1/d`` away from every integer while the float64 rounding
    error is below ``|a|/d * 2^-53 < 1/d``. Larger dividends fall back to integer arithmetic.

    Parameters
    ----------
    a : array_like of int
        Dividends.
    d : int
        Positive divisor.

    Returns
    -------
    numpy.ndarray of int64
    """
    d = int(d)
    if d <= 0:
        raise ValueError(f"tdiv_const: divisor must be positive, got {d}")
    a = np.asarray(a)
    if d == 1:
        return a.astype(np.int64)
    if a.dtype in (np.int8, np.int16, np.int32) or (a.size and max_abs(a) < EXACT_LIMIT):
        return np.trunc(a.astype(np.float64) / d).astype(np.int64)
    a = a.astype(np.int64)
    q = np.abs(a) // d
    return np.where(a < 0, -q, q)

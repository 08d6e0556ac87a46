"""Host-side memory layouts of the training engine (``N x N`` array, ``N`` lanes per word).

Two layouts of an activation-like tensor ``a[B, F]`` (int8) are kept (module
:mod:`nitro_hw.compiler.program` explains why):

* **column layout** (memory AF): word ``(bt, f) = bt * F_pad + f`` holds ``a[bt*N + r, f]``
  in lane ``r``: the narrow operand of the forward GEMMs (lanes over the batch);
* **row layout** (memories AG, Y, RG, D): word ``(ft, b) = ft * B + b`` holds
  ``a[b, ft*N + c]`` in lane ``c``: the operands of the gradient GEMMs (lanes over features).

Weights ``W[O, I]`` live in memory WF as word ``(ot, i) = ot * I_pad + i`` with
``W[ot*N + c, i]`` in lane ``c`` ("forward layout"); the local heads also keep the transposed
copy in WT: word ``(it, o) = it * O_pad + o`` holds ``W[o, it*N + r]`` in lane ``r``.

Words are Python ints (lane 0 in the least significant bits) or little-endian bytes.
"""

from __future__ import annotations

import numpy as np

__all__ = ["pad_to", "col_layout", "row_layout", "wf_layout", "wt_layout", "words_to_lanes",
           "lanes_to_bytes", "wf_unlayout", "row_unlayout"]


def pad_to(v: int, n: int) -> int:
    """``v`` rounded up to a multiple of ``n``."""
    return -(-int(v) // n) * n


def _check2(a: np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got shape {a.shape}")
    return a


def col_layout(a: np.ndarray, n: int) -> np.ndarray:
    """Column layout lanes ``[B/N * F_pad, N]`` of ``a[B, F]`` (B a multiple of N)."""
    a = _check2(a, "a")
    b, f = a.shape
    if b % n:
        raise ValueError(f"batch {b} is not a multiple of the array size {n}")
    fp = pad_to(f, n)
    out = np.zeros((b // n, fp, n), dtype=a.dtype)
    out[:, :f, :] = a.reshape(b // n, n, f).transpose(0, 2, 1)
    return out.reshape(-1, n)


def row_layout(a: np.ndarray, n: int) -> np.ndarray:
    """Row layout lanes ``[F_pad/N * B, N]`` of ``a[B, F]``."""
    a = _check2(a, "a")
    b, f = a.shape
    fp = pad_to(f, n)
    out = np.zeros((b, fp), dtype=a.dtype)
    out[:, :f] = a
    return out.reshape(b, fp // n, n).transpose(1, 0, 2).reshape(-1, n)


def row_unlayout(lanes: np.ndarray, b: int, f: int, n: int) -> np.ndarray:
    """Inverse of :func:`row_layout`: ``a[B, F]`` from lanes ``[F_pad/N * B, N]``."""
    fp = pad_to(f, n)
    return lanes.reshape(fp // n, b, n).transpose(1, 0, 2).reshape(b, fp)[:, :f]


def wf_layout(w: np.ndarray, n: int) -> np.ndarray:
    """Forward weight layout lanes ``[O_pad/N * I_pad, N]`` of ``W[O, I]``."""
    w = _check2(w, "W")
    o, i = w.shape
    op, ip = pad_to(o, n), pad_to(i, n)
    full = np.zeros((op, ip), dtype=w.dtype)
    full[:o, :i] = w
    return full.reshape(op // n, n, ip).transpose(0, 2, 1).reshape(-1, n)


def wf_unlayout(lanes: np.ndarray, o: int, i: int, n: int) -> np.ndarray:
    """Inverse of :func:`wf_layout`: ``W[O, I]``."""
    op, ip = pad_to(o, n), pad_to(i, n)
    return lanes.reshape(op // n, ip, n).transpose(0, 2, 1).reshape(op, ip)[:o, :i]


def wt_layout(w: np.ndarray, n: int) -> np.ndarray:
    """Transposed weight layout lanes ``[I_pad/N * O_pad, N]`` of ``W[O, I]``."""
    w = _check2(w, "W")
    return wf_layout(w.T, n)


def lanes_to_bytes(lanes: np.ndarray, lane_bits: int, word_bytes: int) -> bytes:
    """Pack lanes ``[words, N]`` into little-endian words of ``word_bytes`` bytes each."""
    dt = {8: "<u1", 16: "<u2", 32: "<u4"}[lane_bits]
    raw = np.ascontiguousarray(lanes).astype(np.int64).astype(dt)
    per = raw.shape[1] * lane_bits // 8
    if per > word_bytes:
        raise ValueError(f"{raw.shape[1]} lanes of {lane_bits} bits do not fit a {word_bytes}-byte word")
    out = np.zeros((raw.shape[0], word_bytes), dtype=np.uint8)
    out[:, :per] = raw.view(np.uint8).reshape(raw.shape[0], per)
    return out.tobytes()


def words_to_lanes(buf: bytes, words: int, n: int, lane_bits: int, word_bytes: int,
                   signed: bool = True) -> np.ndarray:
    """Unpack ``words`` little-endian words (``word_bytes`` each) into lanes ``[words, N]``."""
    arr = np.frombuffer(bytes(buf), dtype=np.uint8)
    if arr.size != words * word_bytes:
        raise ValueError(f"expected {words * word_bytes} bytes, got {arr.size}")
    per = n * lane_bits // 8
    arr = np.ascontiguousarray(arr.reshape(words, word_bytes)[:, :per])
    kind = "i" if signed else "u"
    dt = f"<{kind}{lane_bits // 8}"
    return arr.view(dt).reshape(words, n)

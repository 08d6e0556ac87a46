"""Decode the training engine's trace port with the program compiler's memory layouts.

The engine (:mod:`nitro_hw.hw.engine`) emits, for every tile row its epilogue writes back,
``trace_valid`` with ``trace_tag`` (the instruction's tag), ``trace_index`` (the row's word
address) and ``trace_data`` (``n`` lanes of 32 bits). :func:`engine_row_tensors` turns a
compiled :class:`nitro_hw.compiler.program.Program` into the :class:`RowTensor` of every
training-step instruction, so a :class:`HardwareRecorder` (fed by a cocotb monitor or a wave
file) rebuilds the golden-named tensors: ``forward/h`` and ``head``/``output_update`` ``e``
(int8), ``encoder_update/d_s`` (int32) and the new ``weights`` (int32; the trace port carries
them sign-extended to 32 bits whatever the weight memory's width).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np

from .format import TraceError
from .hw_recorder import RowTensor, TraceTensor
from .port import TracePortSpec


def _row_unlayout(lanes: np.ndarray, b: int, f: int, n: int) -> np.ndarray:
    from ..compiler.layout import row_unlayout

    return row_unlayout(lanes, b, f, n)


def _wf_unlayout(lanes: np.ndarray, o: int, i: int, n: int) -> np.ndarray:
    from ..compiler.layout import wf_unlayout

    return wf_unlayout(lanes, o, i, n)


def _pad(v: int, n: int) -> int:
    return -(-int(v) // n) * n


def engine_row_tensors(program: Any) -> dict[int, RowTensor]:
    """Tag -> :class:`RowTensor` of every instruction of a training step of ``program``.

    Raises
    ------
    TraceError
        An instruction whose output tensor the decoder does not know.
    """
    n, batch = int(program.n), int(program.batch)
    by_base: dict[tuple[str, int], Any] = {(t.mem, t.base): t for t in program.tensors.values()}
    lo, hi = program.entry_range(True)
    out: dict[int, RowTensor] = {}
    for ins in program.instructions[lo:hi]:
        op, f = ins["op"], ins["fields"]
        block, phase, name = ins["trace"]
        base = int(f["o_base"])
        if op in ("FWD_RELU", "FWD_ERR"):
            mem = "AG" if op == "FWD_RELU" else "E"
            t = by_base.get((mem, base))
            if t is None or t.layout != "row":
                raise TraceError(f"{ins['name']}: no row-layout {mem} tensor at word {base}")
            b, feat = t.shape
            tt = TraceTensor(block, phase, name, "int8", (b, feat))
            rows = _pad(feat, n) // n * b
            unlayout = partial(_row_unlayout, b=b, f=feat, n=n)
        elif op == "BACKERR":
            feat = int(f["n_valid"])
            tt = TraceTensor(block, phase, name, "int32", (batch, feat))
            rows = _pad(feat, n) // n * batch
            unlayout = partial(_row_unlayout, b=batch, f=feat, n=n)
        elif op == "GRAD":
            t = by_base.get(("WF", base))
            if t is None or t.layout != "wf":
                raise TraceError(f"{ins['name']}: no WF weight tensor at word {base}")
            o, i = t.shape
            tt = TraceTensor(block, phase, name, "int32", (o, i))
            rows = t.words
            unlayout = partial(_wf_unlayout, o=o, i=i, n=n)
        else:
            raise TraceError(f"{ins['name']}: unknown engine op {op!r}")
        out[int(f["tag"])] = RowTensor(tt, base, rows, unlayout)
    return out


def engine_trace_port(program: Any, *, prefix: str = "trace", clock: str = "clk",
                      index_width: int | None = None, scope: str | None = None) -> TracePortSpec:
    """The :class:`TracePortSpec` of the engine's flat trace port for ``program``'s array size."""
    from ..compiler import isa

    return TracePortSpec.flat(prefix, tag_width=8, lanes=int(program.n), lane_width=32,
                              index_width=index_width or isa.ADDR_BITS, clock=clock, scope=scope)

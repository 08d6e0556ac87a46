"""Analytic cycle model of the training engine (per instruction = per phase).

One instruction costs::

    fetch   = instr_words + R + 1                  (program-memory reads of latency R, decode)
    issue   = k_len + (mt * nt - 1) * max(k_len, T) (one k-step per cycle; the MAC array takes
                                                    at most one tile per T = N + MAC latency
                                                    cycles: a tile's last k-step waits until
                                                    the previous tile has left the shadow buffer)
    tail    = (R - 1) + O + MAC latency + N + R
              + max(sideband depth, unit latency + X + N if transposed else 0) + D

``tail`` is the pipeline drain after the last k-step: the operand reads still in flight and the
operand registers (``O`` = :data:`nitro_hw.hw.engine.core.OPERAND_STAGES`), the MAC array's
latency, its N tile rows, the R cycles a row waits for its epilogue memory reads, then either the
epilogue's sideband delay line (as long as the slowest unit) or the op's own unit
latency plus the transposer's input register (``X``) and its N-cycle column write-out, whichever
ends later, and the registered drain test (``D`` = :data:`nitro_hw.hw.engine.core.DRAIN_TEST_CYCLES`).
``R`` is the memories' read latency (:data:`nitro_hw.hw.engine.banked_memory.READ_LATENCY`);
unit latencies come from the units' ``latency`` properties.
A run adds one fetch+decode for its END instruction. The constants mirror the RTL of
:mod:`nitro_hw.hw.engine.core`; ``tests/test_engine_cosim.py`` checks the model against the
measured per-phase cycle counters.
"""

from __future__ import annotations

from . import isa
from .program import Program

__all__ = ["estimate_cycles", "instruction_cycles", "summarize_phases"]


def _latencies(n: int, weight_width: int) -> tuple[int, dict[str, int], int]:
    """``(operand stages + MAC array latency, epilogue latency per op, drain test)``, from the RTL."""
    from ..hw.engine.core import DRAIN_TEST_CYCLES, OPERAND_STAGES, epilogue_taps, mac_latency

    return OPERAND_STAGES + mac_latency(n), epilogue_taps(4, n, weight_width), DRAIN_TEST_CYCLES


def _issue_cycles(f: dict, n: int) -> int:
    """Cycles from the first to the last k-step accepted by the MAC array."""
    from ..hw.engine.core import mac_latency

    return f["k_len"] + (f["mt"] * f["nt"] - 1) * max(f["k_len"], n + mac_latency(n))


def instruction_cycles(ins: dict, n: int, weight_width: int = 16) -> int:
    """Estimated cycles of one instruction (dict from :attr:`Program.instructions`)."""
    f = ins["fields"]
    from ..hw.engine.banked_memory import READ_LATENCY as R
    from ..hw.engine.transposer import TileTransposer

    fetch = isa.instr_words() + R + 1
    if ins["op"] == "END":
        return fetch
    issue = _issue_cycles(f, n)
    transposed = ins["op"] in ("FWD_RELU", "FWD_ERR") or (ins["op"] == "GRAD" and f.get("twrite", 0))
    mac_lat, taps, drain = _latencies(n, weight_width)
    xp = TileTransposer.latency
    tail = ((R - 1) + mac_lat + n + R + drain
            + max(max(taps.values()), taps[ins["op"]] + xp + n if transposed else 0))
    return fetch + issue + tail


def estimate_cycles(program: Program, train: bool = True) -> dict:
    """Per-phase and total cycle estimate of one run.

    Returns
    -------
    dict
        ``phases``: list of ``{"name", "op", "cycles", "macs", "gemm_cycles"}`` (END included as
        ``"end"``), ``total`` cycles, ``macs`` (useful MACs), ``gemm_cycles`` (issue cycles),
        ``utilization`` (useful MACs / (total cycles * N * N)) and ``gemm_utilization``
        (useful MACs / (issue cycles * N * N)).
    """
    n = program.n
    return summarize_phases(
        program, train, lambda ins: instruction_cycles(ins, n, program.weight_width),
        lambda ins: 0 if ins["op"] == "END" else _issue_cycles(ins["fields"], n), macs_per_cycle=n * n)


def summarize_phases(program: Program, train: bool, cycles_of, gemm_cycles_of, macs_per_cycle: int) -> dict:
    """The estimate dict of one run (see :func:`estimate_cycles`) from per-instruction models.

    ``cycles_of(ins)`` and ``gemm_cycles_of(ins)`` give an instruction's cycles and its cycles
    of MAC issue; ``macs_per_cycle`` is the engine's peak (``N * N`` for the array, 1 for the
    serial engine), the denominator of both utilizations.
    """
    lo, hi = program.entry_range(train)
    phases = [{"name": ins["name"], "op": ins["op"], "cycles": cycles_of(ins), "macs": ins["macs"],
               "gemm_cycles": gemm_cycles_of(ins)} for ins in program.instructions[lo:hi + 1]]
    total = sum(p["cycles"] for p in phases)
    macs = sum(p["macs"] for p in phases)
    gemm = sum(p["gemm_cycles"] for p in phases)
    return {"phases": phases, "total": total, "macs": macs, "gemm_cycles": gemm,
            "utilization": macs / (total * macs_per_cycle),
            "gemm_utilization": macs / (gemm * macs_per_cycle) if gemm else 0.0}

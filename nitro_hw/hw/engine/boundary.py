"""The engines' boundary: command opcodes, CSR words, ports and memory-depth checks.

Shared by :class:`~nitro_hw.hw.engine.TrainingEngine` and
:class:`~nitro_hw.hw.engine.SerialEngine`, which speak the same protocol (documented in
:mod:`nitro_hw.hw.engine.core`) through the same ports, so one host
(:mod:`nitro_hw.tb.engine_host`) drives both.
"""

from __future__ import annotations

from amaranth.lib.wiring import In, Out

from ...compiler import isa
from ...compiler.program import MAX_INSTRUCTIONS

__all__ = ["CMD_CLEAR", "CMD_READ", "CMD_RUN", "CMD_WRITE", "CSR_ADDR", "checked_depths", "engine_ports"]

CMD_WRITE, CMD_READ, CMD_RUN, CMD_CLEAR = 1, 2, 3, 4
#: Word addresses in the CSR memory.
CSR_ADDR = {"phase_cycles": 0, "run_cycles": MAX_INSTRUCTIONS, "step_count": MAX_INSTRUCTIONS + 1,
            "flags": MAX_INSTRUCTIONS + 2, "mac_steps": MAX_INSTRUCTIONS + 3, "mode": MAX_INSTRUCTIONS + 4}


def engine_ports(n: int, trace: bool = True) -> dict:
    """The members of an engine's signature: AXI-Stream in and out of ``32 * n`` bits, status
    outputs, and (with ``trace``) the trace port."""
    dw, a = 32 * n, isa.ADDR_BITS
    ports = {
        "s_axis_tdata": In(dw), "s_axis_tvalid": In(1), "s_axis_tready": Out(1),
        "s_axis_tlast": In(1),
        "m_axis_tdata": Out(dw), "m_axis_tvalid": Out(1), "m_axis_tready": In(1),
        "m_axis_tlast": Out(1),
        "busy": Out(1), "done": Out(1), "mode": Out(1),
        "step_count": Out(32), "cycle_count": Out(32), "flags": Out(8),
    }
    if trace:
        ports |= {"trace_valid": Out(1), "trace_tag": Out(8), "trace_index": Out(a), "trace_data": Out(dw)}
    return ports


def checked_depths(owner: str, lane_bits: dict[str, int], depths: dict[str, int] | None) -> dict[str, int]:
    """``depths`` with every memory of ``lane_bits`` present (1 word when missing), each checked.

    Raises
    ------
    ValueError
        A depth that is not an int in ``[1, 2**ADDR_BITS]`` (``owner`` names the engine).
    """
    depths = dict(depths or {})
    for name in lane_bits:
        d = depths.setdefault(name, 1)
        if not isinstance(d, int) or isinstance(d, bool) or not 1 <= d <= (1 << isa.ADDR_BITS):
            raise ValueError(f"{owner}: depths[{name!r}] must be in [1, {1 << isa.ADDR_BITS}], got {d!r}")
    return depths

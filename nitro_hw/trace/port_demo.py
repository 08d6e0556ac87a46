"""A tiny design with a trace port, to test trace capture from live simulation and from wave files."""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .port import trace_payload_layout


class TracePortDemo(wiring.Component):
    """Registers beats from ``i`` and emits them on the trace port ``trace`` (one-stage pipeline).

    Parameters
    ----------
    tag_width, lanes, lane_width, step_width : int
        The payload layout (:func:`nitro_hw.trace.port.trace_payload_layout`).

    Attributes
    ----------
    i : In(stream.Signature(layout))
        Beats to emit.
    trace : Out(stream.Signature(layout))
        The trace port, Verilog ports ``trace__valid``, ``trace__ready``, ``trace__payload``.
    """

    def __init__(self, tag_width: int = 8, lanes: int = 4, lane_width: int = 32, step_width: int = 0) -> None:
        self.layout = trace_payload_layout(tag_width, lanes, lane_width, step_width)
        super().__init__({"i": In(stream.Signature(self.layout)),
                          "trace": Out(stream.Signature(self.layout))})

    @property
    def latency(self) -> int:
        """Cycles from an accepted beat to its appearance on ``trace``."""
        return 1

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.i.ready.eq(~self.trace.valid | self.trace.ready)
        with m.If(self.i.ready):
            m.d.sync += self.trace.valid.eq(self.i.valid)
            with m.If(self.i.valid):
                m.d.sync += self.trace.payload.eq(self.i.payload)
        return m

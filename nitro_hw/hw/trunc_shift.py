"""Truncating division by a runtime power of two, as a streaming unit."""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out


class TruncatingShift(wiring.Component):
    """``tdiv(a, 2**shift)``: division by a power of two, truncated toward zero.

    An arithmetic right shift rounds toward minus infinity; NITRO-D truncates toward
    zero (spec §0), so a negative dividend is biased by ``2**shift - 1`` before the
    shift. One result per cycle, fully pipelined.

    Parameters
    ----------
    width : int
        Width of the signed dividend and of the result (default 32).

    Attributes
    ----------
    i : In(stream.Signature(signed(width)))
        Dividends.
    o : Out(stream.Signature(signed(width)))
        Quotients, in input order, :attr:`latency` cycles after acceptance when
        ``o.ready`` stays high.
    shift : In(unsigned(ceil(log2(width))))
        The exponent ``k`` of the divisor ``2**k``; hold it stable while data flows.
    """

    def __init__(self, width: int = 32):
        if not isinstance(width, int) or not 2 <= width <= 64:
            raise ValueError(f"TruncatingShift: width must be an int in [2, 64], got {width!r}")
        self.width = width
        super().__init__({
            "i": In(stream.Signature(signed(width))),
            "o": Out(stream.Signature(signed(width))),
            "shift": In(range(width)),
        })

    @property
    def latency(self) -> int:
        """Cycles from an accepted input to its output (with ``o.ready`` high)."""
        return 1

    def elaborate(self, platform):
        m = Module()
        a = self.i.payload
        bias = Signal(unsigned(self.width))
        m.d.comb += bias.eq(Mux(a < 0, (Const(1, unsigned(self.width + 1)) << self.shift) - 1, 0))
        quotient = (a + bias) >> self.shift

        m.d.comb += self.i.ready.eq(~self.o.valid | self.o.ready)
        with m.If(self.i.ready):
            m.d.sync += self.o.valid.eq(self.i.valid)
            with m.If(self.i.valid):
                m.d.sync += self.o.payload.eq(quotient)
        return m

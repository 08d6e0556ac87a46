"""A single-port RAM (one address for reads and writes): iCE40 SPRAM or generic block RAM.

The serial engine (:mod:`nitro_hw.hw.engine.serial`) reads or writes each of its memories at
most once a cycle, so every memory is single-ported. That is what the iCE40 UP5K's four
SPRAM blocks (SB_SPRAM256KA, 16 K x 16 bits each) offer; Yosys does not infer them from an
Amaranth memory (Amaranth always emits an initial value, and an SPRAM has none), so with the
``ICE40`` platform a RAM built with ``spram=True`` is a grid of SB_SPRAM256KA instances: one
column per 16 bits of the word, one row per 16 K words. Without it (simulation, ``rtl/``,
other targets, or ``spram=False``) it is an Amaranth memory that Yosys maps to block RAM.

Both forms behave the same way for every use the engine makes of them: the word at the
address of cycle ``t`` is on ``r_data`` in cycle ``t + 1`` when ``w_en`` was low in cycle
``t``; after a write, ``r_data`` is undefined until the next read (the generic form keeps the
old word, the SPRAM behavioural model outputs the written one), and the engine never consumes it.
``sim/models/SB_SPRAM256KA.v`` is a behavioural model of the primitive (the Lattice model is
not open), so the SPRAM form can be simulated against the same golden model.
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Array, Cat, ClockSignal, Const, Instance, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

__all__ = ["ICE40", "SPRAM_DEPTH", "SPRAM_WIDTH", "MemoryPlatform", "SinglePortRam", "spram_count"]

#: Words and bits of one SB_SPRAM256KA.
SPRAM_DEPTH, SPRAM_WIDTH = 16384, 16


@dataclass(frozen=True)
class MemoryPlatform:
    """A minimal Amaranth ``platform`` naming the single-port RAM primitive to instantiate.

    ``hard_multiplier`` is ``None``: the iCE40 flow lets ``synth_ice40 -dsp`` infer SB_MAC16.
    """

    spram: str
    hard_multiplier: None = None


#: Verilog for the iCE40 UP5K: ``SinglePortRam(spram=True)`` on SB_SPRAM256KA instances.
ICE40 = MemoryPlatform("SB_SPRAM256KA")


def spram_count(width: int, depth: int) -> int:
    """SB_SPRAM256KA blocks of a ``width`` x ``depth`` RAM."""
    return -(-width // SPRAM_WIDTH) * -(-depth // SPRAM_DEPTH)


class SinglePortRam(wiring.Component):
    """``depth`` words of ``width`` bits, one address, read latency 1.

    Parameters
    ----------
    width, depth : int
        Word size and number of words (both >= 1).
    spram : bool
        Build it from SB_SPRAM256KA blocks when elaborated with :data:`ICE40`.

    Attributes
    ----------
    addr : In(range(depth))
    w_en : In(1)
        Write ``w_data`` to ``addr`` at the clock edge (no read in that cycle).
    w_data : In(width)
    r_data : Out(width)
        The word at the previous cycle's ``addr`` (when it was a read).
    """

    def __init__(self, width: int, depth: int, spram: bool = False):
        for name, v in (("width", width), ("depth", depth)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"SinglePortRam: {name} must be a positive int, got {v!r}")
        self.width, self.depth, self.spram = width, depth, bool(spram)
        super().__init__({"addr": In(range(max(depth, 2))), "w_en": In(1), "w_data": In(width),
                          "r_data": Out(width)})

    def elaborate(self, platform):
        m = Module()
        if self.spram and getattr(platform, "spram", None) == "SB_SPRAM256KA":
            self._spram_grid(m)
            return m
        mem = m.submodules.mem = Memory(shape=self.width, depth=self.depth, init=[])
        wp = mem.write_port()
        rp = mem.read_port(transparent_for=())
        m.d.comb += [wp.addr.eq(self.addr), wp.en.eq(self.w_en), wp.data.eq(self.w_data),
                     rp.addr.eq(self.addr), rp.en.eq(~self.w_en), self.r_data.eq(rp.data)]
        return m

    def _spram_grid(self, m: Module) -> None:
        rows = -(-self.depth // SPRAM_DEPTH)
        cols = -(-self.width // SPRAM_WIDTH)
        lo = self.addr[:14]
        row = self.addr[14:] if rows > 1 else Const(0, 1)
        row_q = Signal.like(row, name="row_q")  # the row whose word is on the outputs
        m.d.sync += row_q.eq(row)
        wdata = Signal(cols * SPRAM_WIDTH)
        m.d.comb += wdata.eq(self.w_data)
        outs = []
        for r in range(rows):
            words = []
            for c in range(cols):
                dout = Signal(SPRAM_WIDTH, name=f"dout_r{r}c{c}")
                m.submodules[f"spram_r{r}c{c}"] = Instance(
                    "SB_SPRAM256KA",
                    i_ADDRESS=lo, i_DATAIN=wdata[c * SPRAM_WIDTH:(c + 1) * SPRAM_WIDTH],
                    i_MASKWREN=Const(0b1111, 4), i_WREN=self.w_en & (row == r), i_CHIPSELECT=Const(1, 1),
                    i_CLOCK=ClockSignal("sync"), i_STANDBY=Const(0, 1), i_SLEEP=Const(0, 1),
                    i_POWEROFF=Const(1, 1), o_DATAOUT=dout)
                words.append(dout)
            outs.append(Cat(*words)[:self.width])
        m.d.comb += self.r_data.eq(Array(outs)[row_q] if rows > 1 else outs[0])

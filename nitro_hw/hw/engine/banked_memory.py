"""A memory built from block-RAM-sized banks whose outputs are registered before they are muxed."""

from __future__ import annotations

from amaranth.hdl import Array, Module, Signal, unsigned
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

__all__ = ["BankedMemory", "READ_LATENCY"]

#: Cycles from a read address to its data on ``r_data``.
READ_LATENCY = 3


class BankedMemory(wiring.Component):
    """One read port and one write port over ``ceil(depth / bank_depth)`` banks.

    Why: an ECP5 DP16KD without its output register (Yosys does not infer it) has a
    clock-to-output delay of about 5.8 ns in nextpnr's model, and a deep memory is several
    block RAMs deep, whose outputs Yosys muxes right after them. Here every bank's output is
    registered first (the register can sit next to the block RAM), then the bank is selected
    and the result registered again: no path leaves a block RAM through logic.

    Read pipeline (free-running, no enable: nothing stalls it, so no enable net fans out to
    the block RAMs): the banks latch ``r_addr``; bank outputs and the selected bank number
    are registered; the selected word is registered onto ``r_data``. The word at the address
    of cycle ``t`` is on ``r_data`` in cycle ``t +`` :data:`READ_LATENCY`. Reads are not
    transparent to writes of the same cycle.

    Parameters
    ----------
    width : int
        Bits per word.
    depth : int
        Words (>= 1).
    bank_depth : int
        Words per bank, a power of two (512: a DP16KD in 512 x 36 mode per 36 bits of width).

    Attributes
    ----------
    r_addr : In
        Read address.
    r_data : Out(width)
        Read data, :data:`READ_LATENCY` cycles after its address.
    w_addr, w_en, w_data : In
        Write port: ``mem[w_addr] = w_data`` at the clock edge when ``w_en`` is high.
    """

    def __init__(self, width: int, depth: int, bank_depth: int = 512):
        for name, v in (("width", width), ("depth", depth), ("bank_depth", bank_depth)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"BankedMemory: {name} must be a positive int, got {v!r}")
        if bank_depth & (bank_depth - 1):
            raise ValueError(f"BankedMemory: bank_depth must be a power of two, got {bank_depth}")
        self.width, self.depth, self.bank_depth = width, depth, bank_depth
        self.banks = -(-depth // bank_depth)
        self.addr_bits = max(1, (depth - 1).bit_length())
        super().__init__({
            "r_addr": In(unsigned(self.addr_bits)), "r_data": Out(width),
            "w_addr": In(unsigned(self.addr_bits)), "w_en": In(1), "w_data": In(width),
        })

    @property
    def latency(self) -> int:
        """Read latency in cycles (:data:`READ_LATENCY`)."""
        return READ_LATENCY

    def elaborate(self, platform):
        m = Module()
        lo = min(self.addr_bits, self.bank_depth.bit_length() - 1)  # address bits inside a bank
        q = []
        for b in range(self.banks):
            words = min(self.bank_depth, self.depth - b * self.bank_depth)
            mem = m.submodules[f"bank{b}"] = Memory(shape=unsigned(self.width), depth=words, init=[])
            rp, wp = mem.read_port(domain="sync"), mem.write_port()
            hit = (self.w_addr[lo:] == b) if self.banks > 1 else 1
            m.d.comb += [rp.addr.eq(self.r_addr[:lo]),
                         wp.addr.eq(self.w_addr[:lo]), wp.data.eq(self.w_data), wp.en.eq(self.w_en & hit)]
            qb = Signal(self.width, name=f"bank{b}_q")
            m.d.sync += qb.eq(rp.data)
            q.append(qb)
        out = Signal(self.width, name="out")
        if self.banks > 1:
            sel1 = Signal(range(self.banks))
            sel2 = Signal(range(self.banks))
            m.d.sync += [sel1.eq(self.r_addr[lo:]), sel2.eq(sel1), out.eq(Array(q)[sel2])]
        else:
            m.d.sync += out.eq(q[0])
        m.d.comb += self.r_data.eq(out)
        return m

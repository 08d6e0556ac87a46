"""Double-buffered ``N x N`` tile transposer: rows in, columns written to a memory port."""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .. import KEEP


class TileTransposer(wiring.Component):
    """Collects the ``N`` rows of a tile, then writes its ``N`` columns, one per cycle.

    Row ``r`` of a tile arrives with ``row_valid``, ``row_index = r`` and ``row_data`` (lane
    ``c`` = element ``[r][c]``), in order ``r = 0 .. N-1``, at most one per cycle. The last row
    also carries ``row_base``. The inputs are registered (the rows come from lanes spread over
    the die, and a row's write enable reaches ``N * lane_bits`` flip-flops), then, from
    :attr:`latency` ``+ 1`` cycles after the last row on the inputs, ``col_valid`` is high for
    ``N`` cycles with ``col_addr = row_base + c`` and ``col_data`` lane ``r`` = element
    ``[r][c]``, for ``c = 0 .. N-1``. Two banks: the next tile's rows may arrive while the
    columns are written. Rows must not arrive faster than one tile per ``N`` cycles (one row
    per cycle guarantees it).

    The output bank is a set of ``N`` shift registers, one per row, shifted by one element per
    column written, so column ``c`` is always the low element of every row: no ``N``-way column
    mux. The column outputs are registered (they go to a memory's write port on the other side
    of the die).

    Parameters
    ----------
    n : int
        Tile size.
    lane_bits : int
        Bits per element.
    addr_bits : int
        Width of the addresses.
    """

    def __init__(self, n: int, lane_bits: int, addr_bits: int = 16):
        self.n, self.lane_bits = n, lane_bits
        super().__init__({
            "row_valid": In(1),
            "row_index": In(unsigned(max(1, (n - 1).bit_length()))),
            "row_data": In(unsigned(n * lane_bits)),
            "row_base": In(unsigned(addr_bits)),
            "col_valid": Out(1),
            "col_addr": Out(unsigned(addr_bits)),
            "col_data": Out(unsigned(n * lane_bits)),
            "busy": Out(1),
        })

    #: Register stages a tile passes besides the bank: the input register and the column
    #: output register.
    latency = 2

    def elaborate(self, platform):
        m = Module()
        n, lb = self.n, self.lane_bits
        row_valid = Signal()
        row_index = Signal.like(self.row_index)
        row_data = Signal.like(self.row_data)
        row_base = Signal.like(self.row_base)
        m.d.sync += [row_valid.eq(self.row_valid), row_index.eq(self.row_index), row_data.eq(self.row_data),
                     row_base.eq(self.row_base)]
        banks = [[Signal(unsigned(n * lb), name=f"bank{b}_row{r}") for r in range(n)] for b in range(2)]
        wbank = Signal()
        obank = Signal()
        active = Signal()
        col = Signal(range(n))
        base = Signal.like(self.col_addr)

        # Every row register of a bank has its own registered load and shift enables (keep),
        # computed a cycle ahead from the inputs and the next state, so no enable net reaches
        # N * lane_bits flip-flops from a shared gate.
        tile_done = Signal()  # the input register holds the last row of a tile
        m.d.comb += tile_done.eq(row_valid & (row_index == n - 1))
        wbank_next = Signal()
        obank_next = Signal()
        active_next = Signal()
        m.d.comb += [wbank_next.eq(wbank ^ tile_done), obank_next.eq(Mux(tile_done, wbank, obank)),
                     active_next.eq(tile_done | (active & (col != n - 1)))]
        for b in range(2):
            for r in range(n):
                load = Signal(name=f"bank{b}_row{r}_load", attrs=KEEP)
                shift = Signal(name=f"bank{b}_row{r}_shift", attrs=KEEP)
                m.d.sync += [load.eq(self.row_valid & (wbank_next == b) & (self.row_index == r)),
                             shift.eq(active_next & (obank_next == b))]
                with m.If(load):
                    m.d.sync += banks[b][r].eq(row_data)
                with m.Elif(shift):  # the next column moves into the low element
                    m.d.sync += banks[b][r].eq(banks[b][r] >> lb)
        with m.If(tile_done):
            m.d.sync += [wbank.eq(~wbank), obank.eq(wbank), active.eq(1), col.eq(0), base.eq(row_base)]
        with m.Elif(active):
            m.d.sync += col.eq(col + 1)
            with m.If(col == n - 1):
                m.d.sync += active.eq(0)

        # column registers: lane r = the low element of row r of the output bank
        m.d.sync += [
            self.col_valid.eq(active),
            self.col_addr.eq(base + col),
            self.col_data.eq(Cat(*[Mux(obank, banks[1][r][:lb], banks[0][r][:lb]) for r in range(n)])),
        ]
        m.d.comb += self.busy.eq(active | row_valid | self.col_valid)
        return m

"""Double-buffered ``N x N`` tile transposer: rows in, columns written to a memory port."""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Module, Signal, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out


class TileTransposer(wiring.Component):
    """Collects the ``N`` rows of a tile, then writes its ``N`` columns, one per cycle.

    Row ``r`` of a tile arrives with ``row_valid``, ``row_index = r`` and ``row_data`` (lane
    ``c`` = element ``[r][c]``), in order ``r = 0 .. N-1``, at most one per cycle. The last row
    also carries ``row_base``. The inputs are registered (:attr:`latency` cycles; the rows come
    from lanes spread over the die, and a row's write enable reaches ``N * lane_bits`` flip-flops),
    then, in the ``N`` cycles after the last row's register, ``col_valid`` is high with
    ``col_addr = row_base + c`` and ``col_data`` lane ``r`` = element ``[r][c]``, for ``c = 0 ..
    N-1``. Two banks: the next tile's rows may arrive while the columns are written. Rows must
    not arrive faster than one tile per ``N`` cycles (one row per cycle guarantees it).

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

    #: Cycles from a row on the inputs to its input register.
    latency = 1

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
        col = Signal(range(n + 1))
        base = Signal.like(self.col_addr)

        for b in range(2):
            with m.If(row_valid & (wbank == b)):
                with m.Switch(row_index):
                    for r in range(n):
                        with m.Case(r):
                            m.d.sync += banks[b][r].eq(row_data)
        with m.If(row_valid & (row_index == n - 1)):
            m.d.sync += [wbank.eq(~wbank), obank.eq(wbank), active.eq(1), col.eq(0), base.eq(row_base)]
        with m.Elif(active):
            m.d.sync += col.eq(col + 1)
            with m.If(col == n - 1):
                m.d.sync += active.eq(0)

        # column c of the output bank: lane r = bank[r][c]
        cols = []
        for c in range(n):
            lanes = []
            for r in range(n):
                lanes.append(Array([banks[0][r], banks[1][r]])[obank][c * lb:(c + 1) * lb])
            cols.append(Cat(*lanes))
        m.d.comb += [
            self.col_valid.eq(active),
            self.col_addr.eq(base + col),
            self.col_data.eq(Array(cols)[col[:max(1, (n - 1).bit_length())]]),
            self.busy.eq(active | row_valid),
        ]
        return m

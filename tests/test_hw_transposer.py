"""TileTransposer in the Amaranth simulator: rows in, columns out, double-buffered."""

from __future__ import annotations

import random

import pytest
from amaranth.sim import Simulator

from nitro_hw.hw.engine.transposer import TileTransposer


@pytest.mark.parametrize("n, lane_bits, gap", [(4, 8, 0), (8, 16, 0), (4, 8, 3)])
def test_columns_follow_the_last_row_of_each_tile(n, lane_bits, gap):
    # tiles back to back (gap 0: one row per cycle, the fastest the engine sends them) or with
    # idle cycles between rows; every column must appear once, in order, at its address
    dut = TileTransposer(n, lane_bits, addr_bits=12)
    rng = random.Random(n * 100 + gap)
    tiles = [[[rng.randrange(1 << lane_bits) for _ in range(n)] for _ in range(n)] for _ in range(3)]
    bases = [rng.randrange(1 << 11) for _ in tiles]
    cols = []     # (cycle, addr, lanes)
    last_row = []  # cycle the last row of each tile was presented
    busy_at_end = []

    def pack(values):
        return sum(v << (k * lane_bits) for k, v in enumerate(values))

    async def bench(ctx):
        cycle = 0

        async def tick():
            nonlocal cycle
            await ctx.tick()
            cycle += 1
            if ctx.get(dut.col_valid):
                word = ctx.get(dut.col_data)
                lanes = [(word >> (k * lane_bits)) & ((1 << lane_bits) - 1) for k in range(n)]
                cols.append((cycle, ctx.get(dut.col_addr), lanes))
                assert ctx.get(dut.busy)

        for t, tile in enumerate(tiles):
            for r, row in enumerate(tile):
                ctx.set(dut.row_valid, 1)
                ctx.set(dut.row_index, r)
                ctx.set(dut.row_data, pack(row))
                ctx.set(dut.row_base, bases[t] if r == n - 1 else 0)
                if r == n - 1:
                    last_row.append(cycle)
                await tick()
                ctx.set(dut.row_valid, 0)
                for _ in range(gap):
                    await tick()
        ctx.set(dut.row_valid, 0)
        for _ in range(2 * n + 4):
            await tick()
        busy_at_end.append(ctx.get(dut.busy))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()

    want = []
    for t, tile in enumerate(tiles):
        for c in range(n):
            # the row enters the input register at the next edge, the bank one edge later, then the
            # column output register
            due = last_row[t] + TileTransposer.latency + 1 + c
            want.append((due, bases[t] + c, [tile[r][c] for r in range(n)]))
    assert cols == want
    assert busy_at_end == [0]

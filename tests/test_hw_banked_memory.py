"""BankedMemory in the Amaranth simulator: a free-running read pipeline over block-RAM banks."""

from __future__ import annotations

import random

import pytest
from amaranth.sim import Simulator

from nitro_hw.hw.engine.banked_memory import BANK_GROUP, READ_LATENCY, BankedMemory


@pytest.mark.parametrize("depth, bank_depth", [(1, 512), (37, 512), (100, 16), (64, 32), (300, 16), (48, 8)])
def test_reads_return_the_word_written_latency_cycles_later(depth, bank_depth):
    dut = BankedMemory(12, depth, bank_depth)
    assert dut.latency == READ_LATENCY == 5
    assert dut.banks == -(-depth // bank_depth)
    assert dut.groups == -(-dut.banks // BANK_GROUP)
    rng = random.Random(depth)
    model = [0] * depth  # memories start at zero
    got, want = [], []

    async def bench(ctx):
        pending = []  # (cycle the data is due, expected word)
        for cycle in range(6 * depth + 40):
            write = rng.random() < 0.5
            wa, wd = rng.randrange(depth), rng.randrange(1 << 12)
            ra = rng.randrange(depth)
            if write and ra == wa:  # undefined on the FPGA (no_rw_check): the engine never does it
                ra = (ra + 1) % depth
            ctx.set(dut.w_en, int(write))
            ctx.set(dut.w_addr, wa)
            ctx.set(dut.w_data, wd)
            ctx.set(dut.r_addr, ra)
            pending.append((cycle + READ_LATENCY, model[ra]))  # sees every earlier cycle's write
            if write:
                model[wa] = wd
            await ctx.tick()
            while pending and pending[0][0] == cycle + 1:
                want.append(pending.pop(0)[1])
                got.append(ctx.get(dut.r_data))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert len(got) > 4 * depth
    assert got == want


@pytest.mark.parametrize("kw", [{"width": 0, "depth": 4}, {"width": 8, "depth": 0},
                                {"width": 8, "depth": 4, "bank_depth": 48}, {"width": True, "depth": 4}])
def test_bad_parameters_are_rejected(kw):
    with pytest.raises(ValueError, match="BankedMemory"):
        BankedMemory(**kw)

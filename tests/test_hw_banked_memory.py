"""BankedMemory in the Amaranth simulator: a free-running read pipeline over block-RAM banks."""

from __future__ import annotations

import random

import pytest
from amaranth.sim import Simulator

from nitro_hw.hw.engine.banked_memory import BANK_GROUP, READ_LATENCY, BankedMemory


@pytest.mark.parametrize("slice_width", [36, 5])  # 5: a 12-bit word over three block RAMs per bank
@pytest.mark.parametrize("depth, bank_depth", [(1, 512), (37, 512), (100, 16), (64, 32), (300, 16), (48, 8)])
def test_reads_return_the_word_written_latency_cycles_later(depth, bank_depth, slice_width):
    dut = BankedMemory(12, depth, bank_depth, slice_width=slice_width)
    assert dut.latency == READ_LATENCY == 6
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


@pytest.mark.parametrize("poison", [False, True])
@pytest.mark.parametrize("depth, bank_depth, slice_width", [(1, 512, 36), (100, 16, 36), (100, 16, 7)])
def test_colliding_read_returns_old_word_or_its_complement_when_poisoned(depth, bank_depth, slice_width,
                                                                          poison):
    # the simulation check behind the co-simulation's claim that no colliding read is consumed
    dut = BankedMemory(12, depth, bank_depth, poison_collisions=poison, slice_width=slice_width)
    rng = random.Random(7)
    olds = []  # the word each colliding read replaces
    got = []

    async def bench(ctx):
        model = [0] * depth
        for _ in range(30):
            a, new = rng.randrange(depth), rng.randrange(1 << 12)
            ctx.set(dut.w_en, 1)
            ctx.set(dut.w_addr, a)
            ctx.set(dut.w_data, new)
            ctx.set(dut.r_addr, a)
            olds.append(model[a])
            model[a] = new
            await ctx.tick()
            ctx.set(dut.w_en, 0)
            for _ in range(READ_LATENCY - 1):
                await ctx.tick()
            got.append(ctx.get(dut.r_data))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    want = [(old ^ 0xFFF) if poison else old for old in olds]
    assert got == want


@pytest.mark.parametrize("kw", [{"width": 0, "depth": 4}, {"width": 8, "depth": 0},
                                {"width": 8, "depth": 4, "bank_depth": 48}, {"width": True, "depth": 4},
                                {"width": 8, "depth": 4, "poison_collisions": 1},
                                {"width": 8, "depth": 4, "slice_width": 0}])
def test_bad_parameters_are_rejected(kw):
    with pytest.raises(ValueError, match="BankedMemory"):
        BankedMemory(**kw)


"""BankedMemory in the Amaranth simulator: a free-running read pipeline over block-RAM banks."""

from __future__ import annotations

import random

import pytest
from amaranth.sim import Simulator

from nitro_hw.hw.engine.banked_memory import BANK_GROUP, READ_LATENCY, WRITE_DELAY, BankedMemory


@pytest.mark.parametrize("slice_width", [36, 5])  # 5: a 12-bit word over three block RAMs per bank
@pytest.mark.parametrize("depth, bank_depth, copies", [(1, 512, 0), (37, 512, 1), (100, 16, 0), (64, 32, 0),
                                                       (300, 16, 2), (48, 8, 0)])
def test_reads_return_the_word_written_latency_cycles_later(depth, bank_depth, copies, slice_width):
    dut = BankedMemory(12, depth, bank_depth, slice_width=slice_width, read_copies=copies)
    assert dut.latency == READ_LATENCY == 6
    assert WRITE_DELAY == 1
    assert dut.banks == -(-depth // bank_depth)
    assert dut.groups == -(-dut.banks // BANK_GROUP)
    rng = random.Random(depth)
    model = [0] * depth  # memories start at zero
    got, want = [], []

    async def bench(ctx):
        pending = []  # (cycle the data is due, expected word)
        writes = []  # the write presented in each cycle, or None
        for cycle in range(6 * depth + 40):
            if cycle >= 2 and writes[cycle - 2]:  # a read sees the writes presented 2+ cycles earlier
                a, d = writes[cycle - 2]
                model[a] = d
            write = rng.random() < 0.5
            wa, wd = rng.randrange(depth), rng.randrange(1 << 12)
            ra = rng.randrange(depth)
            # a read one cycle after a write of its address meets it at the block RAM: undefined
            # on the FPGA (no_rw_check), the engine never does it (the simulation returns the old word)
            if cycle >= 1 and writes[cycle - 1] and ra == writes[cycle - 1][0]:
                ra = (ra + 1) % depth
            writes.append((wa, wd) if write else None)
            ctx.set(dut.w_en, int(write))
            ctx.set(dut.w_addr, wa)
            ctx.set(dut.w_data, wd)
            ctx.set(dut.r_addr, ra)
            pending.append((cycle + READ_LATENCY, model[ra]))
            await ctx.tick()
            while pending and pending[0][0] == cycle + 1:
                want.append(pending.pop(0)[1])
                got.append(ctx.get(dut.r_data))
                # every copy of the output register holds the same word
                assert [ctx.get(getattr(dut, f"r_data_copy{k}")) for k in range(copies)] == [got[-1]] * copies

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
            await ctx.tick()
            ctx.set(dut.w_en, 0)
            ctx.set(dut.r_addr, a)  # WRITE_DELAY cycles after the write: they meet at the block RAM
            olds.append(model[a])
            model[a] = new
            await ctx.tick()
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
                                {"width": 8, "depth": 4, "slice_width": 0},
                                {"width": 8, "depth": 4, "read_copies": -1},
                                {"width": 8, "depth": 4, "read_copies": True}])
def test_bad_parameters_are_rejected(kw):
    with pytest.raises(ValueError, match="BankedMemory"):
        BankedMemory(**kw)


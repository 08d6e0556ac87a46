"""SinglePortRam: read latency 1, one address; the iCE40 form is a grid of SB_SPRAM256KA instances."""

import random

import pytest
from amaranth.back import verilog
from amaranth.sim import Simulator

from nitro_hw.hw.single_port_ram import ICE40, SinglePortRam, spram_count


def test_reads_return_the_last_write_one_cycle_later():
    dut = SinglePortRam(12, 40)
    rnd = random.Random(3)
    model = [0] * 40

    async def bench(ctx):
        for _ in range(300):
            addr = rnd.randrange(40)
            ctx.set(dut.addr, addr)
            if rnd.random() < 0.4:
                value = rnd.randrange(1 << 12)
                ctx.set(dut.w_en, 1)
                ctx.set(dut.w_data, value)
                await ctx.tick()
                model[addr] = value
            else:
                ctx.set(dut.w_en, 0)
                await ctx.tick()
                assert ctx.get(dut.r_data) == model[addr]

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


@pytest.mark.parametrize("width, depth, blocks",
                         [(8, 7936, 1), (32, 2048, 2), (16, 16384, 1), (20, 20000, 4)])
def test_ice40_form_is_a_grid_of_sprams(width, depth, blocks):
    assert spram_count(width, depth) == blocks
    text = verilog.convert(SinglePortRam(width, depth, spram=True), name="top", platform=ICE40)
    assert text.count("SB_SPRAM256KA ") == blocks
    # without the platform, or without spram=True, it is a generic memory (block RAM)
    assert "SB_SPRAM256KA" not in verilog.convert(SinglePortRam(width, depth, spram=True), name="top")
    assert "SB_SPRAM256KA" not in verilog.convert(SinglePortRam(width, depth), name="top", platform=ICE40)


def test_rejects_bad_sizes():
    for bad in (0, -1, 2.0, True):
        with pytest.raises(ValueError, match="width"):
            SinglePortRam(bad, 4)
        with pytest.raises(ValueError, match="depth"):
            SinglePortRam(4, bad)

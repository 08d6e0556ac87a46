"""TruncatingShift in the Amaranth simulator against the golden tdiv."""

import random

import pytest
from amaranth.sim import Simulator

from nitro_hw.golden.primitives import INT32_MAX, INT32_MIN, tdiv
from nitro_hw.hw.trunc_shift import TruncatingShift


def _simulate(dut, testbench):
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.run()


def test_corners_every_shift_and_latency():
    dut = TruncatingShift(32)
    values = [INT32_MIN, INT32_MIN + 1, -3, -2, -1, 0, 1, 2, 3, INT32_MAX - 1, INT32_MAX]
    got = []

    async def testbench(ctx):
        ctx.set(dut.o.ready, 1)
        for k in range(32):
            ctx.set(dut.shift, k)
            for v in values + [-(1 << k), -(1 << k) + 1, (1 << k) - 1]:
                ctx.set(dut.i.valid, 1)
                ctx.set(dut.i.payload, v)
                await ctx.tick()
                ctx.set(dut.i.valid, 0)
                # the result is valid exactly `latency` cycles after acceptance
                for _ in range(dut.latency - 1):
                    assert not ctx.get(dut.o.valid)
                    await ctx.tick()
                assert ctx.get(dut.o.valid)
                got.append((v, k, ctx.get(dut.o.payload)))

    _simulate(dut, testbench)
    for v, k, q in got:
        assert q == tdiv(v, 1 << k), (v, k, q)
    assert len(got) == 32 * 14


def test_random_stream_with_stalls_keeps_order():
    dut = TruncatingShift(32)
    rng = random.Random(7)
    k = 5
    inputs = [rng.randint(INT32_MIN, INT32_MAX) for _ in range(300)] + [-(1 << k) * n for n in range(20)]
    out = []

    async def producer(ctx):
        ctx.set(dut.shift, k)
        for v in inputs:
            while rng.random() < 0.3:
                await ctx.tick()
            ctx.set(dut.i.valid, 1)
            ctx.set(dut.i.payload, v)
            await ctx.tick().until(dut.i.ready)
            ctx.set(dut.i.valid, 0)

    async def consumer(ctx):
        while len(out) < len(inputs):
            ready = rng.random() < 0.6
            ctx.set(dut.o.ready, ready)
            _, _, valid, payload = await ctx.tick().sample(dut.o.valid, dut.o.payload)
            if ready and valid:
                out.append(payload)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(producer)
    sim.add_testbench(consumer)
    sim.run_until(1e-6 * 20000)
    assert out == [tdiv(v, 1 << k) for v in inputs]


@pytest.mark.parametrize("width", [1, 65, "32"])
def test_bad_width_is_rejected(width):
    with pytest.raises(ValueError, match="width"):
        TruncatingShift(width)

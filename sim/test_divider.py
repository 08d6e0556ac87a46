"""cocotb testbench of TruncatingDivider: tdiv(a, d) by a runtime reciprocal, against the golden tdiv.

Driver -> DUT -> sink with random valid gaps and ready stalls; the golden model predicts
every quotient and an in-order checker compares the whole sequence (nothing lost or
duplicated). The divisor changes between chunks without draining the pipeline (the
configuration is sampled with each dividend). Parameters (``NITRO_TB_PARAMS``): ``width``,
``latency``.
"""

import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge

from nitro_hw.golden.primitives import tdiv
from nitro_hw.hw.divider import TruncatingDivider, divider_constants
from nitro_hw.tb.runner import read_params
from nitro_hw.tb.streams import InOrderChecker, StreamDriver, StreamSink, to_signed


def _width() -> int:
    return int(read_params().get("width", 32))


def _latency() -> int:
    """The ``latency`` parameter if given, else the property of the Amaranth component."""
    params = read_params()
    return int(params.get("latency") or TruncatingDivider(width=_width()).latency)


async def _reset(dut):
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    dut.multiplier.value = 0
    dut.shift.value = 0
    dut.i__valid.value = 0
    dut.o__ready.value = 0
    await ClockCycles(dut.clk, 2)
    dut.rst.value = 0
    await RisingEdge(dut.clk)


def _corners(d: int, width: int) -> list[int]:
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    out = {lo, lo + 1, -2, -1, 0, 1, 2, hi - 1, hi}
    kmax = (hi + 1) // d
    for k in {1, 2, kmax - 1, kmax, kmax + 1}:
        for delta in (-1, 0, 1):
            for sign in (1, -1):
                v = sign * (k * d + delta)
                if lo <= v <= hi:
                    out.add(v)
    return sorted(out)


async def _run_chunks(dut, chunks: list[tuple[int, list[int]]], rng: random.Random,
                      idle: float, stall: float) -> None:
    """Send each ``(divisor, dividends)`` chunk (reconfiguring between chunks), check all."""
    width = _width()
    sink = StreamSink(dut, "o", dut.clk, rng, stall_prob=stall, decode=lambda r: to_signed(r, width))
    sink.start()
    checker = InOrderChecker("tdiv")
    driver = StreamDriver(dut, "i", dut.clk, rng, idle_prob=idle)
    total = 0
    for d, values in chunks:
        mult, shift = divider_constants(d, width)
        dut.multiplier.value = mult
        dut.shift.value = shift
        for v in values:
            checker.expect(tdiv(v, d))
        await driver.send(values)
        total += len(values)
    await sink.wait_for(total, timeout_cycles=50 * total + 100)
    await ClockCycles(dut.clk, 10)  # a duplicated value would show up here
    sink.stop()
    checker.check_all(sink.received)


@cocotb.test()
async def corners_every_divisor(dut):
    """Boundary dividends (INT_MIN/MAX, ±1, 0, k·d±1) for divisor 1 up to the largest."""
    width = _width()
    await _reset(dut)
    rng = random.Random(1)
    top = (1 << width) - 1
    divisors = [1, 2, 3, 7, 127, 2304, 200704, 327680, 1179648, 79626240, (1 << (width - 1)) - 1,
                1 << (width - 1), (1 << (width - 1)) + 1, top]
    divisors = [d for d in divisors if d <= top]
    await _run_chunks(dut, [(d, _corners(d, width)) for d in divisors], rng, 0.0, 0.0)


@cocotb.test()
async def random_with_backpressure(dut):
    """Random divisors and dividends, random valid gaps and ready stalls."""
    width = _width()
    await _reset(dut)
    rng = random.Random(2)
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    chunks = []
    for _ in range(30):
        d = rng.choice([rng.randint(1, 1 << 16), rng.randint(1, (1 << width) - 1),
                        512 * 640 * 3 ** rng.randint(0, 5)])
        values = [rng.randint(lo, hi) for _ in range(60)]
        values += [max(lo, min(hi, rng.randint(-5, 5) * d + rng.randint(-1, 1))) for _ in range(20)]
        chunks.append((d, values))
    await _run_chunks(dut, chunks, rng, idle=0.3, stall=0.3)


@cocotb.test()
async def latency_back_to_back(dut):
    """With o.ready high, one dividend per cycle and each quotient exactly ``latency`` cycles later."""
    width = _width()
    latency = _latency()
    await _reset(dut)
    rng = random.Random(3)
    acc, out = [], []

    async def monitor():
        cycle = 0
        while True:
            await ReadOnly()
            if int(dut.i__valid.value) and int(dut.i__ready.value):
                acc.append(cycle)
            if int(dut.o__valid.value) and int(dut.o__ready.value):
                out.append(cycle)
            await RisingEdge(dut.clk)
            cycle += 1

    mon = cocotb.start_soon(monitor())
    values = [rng.randint(-(1 << (width - 1)), (1 << (width - 1)) - 1) for _ in range(100)]
    await _run_chunks(dut, [(6912, values)], rng, 0.0, 0.0)
    mon.cancel()
    assert len(acc) == len(out) == len(values)
    assert acc == list(range(acc[0], acc[0] + len(values))), "not one dividend per cycle"
    assert [o - a for a, o in zip(acc, out, strict=True)] == [latency] * len(values)

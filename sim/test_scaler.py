"""cocotb testbench of Scaler: NITRO-Scaling clamp(tdiv(z, SF), -127, 127) against the golden model.

Driver -> DUT -> sink with random valid gaps and ready stalls; the golden
``nitro_scaling`` predicts every output and an in-order checker compares the whole
sequence (nothing lost or duplicated). SF changes between chunks without draining.
Parameters (``NITRO_TB_PARAMS``): ``width``, ``latency``.
"""

import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge

from nitro_hw.golden.primitives import nitro_scaling
from nitro_hw.hw.divider import divider_constants
from nitro_hw.hw.scaler import Scaler
from nitro_hw.tb.runner import read_params
from nitro_hw.tb.streams import InOrderChecker, StreamDriver, StreamSink, to_signed

ZOO_SF = [2304, 6912, 12800, 25600, 51200, 131072, 200704, 262144, 294912, 524288, 589824,
          768000, 786432, 917504, 1048576, 1179648, 16384, 8192, 4096]


def _width() -> int:
    return int(read_params().get("width", 32))


def _latency() -> int:
    """The ``latency`` parameter if given, else the property of the Amaranth component."""
    params = read_params()
    return int(params.get("latency") or Scaler(width=_width()).latency)


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


def _corners(sf: int, width: int) -> list[int]:
    """INT_MIN/MAX, ±1, 0, and values around ±k·SF for k near 0 and near the ±127 clamp."""
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    out = {lo, lo + 1, -1, 0, 1, hi - 1, hi}
    for k in (1, 2, 126, 127, 128, 129):
        for delta in (-1, 0, 1, sf - 1):
            for sign in (1, -1):
                v = sign * (k * sf + delta)
                if lo <= v <= hi:
                    out.add(v)
    return sorted(out)


async def _run_chunks(dut, chunks: list[tuple[int, list[int]]], rng: random.Random,
                      idle: float, stall: float) -> None:
    """Send each ``(SF, z values)`` chunk (reconfiguring between chunks), check all outputs."""
    width = _width()
    sink = StreamSink(dut, "o", dut.clk, rng, stall_prob=stall, decode=lambda r: to_signed(r, 8))
    sink.start()
    checker = InOrderChecker("nitro_scaling")
    driver = StreamDriver(dut, "i", dut.clk, rng, idle_prob=idle)
    total = 0
    for sf, values in chunks:
        mult, shift = divider_constants(sf, width)
        dut.multiplier.value = mult
        dut.shift.value = shift
        for v in values:
            checker.expect(nitro_scaling(v, sf))
        await driver.send(values)
        total += len(values)
    await sink.wait_for(total, timeout_cycles=50 * total + 100)
    await ClockCycles(dut.clk, 10)  # a duplicated value would show up here
    sink.stop()
    checker.check_all(sink.received)


@cocotb.test()
async def corners_zoo_scale_factors(dut):
    """Every zoo SF plus SF = 1, 255, 2**27 and the largest: extremes and the ±127·SF(±1) edges."""
    width = _width()
    await _reset(dut)
    rng = random.Random(1)
    hi = (1 << (width - 1)) - 1
    sfs = [1, 255, 256, *ZOO_SF, 1 << 27, hi, hi + 1, (1 << width) - 1, 1 << 40]
    await _run_chunks(dut, [(sf, _corners(sf, width)) for sf in sfs], rng, 0.0, 0.0)


@cocotb.test()
async def random_with_backpressure(dut):
    """Random z (full range and near the clamp) for random zoo SFs, with gaps and stalls."""
    width = _width()
    await _reset(dut)
    rng = random.Random(2)
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    chunks = []
    for _ in range(25):
        sf = rng.choice(ZOO_SF + [256 * rng.randint(1, 1 << 19)])
        values = [rng.randint(lo, hi) for _ in range(40)]
        values += [max(lo, min(hi, rng.randint(-135 * sf, 135 * sf))) for _ in range(40)]
        values += [max(lo, min(hi, rng.choice((-1, 1)) * (rng.randint(125, 129) * sf + rng.randint(-1, 1))))
                   for _ in range(20)]
        chunks.append((sf, values))
    await _run_chunks(dut, chunks, rng, idle=0.3, stall=0.3)


@cocotb.test()
async def latency_back_to_back(dut):
    """With o.ready high, one z per cycle and each s exactly ``latency`` cycles later."""
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
    values = [rng.randint(-(1 << (width - 1)), (1 << (width - 1)) - 1) >> rng.randint(0, 12)
              for _ in range(100)]
    await _run_chunks(dut, [(200704, values)], rng, 0.0, 0.0)
    mon.cancel()
    assert len(acc) == len(out) == len(values)
    assert acc == list(range(acc[0], acc[0] + len(values))), "not one input per cycle"
    assert [o - a for a, o in zip(acc, out, strict=True)] == [latency] * len(values)

"""cocotb testbench of TruncatingShift: tdiv(a, 2**k) against the golden tdiv.

Driver -> DUT -> sink with random valid gaps and ready stalls; the golden model
predicts every output and an in-order checker compares. Parameters (via
``NITRO_TB_PARAMS``): ``width``.
"""

import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge

from nitro_hw.golden.primitives import tdiv
from nitro_hw.tb.runner import read_params
from nitro_hw.tb.streams import InOrderChecker, StreamDriver, StreamSink, to_signed


async def _reset(dut):
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    dut.shift.value = 0
    dut.i__valid.value = 0
    dut.o__ready.value = 0
    await ClockCycles(dut.clk, 2)
    dut.rst.value = 0
    await RisingEdge(dut.clk)


def _corner_values(width: int) -> list[int]:
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    return [lo, lo + 1, -2, -1, 0, 1, 2, hi - 1, hi]


async def _run_shift(dut, k: int, values: list[int], rng: random.Random, idle: float, stall: float):
    width = int(read_params().get("width", 32))
    dut.shift.value = k
    sink = StreamSink(dut, "o", dut.clk, rng, stall_prob=stall, decode=lambda r: to_signed(r, width))
    sink.start()
    checker = InOrderChecker(f"tdiv(a, 2**{k})")
    for v in values:
        checker.expect(tdiv(v, 1 << k))
    await StreamDriver(dut, "i", dut.clk, rng, idle_prob=idle).send(values)
    received = await sink.wait_for(len(values), timeout_cycles=50 * len(values) + 100)
    await ClockCycles(dut.clk, 5)  # anything extra (a duplicated value) would show up here
    sink.stop()
    checker.check_all(sink.received)
    assert len(received) == len(values)


@cocotb.test()
async def corners_every_shift(dut):
    """Every shift amount on the extreme and near-zero dividends, no stalls."""
    width = int(read_params().get("width", 32))
    await _reset(dut)
    rng = random.Random(1)
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    for k in range(width):
        near_divisor = [v for v in (-(1 << k) - 1, -(1 << k), -(1 << k) + 1, (1 << k) - 1, 1 << k)
                        if lo <= v <= hi]
        await _run_shift(dut, k, _corner_values(width) + near_divisor, rng, 0.0, 0.0)


@cocotb.test()
async def random_with_backpressure(dut):
    """Random dividends around multiples of 2**k, random valid gaps and ready stalls."""
    width = int(read_params().get("width", 32))
    await _reset(dut)
    rng = random.Random(2)
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    for k in [0, 1, 2, 3, 7, 8, 15, 16, width - 2, width - 1]:
        values = []
        for _ in range(60):
            base = rng.randint(lo >> k, hi >> k) << k
            values.append(max(lo, min(hi, base + rng.randint(-1, 1))))
        values += [rng.randint(lo, hi) for _ in range(40)]
        await _run_shift(dut, k, values, rng, idle=0.3, stall=0.3)

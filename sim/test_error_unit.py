"""cocotb testbench of ErrorUnit: e = wrap8(y_hat - y) and first-index argmax.

Driver -> DUT -> sink with random valid gaps and ready stalls; the golden model
predicts every output and an in-order checker compares. Parameters (via
``NITRO_TB_PARAMS``): ``classes``.
"""

import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge

from nitro_hw.golden.primitives import wrap8
from nitro_hw.tb.runner import read_params
from nitro_hw.tb.streams import InOrderChecker, StreamDriver, StreamSink, pack, unpack


def _classes() -> int:
    return int(read_params().get("classes", 10))


def _golden(y_hat: list[int], y: list[int]) -> tuple:
    e = [wrap8(a - b) for a, b in zip(y_hat, y, strict=True)]
    best = 0
    for k in range(1, len(y_hat)):
        if y_hat[k] > y_hat[best]:  # strictly greater: the first index wins ties
            best = k
    return (*e, best, y_hat[best])


async def _reset(dut):
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    dut.i__valid.value = 0
    dut.o__ready.value = 0
    await ClockCycles(dut.clk, 2)
    dut.rst.value = 0
    await RisingEdge(dut.clk)


def _samples(K: int, n: int, rng: random.Random) -> list[tuple[list[int], list[int]]]:
    out = [([-128] * K, [127] * K), ([127] * K, [-128] * K), ([0] * K, [0] * K),
           ([-36] * (K - 1) + [91], [0] * K)]
    for j in range(n):
        cls = rng.randrange(K)
        y = [32 if c == cls else 0 for c in range(K)]
        if j % 3 == 0:
            y_hat = [rng.choice([-127, -67, -36, 0, 91, 127]) for _ in range(K)]  # many ties
        elif j % 3 == 1:
            y_hat = [rng.randint(-127, 127) for _ in range(K)]
            y_hat[cls] = rng.randint(-128, -97)  # y_hat - 32 wraps
        else:
            y_hat = [rng.randint(-128, 127) for _ in range(K)]
            y = [rng.randint(-128, 127) for _ in range(K)]
        out.append((y_hat, y))
    return out


async def _run(dut, samples, rng, idle, stall):
    K = _classes()
    index_bits = (K - 1).bit_length()
    fields = [(8, True)] * K + [(index_bits, False), (8, True)]  # e..., argmax, max
    sink = StreamSink(dut, "o", dut.clk, rng, stall_prob=stall, decode=lambda raw: tuple(unpack(raw, fields)))
    sink.start()
    checker = InOrderChecker("error_unit")
    for y_hat, y in samples:
        checker.expect(_golden(y_hat, y))
    words = [pack([(v, 8) for v in y_hat] + [(v, 8) for v in y]) for y_hat, y in samples]
    await StreamDriver(dut, "i", dut.clk, rng, idle_prob=idle).send(words)
    await sink.wait_for(len(words), timeout_cycles=40 * len(words) + 100)
    await ClockCycles(dut.clk, 6)  # a duplicated value would show up here
    sink.stop()
    checker.check_all(sink.received)


@cocotb.test()
async def random_with_backpressure(dut):
    """Wrapping errors, tied logits, random samples; with and without stalls."""
    await _reset(dut)
    rng = random.Random(31)
    samples = _samples(_classes(), 300, rng)
    await _run(dut, samples, rng, 0.0, 0.0)
    await _run(dut, samples[::-1], rng, 0.4, 0.5)

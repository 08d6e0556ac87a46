"""cocotb testbench of NitroRelu (forward) and NitroReluBackward on generated Verilog.

The same module tests either design: the forward unit has an 8-bit ``i__payload``,
the backward unit a 34-bit one ({delta: signed(32), region: unsigned(2)}).
Driver -> DUT -> sink with random valid gaps and ready stalls; golden values come
from the spec formulas via ``nitro_hw.golden.primitives`` and an in-order checker
compares. Parameters (via ``NITRO_TB_PARAMS``): ``alpha``.
"""

import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge

from nitro_hw.golden.primitives import INT32_MAX, INT32_MIN, clamp, tdiv
from nitro_hw.tb.runner import read_params
from nitro_hw.tb.streams import InOrderChecker, StreamDriver, StreamSink, pack, to_signed, unpack

C_TABLE = {3: 31, 4: 36, 5: 38, 7: 40, 8: 42, 10: 43, 15: 44, 16: 44, 20: 45}  # spec §2.4
REGION_NEG, REGION_PASS, REGION_SAT = 0, 1, 2


def _alpha() -> int:
    return int(read_params().get("alpha", 4))


def _forward(s: int, alpha: int) -> tuple[int, int]:
    h = clamp(s, 0, 127) + tdiv(clamp(s, -127, 0), alpha) - C_TABLE[alpha]
    region = REGION_PASS if 0 <= s < 127 else REGION_NEG if -127 <= s < 0 else REGION_SAT
    return h, region


def _backward(delta: int, region: int, alpha: int) -> int:
    ginv = {REGION_NEG: alpha, REGION_PASS: 1}.get(region, 2**31 - 1)
    return tdiv(delta, ginv)


async def _reset(dut):
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    dut.i__valid.value = 0
    dut.o__ready.value = 0
    await ClockCycles(dut.clk, 2)
    dut.rst.value = 0
    await RisingEdge(dut.clk)


def _is_backward(dut) -> bool:
    return len(dut.i__payload) == 34


async def _run(dut, words, expected, decode, rng, idle, stall):
    sink = StreamSink(dut, "o", dut.clk, rng, stall_prob=stall, decode=decode)
    sink.start()
    checker = InOrderChecker("nitro_relu")
    for e in expected:
        checker.expect(e)
    await StreamDriver(dut, "i", dut.clk, rng, idle_prob=idle).send(words)
    await sink.wait_for(len(words), timeout_cycles=40 * len(words) + 100)
    await ClockCycles(dut.clk, 6)  # a duplicated value would show up here
    sink.stop()
    checker.check_all(sink.received)


def _deltas(alpha: int, rng: random.Random) -> list[int]:
    base = [INT32_MIN, INT32_MIN + 1, INT32_MAX, INT32_MAX - 1, -1, 0, 1]
    base += [v for a in (alpha, 7 * alpha) for v in (a - 1, a, a + 1, -a - 1, -a, -a + 1)]
    for _ in range(60):
        q = rng.randint(INT32_MIN // alpha, INT32_MAX // alpha) * alpha
        base += [q + rng.randint(-1, 1), rng.randint(INT32_MIN, INT32_MAX)]
    return [clamp(d, INT32_MIN, INT32_MAX) for d in base]


@cocotb.test()
async def exhaustive_or_boundaries(dut):
    """Forward: every int8 input, twice (no stalls, then with stalls). Backward: every region x boundaries."""
    alpha = _alpha()
    await _reset(dut)
    rng = random.Random(21)
    if not _is_backward(dut):
        inputs = list(range(-128, 128))
        expected = [_forward(s, alpha) for s in inputs]
        decode = lambda raw: tuple(unpack(raw, [(8, True), (2, False)]))  # noqa: E731
        words = [s & 0xFF for s in inputs]
        await _run(dut, words, expected, decode, rng, 0.0, 0.0)
        await _run(dut, words[::-1], expected[::-1], decode, rng, 0.3, 0.4)
    else:
        cases = [(d, r) for d in _deltas(alpha, rng) for r in (REGION_NEG, REGION_PASS, REGION_SAT, 3)]
        words = [pack([(d, 32), (r, 2)]) for d, r in cases]
        expected = [_backward(d, r, alpha) for d, r in cases]
        await _run(dut, words, expected, lambda raw: to_signed(raw, 32), rng, 0.3, 0.4)


@cocotb.test()
async def random_stream_with_backpressure(dut):
    """Random inputs in the NITRO-Scaling range [-127, 127] with heavy gaps and stalls."""
    alpha = _alpha()
    await _reset(dut)
    rng = random.Random(22)
    if not _is_backward(dut):
        inputs = [rng.randint(-127, 127) for _ in range(400)]
        await _run(dut, [s & 0xFF for s in inputs], [_forward(s, alpha) for s in inputs],
                   lambda raw: tuple(unpack(raw, [(8, True), (2, False)])), rng, 0.5, 0.5)
    else:
        cases = [(rng.randint(INT32_MIN, INT32_MAX) >> rng.randint(0, 31), rng.randint(0, 2))
                 for _ in range(400)]
        await _run(dut, [pack([(d, 32), (r, 2)]) for d, r in cases],
                   [_backward(d, r, alpha) for d, r in cases], lambda raw: to_signed(raw, 32),
                   rng, 0.5, 0.5)

"""cocotb testbench of MaxPoolArgmax (forward) and MaxPoolRoute (backward routing).

Driver -> DUT -> sink with random valid gaps and ready stalls; a plain Python model
predicts every output (zero padding, first index on ties) and an in-order checker
compares. Parameters (via ``NITRO_TB_PARAMS``): ``kind`` (``argmax`` or ``route``),
``window``, ``width``.
"""

import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge

from nitro_hw.tb.runner import read_params
from nitro_hw.tb.streams import InOrderChecker, StreamDriver, StreamSink, pack, unpack


def _params():
    p = read_params()
    return p.get("kind", "argmax"), int(p.get("window", 4)), int(p.get("width", 8))


def _argmax(x: list[int], pad: list[int]) -> tuple[int, int, int]:
    cells = [0 if p else v for v, p in zip(x, pad, strict=True)]  # zero padding (spec §2.6)
    best = 0
    for k in range(1, len(cells)):
        if cells[k] > cells[best]:  # strictly greater: first index on ties
            best = k
    return cells[best], best, pad[best]


def _route(error: int, index: int, drop: int, window: int) -> tuple:
    return tuple(error if k == index and not drop else 0 for k in range(window))


async def _reset(dut):
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    dut.i__valid.value = 0
    dut.o__ready.value = 0
    await ClockCycles(dut.clk, 2)
    dut.rst.value = 0
    await RisingEdge(dut.clk)


@cocotb.test()
async def random_windows_with_backpressure(dut):
    """Tied values, all-negative windows with padding, extremes; gaps and stalls."""
    kind, window, width = _params()
    index_bits = (window - 1).bit_length()
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    await _reset(dut)
    rng = random.Random(41)
    words, expected = [], []
    for j in range(400):
        if kind == "argmax":
            if j % 3 == 0:
                x = [rng.choice([-67, -36, 0, 5, 91]) for _ in range(window)]
            elif j % 3 == 1:
                x = [rng.randint(lo, -1) for _ in range(window)]
            else:
                x = [rng.choice([lo, hi, rng.randint(lo, hi)]) for _ in range(window)]
            pad = [int(rng.random() < 0.25) for _ in range(window)]
            words.append(pack([(v, width) for v in x] + [(p, 1) for p in pad]))
            expected.append(_argmax(x, pad))
        else:
            error = rng.choice([lo, hi, -1, 0, 1, rng.randint(lo, hi)])
            index, drop = rng.randrange(window), int(rng.random() < 0.2)
            words.append(pack([(error, width), (index, index_bits), (drop, 1)]))
            expected.append(_route(error, index, drop, window))
    if kind == "argmax":
        decode = lambda raw: tuple(unpack(raw, [(width, True), (index_bits, False), (1, False)]))  # noqa: E731
    else:
        decode = lambda raw: tuple(unpack(raw, [(width, True)] * window))  # noqa: E731
    sink = StreamSink(dut, "o", dut.clk, rng, stall_prob=0.4, decode=decode)
    sink.start()
    checker = InOrderChecker(f"maxpool {kind}")
    for e in expected:
        checker.expect(e)
    await StreamDriver(dut, "i", dut.clk, rng, idle_prob=0.3).send(words)
    await sink.wait_for(len(words), timeout_cycles=40 * len(words) + 100)
    await ClockCycles(dut.clk, 6)  # a duplicated value would show up here
    sink.stop()
    checker.check_all(sink.received)

"""cocotb testbench of SgdUpdate: W' = wrap32(W - wrap32(tdiv(G, A) + tdiv(W, decay_inv))).

Driver -> DUT -> sink with random valid gaps and ready stalls; the golden primitives
predict every new weight (the low ``weight_width`` bits of the 32-bit result) and the
sticky ``overflow`` / ``wrapped`` flags; an in-order checker compares the whole sequence.
The divisors change between chunks without draining. Parameters (``NITRO_TB_PARAMS``):
``weight_width``, ``latency``.
"""

import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge

from nitro_hw.golden.primitives import INT32_MAX, INT32_MIN, tdiv, wrap32
from nitro_hw.hw.divider import divider_constants
from nitro_hw.hw.sgd_update import SgdUpdate
from nitro_hw.tb.runner import read_params
from nitro_hw.tb.streams import InOrderChecker, StreamDriver, StreamSink, pack, to_signed

LR_DIVISORS = [327680 * 3**k for k in range(6)] + [512 * 3**k for k in range(6)]
DECAYS = [0, 500, 3000, 3500, 4500, 6000, 7500, 8000, 10000, 12000, 19000, 25000, 28000, 29000, 30000]


def _ww() -> int:
    return int(read_params().get("weight_width", 32))


def _latency() -> int:
    """The ``latency`` parameter if given, else the property of the Amaranth component."""
    params = read_params()
    return int(params.get("latency") or SgdUpdate(weight_width=_ww()).latency)


def _golden(w: int, g: int, a: int, d: int) -> tuple[int, bool]:
    """(new 32-bit weight, an int32 wrap changed a value) from the golden primitives."""
    exact_u = tdiv(g, a) + (tdiv(w, d) if d > 0 else 0)
    u = wrap32(exact_u)
    new = wrap32(w - u)
    return new, (u != exact_u) or (new != w - u)


async def _reset(dut):
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    for port in ("lr_multiplier", "lr_shift", "decay_multiplier", "decay_shift", "decay_enable", "scaling"):
        getattr(dut, port).value = 0
    dut.clear.value = 0
    dut.i__valid.value = 0
    dut.o__ready.value = 0
    await ClockCycles(dut.clk, 2)
    dut.rst.value = 0
    dut.clear.value = 1
    await RisingEdge(dut.clk)
    dut.clear.value = 0
    await RisingEdge(dut.clk)


def _configure(dut, a: int, d: int) -> None:
    ww = _ww()
    lr_m, lr_s = divider_constants(a, 32)
    dut.lr_multiplier.value = lr_m
    dut.lr_shift.value = lr_s
    if d > 0:
        dec_m, dec_s = divider_constants(d, ww)
    else:
        dec_m, dec_s = 0, 0
    dut.decay_multiplier.value = dec_m
    dut.decay_shift.value = dec_s
    dut.decay_enable.value = int(d > 0)


async def _run_chunks(dut, chunks, rng: random.Random, idle: float, stall: float) -> None:
    """Send each ``(A, decay_inv, [(w, g), ...])`` chunk, check outputs and both flags."""
    ww = _ww()
    sink = StreamSink(dut, "o", dut.clk, rng, stall_prob=stall, decode=lambda r: to_signed(r, ww))
    sink.start()
    checker = InOrderChecker("sgd_update")
    driver = StreamDriver(dut, "i", dut.clk, rng, idle_prob=idle)
    total, overflow, wrapped = 0, False, False
    for a, d, pairs in chunks:
        _configure(dut, a, d)
        for w, g in pairs:
            new, wrap = _golden(w, g, a, d)
            checker.expect(to_signed(new, ww))  # the low weight_width bits
            overflow |= to_signed(new, ww) != new
            wrapped |= wrap
        await driver.send([pack([(w, ww), (g, 32)]) for w, g in pairs])
        total += len(pairs)
    await sink.wait_for(total, timeout_cycles=50 * total + 100)
    await ClockCycles(dut.clk, 10)  # a duplicated value would show up here
    sink.stop()
    checker.check_all(sink.received)
    assert int(dut.overflow.value) == int(overflow), f"overflow flag {int(dut.overflow.value)}"
    assert int(dut.wrapped.value) == int(wrapped), f"wrapped flag {int(dut.wrapped.value)}"
    dut.clear.value = 1
    await RisingEdge(dut.clk)
    dut.clear.value = 0
    await ReadOnly()
    assert int(dut.overflow.value) == 0 and int(dut.wrapped.value) == 0, "clear did not clear"
    await RisingEdge(dut.clk)


def _w_corners(d: int, ww: int) -> list[int]:
    lo, hi = -(1 << (ww - 1)), (1 << (ww - 1)) - 1
    return sorted(v for v in {lo, lo + 1, -1, 0, 1, hi - 1, hi, d - 1, d, d + 1, -d - 1, -d, -d + 1}
                  if lo <= v <= hi)


def _g_corners(a: int) -> list[int]:
    out = {INT32_MIN, INT32_MIN + 1, -1, 0, 1, INT32_MAX - 1, INT32_MAX}
    for k in (1, INT32_MAX // a):
        for delta in (-1, 0, 1):
            for sign in (1, -1):
                v = sign * (k * a + delta)
                if INT32_MIN <= v <= INT32_MAX:
                    out.add(v)
    return sorted(out)


@cocotb.test()
async def corners(dut):
    """W x G corner grid for divisor 1, zoo divisors and the largest ones, decay on and off."""
    ww = _ww()
    await _reset(dut)
    rng = random.Random(1)
    big = (1 << 31) - 1
    configs = [(1, 0), (1, 1), (327680, 12000), (327680 * 3**5, 30000), (512, 500), (big, 0),
               (1 << 31, (1 << (ww - 1)) - 1), (1 << 40, 1 << (ww - 1)), (3, 70000)]
    chunks = [(a, d, [(w, g) for w in _w_corners(d or 7, ww) for g in _g_corners(a)]) for a, d in configs]
    await _run_chunks(dut, chunks, rng, 0.0, 0.0)


@cocotb.test()
async def flags_only_when_needed(dut):
    """Training-like magnitudes raise no flag; each single offender raises exactly its flags.

    Every offender sits among flag-free elements and is checked on its own (the flags
    are cleared between runs): W' one past the 16-bit range on either side, W' wrapping
    int32 on either side, and tdiv(G, A) + tdiv(W, d) wrapping int32.
    """
    ww = _ww()
    await _reset(dut)
    rng = random.Random(4)
    a = 327680
    base = [(rng.randint(-12000, 12000), rng.randint(-(1 << 27), 1 << 27)) for _ in range(60)]
    await _run_chunks(dut, [(a, 12000, base)], rng, 0.2, 0.2)
    lo, hi = -(1 << (ww - 1)), (1 << (ww - 1)) - 1
    offenders = [
        (a, 0, (hi, -a)),  # W' = hi + 1
        (a, 0, (lo, a)),  # W' = lo - 1
        (a, 0, (-5, -a * 5)),  # W' = 0: no flag
        (1, 0, (1, INT32_MIN)),  # W' = 1 + 2**31 wraps int32
        (1, 0, (-2, INT32_MAX)),  # W' = -2 - (2**31 - 1) wraps int32
        (1, 1, (-1, INT32_MIN)),  # U = -2**31 - 1 wraps int32, W' = -2**31 does not
        (1, 1, (1, INT32_MAX)),  # U = 2**31 wraps int32
    ]
    for oa, od, pair in offenders:
        await _run_chunks(dut, [(a, 0, base[:15]), (oa, od, [pair]), (a, 0, base[15:30])], rng, 0.2, 0.2)


@cocotb.test()
async def random_with_backpressure(dut):
    """Random W, G and zoo divisors (and random ones), with valid gaps and ready stalls."""
    ww = _ww()
    await _reset(dut)
    rng = random.Random(2)
    lo, hi = -(1 << (ww - 1)), (1 << (ww - 1)) - 1
    chunks = []
    for _ in range(20):
        a = rng.choice(LR_DIVISORS + [rng.randint(1, 1 << 31)])
        d = rng.choice(DECAYS + [rng.randint(1, 1 << (ww - 1))])
        pairs = [(rng.randint(lo, hi), rng.randint(INT32_MIN, INT32_MAX)) for _ in range(40)]
        pairs += [(rng.randint(-3 * d - 5, 3 * d + 5), rng.randint(-(1 << 28), 1 << 28)) for _ in range(40)]
        pairs = [(max(lo, min(hi, w)), g) for w, g in pairs]
        chunks.append((a, d, pairs))
    await _run_chunks(dut, chunks, rng, idle=0.3, stall=0.3)


@cocotb.test()
async def latency_back_to_back(dut):
    """With o.ready high, one element per cycle and each W' exactly ``latency`` cycles later."""
    latency = _latency()
    ww = _ww()
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
    lim = min(30000, (1 << (ww - 1)) - 1)
    pairs = [(rng.randint(-lim, lim), rng.randint(-(1 << 30), 1 << 30)) for _ in range(100)]
    await _run_chunks(dut, [(327680 * 3, 29000, pairs)], rng, 0.0, 0.0)
    mon.cancel()
    assert len(acc) == len(out) == len(pairs)
    assert acc == list(range(acc[0], acc[0] + len(pairs))), "not one element per cycle"
    assert [o - a for a, o in zip(acc, out, strict=True)] == [latency] * len(pairs)

"""NitroRelu / NitroReluBackward in the Amaranth simulator, exhaustive over int8 inputs."""

from __future__ import annotations

import random

import numpy as np
import pytest
from amaranth.sim import Simulator

from nitro_hw.golden import layers
from nitro_hw.golden.primitives import INT32_MAX, INT32_MIN, clamp, tdiv
from nitro_hw.hw.nitro_relu import (
    REGION_NEG,
    REGION_PASS,
    REGION_SAT,
    NitroRelu,
    NitroReluBackward,
    const_division,
)

ALPHAS = [3, 4, 5, 7, 8, 10, 15, 16, 20]
# Mean correction c(alpha), typed in from the table of spec §2.4 (independent of the unit's copy).
C_TABLE = dict(zip(ALPHAS, [31, 36, 38, 40, 42, 43, 44, 44, 45], strict=True))


def golden_forward(s: int, alpha: int) -> int:
    """The formal definition of spec §2.4 (clamps -128 to -127)."""
    return clamp(s, 0, 127) + tdiv(clamp(s, -127, 0), alpha) - C_TABLE[alpha]


def golden_ginv(s: int, alpha: int) -> int:
    if 0 <= s < 127:
        return 1
    if -127 <= s < 0:
        return alpha
    return 2**31 - 1


def golden_backward(delta: int, s: int, alpha: int) -> int:
    return tdiv(delta, golden_ginv(s, alpha))


def golden_region(s: int) -> int:
    return {1: REGION_PASS, 2**31 - 1: REGION_SAT}.get(golden_ginv(s, 4), REGION_NEG)


def _run(dut, payloads, decode, *, seed=0, idle=0.0, stall=0.0):
    """Drive payloads through ``dut`` with random gaps and stalls; return (accepted, outputs)."""
    rng = random.Random(seed)
    accepted, outputs = [], []

    async def bench(ctx):
        cycle, k, extra = 0, 0, 0
        while len(outputs) < len(payloads) or extra < dut.latency + 4:
            if len(outputs) >= len(payloads):
                extra += 1
            send = k < len(payloads) and rng.random() >= idle
            ctx.set(dut.i.valid, int(send))
            if send:
                ctx.set(dut.i.payload, payloads[k])
            take = rng.random() >= stall
            ctx.set(dut.o.ready, int(take))
            _, _, i_ready, o_valid, o_payload = await ctx.tick().sample(dut.i.ready, dut.o.valid,
                                                                        dut.o.payload)
            if send and i_ready:
                accepted.append(cycle)
                k += 1
            if o_valid and take:
                outputs.append((cycle, decode(o_payload)))
            cycle += 1
            assert cycle < 20 * len(payloads) + 100, "timeout"

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return accepted, outputs


@pytest.mark.parametrize("alpha", ALPHAS)
def test_forward_exhaustive(alpha):
    dut = NitroRelu(alpha)
    inputs = list(range(-128, 128))
    accepted, outputs = _run(dut, inputs, lambda p: (int(p.h), int(p.region)))
    assert [o[1] for o in outputs] == [(golden_forward(s, alpha), golden_region(s)) for s in inputs]
    assert [o[0] for o in outputs] == [c + dut.latency for c in accepted]  # latency, 1 per cycle
    # and the golden layer of nitro_hw.golden agrees
    golden_h = layers.NitroRelu(alpha).forward(np.array(inputs, dtype=np.int8))
    assert np.array_equal(np.array([o[1][0] for o in outputs], dtype=np.int8), golden_h)
    assert accepted == list(range(len(inputs)))


def test_forward_with_stalls():
    dut = NitroRelu(4)
    rng = random.Random(5)
    inputs = [rng.randint(-127, 127) for _ in range(300)]
    _, outputs = _run(dut, inputs, lambda p: (int(p.h), int(p.region)), seed=5, idle=0.3, stall=0.4)
    assert [o[1] for o in outputs] == [(golden_forward(s, 4), golden_region(s)) for s in inputs]


def test_forward_range_alpha4():
    assert min(golden_forward(s, 4) for s in range(-127, 128)) == -67
    assert max(golden_forward(s, 4) for s in range(-127, 128)) == 91


def _deltas(alpha: int, rng: random.Random) -> list[int]:
    base = [INT32_MIN, INT32_MIN + 1, INT32_MIN + 2, INT32_MAX, INT32_MAX - 1, -1, 0, 1, 2, -2]
    for a in (alpha, 2 * alpha, 1000 * alpha):
        base += [a - 1, a, a + 1, -a - 1, -a, -a + 1]
    for _ in range(40):
        q = rng.randint(INT32_MIN // alpha, INT32_MAX // alpha) * alpha
        base += [q + rng.randint(-1, 1) for _ in range(2)]
        base.append(rng.randint(INT32_MIN, INT32_MAX))
    return [min(INT32_MAX, max(INT32_MIN, d)) for d in base]


@pytest.mark.parametrize("alpha", ALPHAS)
def test_backward_all_regions(alpha):
    rng = random.Random(alpha)
    dut = NitroReluBackward(alpha)
    deltas = _deltas(alpha, rng)
    s_values = [-128, -127, -126, -1, 0, 1, 126, 127]
    cases = [(d, s) for d in deltas for s in s_values]
    payloads = [{"delta": d, "region": golden_region(s)} for d, s in cases]
    accepted, outputs = _run(dut, payloads, int, seed=alpha, idle=0.1, stall=0.2)
    assert [o[1] for o in outputs] == [golden_backward(d, s, alpha) for d, s in cases]
    layer = layers.NitroRelu(alpha)
    layer.forward(np.array([s for _, s in cases], dtype=np.int8), store=True)
    golden = layer.backward(np.array([d for d, _ in cases], dtype=np.int32))
    assert np.array_equal(np.array([o[1] for o in outputs], dtype=np.int32), golden)


def test_backward_latency_and_sat_quirk():
    dut = NitroReluBackward(4)
    payloads = [{"delta": d, "region": REGION_SAT} for d in (INT32_MIN, -INT32_MAX, INT32_MAX, 5, -5)]
    accepted, outputs = _run(dut, payloads, int)
    assert [o[1] for o in outputs] == [-1, -1, 1, 0, 0]  # tdiv(delta, 2**31 - 1)
    assert [o[0] for o in outputs] == [c + dut.latency for c in accepted]
    assert accepted == list(range(5))


@pytest.mark.parametrize("alpha", ALPHAS)
def test_const_division_exact(alpha):
    """Exhaustive for 8-bit magnitudes; near every multiple boundary and the ends for 2**31."""
    d8 = const_division(alpha, 128)
    assert all(d8.apply(n) == n // alpha for n in range(129))
    d32 = const_division(alpha, 1 << 31)
    n = np.arange(0, 1 << 20, dtype=np.uint64)
    for start in (0, (1 << 31) - (1 << 20) + 1, (1 << 30)):
        block = n + np.uint64(start)
        got = (block.astype(object) * d32.multiplier) >> d32.shift
        assert np.array_equal(got.astype(np.int64), (block // np.uint64(alpha)).astype(np.int64))
    rng = np.random.RandomState(alpha)
    q = rng.randint(0, (1 << 31) // alpha, size=20000).astype(object) * alpha
    for off in (-1, 0, 1, alpha - 1):
        v = np.clip(q + off, 0, 1 << 31)
        assert all(d32.apply(int(x)) == int(x) // alpha for x in v)


@pytest.mark.parametrize("alpha", [0, 1, 2, 6, 32, -4, 4.0, True])
def test_bad_alpha(alpha):
    with pytest.raises(ValueError, match="alpha"):
        NitroRelu(alpha)
    with pytest.raises(ValueError, match="alpha"):
        NitroReluBackward(alpha)

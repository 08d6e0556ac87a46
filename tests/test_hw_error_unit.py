"""ErrorUnit in the Amaranth simulator: wrap8 error and first-index argmax."""

from __future__ import annotations

import random

import numpy as np
import pytest
from amaranth.sim import Simulator

from nitro_hw.golden.primitives import wrap8
from nitro_hw.hw.error_unit import ErrorUnit


def golden(y_hat: list[int], y: list[int]) -> tuple[list[int], int, int]:
    e = [wrap8(a - b) for a, b in zip(y_hat, y, strict=True)]
    best = max(range(len(y_hat)), key=lambda k: (y_hat[k], -k))  # first index on ties
    return e, best, y_hat[best]


def _run(dut, samples, *, seed=0, idle=0.0, stall=0.0):
    rng = random.Random(seed)
    accepted, outputs = [], []
    K = dut.classes

    async def bench(ctx):
        cycle, k, extra = 0, 0, 0
        while len(outputs) < len(samples) or extra < dut.latency + 4:
            if len(outputs) >= len(samples):
                extra += 1
            send = k < len(samples) and rng.random() >= idle
            ctx.set(dut.i.valid, int(send))
            if send:
                ctx.set(dut.i.payload, {"y_hat": samples[k][0], "y": samples[k][1]})
            take = rng.random() >= stall
            ctx.set(dut.o.ready, int(take))
            _, _, i_ready, o_valid, p = await ctx.tick().sample(dut.i.ready, dut.o.valid, dut.o.payload)
            if send and i_ready:
                accepted.append(cycle)
                k += 1
            if o_valid and take:
                outputs.append((cycle, ([int(p.e[c]) for c in range(K)], int(p.argmax), int(p.max))))
            cycle += 1
            assert cycle < 20 * len(samples) + 100, "timeout"

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return accepted, outputs


def _samples(K: int, n: int, rng: random.Random) -> list[tuple[list[int], list[int]]]:
    out = []
    for j in range(n):
        cls = rng.randrange(K)
        y = [32 if c == cls else 0 for c in range(K)]
        if j % 3 == 0:  # few distinct values: many ties
            y_hat = [rng.choice([-127, -36, 0, 5, 127]) for _ in range(K)]
        elif j % 3 == 1:  # true logit <= -97 makes y_hat - 32 wrap
            y_hat = [rng.randint(-127, 127) for _ in range(K)]
            y_hat[cls] = rng.randint(-128, -97)
        else:
            y_hat = [rng.randint(-128, 127) for _ in range(K)]
            y = [rng.randint(-128, 127) for _ in range(K)]
        out.append((y_hat, y))
    return out


def test_wrap_and_ties_with_stalls():
    dut = ErrorUnit(10)
    rng = random.Random(7)
    samples = _samples(10, 300, rng)
    samples.append(([-128] * 10, [127] * 10))                     # -255 wraps to +1
    samples.append(([127] * 10, [-128] * 10))                     # 255 wraps to -1
    samples.append(([5, 9, 9, 1, 9, 0, 0, 0, 0, 9], [0] * 10))    # tie: first index 1
    samples.append(([0] * 9 + [1], [0] * 10))                     # last index wins alone
    _, outputs = _run(dut, samples, seed=7, idle=0.3, stall=0.4)
    assert [o[1] for o in outputs] == [golden(a, b) for a, b in samples]
    assert outputs[-4][1][0] == [1] * 10 and outputs[-3][1][0] == [-1] * 10
    assert outputs[-2][1][1] == 1 and outputs[-1][1][1] == 9


def test_wrap_matches_numpy_int8():
    """The reference subtracts int8 arrays; NumPy wraps them the same way."""
    dut = ErrorUnit(4)
    rng = np.random.RandomState(3)
    y_hat = rng.randint(-128, 128, size=(64, 4)).astype(np.int8)
    y = rng.randint(-128, 128, size=(64, 4)).astype(np.int8)
    samples = [([int(v) for v in a], [int(v) for v in b]) for a, b in zip(y_hat, y, strict=True)]
    _, outputs = _run(dut, samples)
    with np.errstate(over="ignore"):
        expected = (y_hat - y).astype(np.int8)
    assert np.array_equal(np.array([o[1][0] for o in outputs], dtype=np.int8), expected)
    assert [o[1][1] for o in outputs] == [int(v) for v in np.argmax(y_hat, axis=1)]


@pytest.mark.parametrize("K", [2, 3, 10, 16, 17])
def test_latency_and_class_counts(K):
    dut = ErrorUnit(K)
    samples = _samples(K, 60, random.Random(K))
    accepted, outputs = _run(dut, samples)
    assert [o[1] for o in outputs] == [golden(a, b) for a, b in samples]
    assert accepted == list(range(len(samples)))
    assert [o[0] for o in outputs] == [c + dut.latency for c in accepted]
    assert dut.index_bits == (K - 1).bit_length()


@pytest.mark.parametrize("K", [1, 257, 10.0, True])
def test_bad_classes(K):
    with pytest.raises(ValueError, match="classes"):
        ErrorUnit(K)

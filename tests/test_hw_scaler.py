"""Scaler (NITRO-Scaling) against the golden nitro_scaling, in Python and in the Amaranth simulator."""

from __future__ import annotations

import random

import numpy as np
import pytest
from amaranth.sim import Simulator
from hypothesis import given, settings
from hypothesis import strategies as st

from nitro_hw.golden.primitives import INT32_MAX, INT32_MIN, clamp, nitro_scaling, scale_factor, tdiv
from nitro_hw.hw.divider import reciprocal
from nitro_hw.hw.scaler import Scaler

SCALE_FACTORS = [2304, 6912, 12800, 25600, 51200, 131072, 200704, 262144, 294912, 524288, 589824,
                 768000, 786432, 917504, 1048576, 1179648, 16384, 8192, 4096]
EXTRA = [1, 2, 3, 256, 255, 257, 2**27, 2**27 - 1, 2**31 - 1, 2**31]


def scaler_corners(sf: int) -> list[int]:
    """INT32 extremes, ±1, 0 and every value around ±127·SF, ±128·SF and ±k·SF."""
    out = {INT32_MIN, INT32_MIN + 1, -1, 0, 1, INT32_MAX - 1, INT32_MAX}
    for k in (1, 2, 126, 127, 128, 129):
        for delta in (-1, 0, 1, sf - 1):
            for sign in (1, -1):
                v = sign * (k * sf + delta)
                if INT32_MIN <= v <= INT32_MAX:
                    out.add(v)
    return sorted(out)


def model(r, z):
    """What the hardware computes: sign(z)·min((|z|·m) >> s, 127)."""
    q = (abs(z) * r.multiplier) >> r.shift
    q = min(q, 127)
    return -q if z < 0 else q


# --- Python level ------------------------------------------------------------------------------


@pytest.mark.parametrize("sf", SCALE_FACTORS + EXTRA)
def test_scaling_model_exact(sf):
    r = reciprocal(sf)
    z = np.arange(-(2**16), 2**16, dtype=np.int64)
    expected = nitro_scaling(z, sf)
    got = np.clip(r.divide(z), -127, 127).astype(np.int8)
    assert np.array_equal(got, expected)
    for v in scaler_corners(sf):
        assert model(r, v) == nitro_scaling(v, sf) == clamp(tdiv(v, sf), -127, 127)


def test_every_fan_in_up_to_5000_every_int32_z():
    """SF = 256·fan_in for fan_in 1..5000 (every zoo layer is <= 4608), exact for all 2**32 z.

    Exhaustive by step ends: ``(n*m) >> s`` is non-decreasing, so it equals ``n // SF`` on
    the step ``[k*SF, k*SF + SF - 1]`` iff it does at both ends. The clamp and sign are
    applied to that exact quotient, so exactness of the quotient is all that is needed.
    """
    n_max = 2**31
    for fan_in in range(1, 5001):
        sf = scale_factor(fan_in)
        r = reciprocal(sf)
        k = np.arange(0, n_max // sf + 1, dtype=np.int64)
        starts = k * sf
        ends = np.minimum(starts + sf - 1, n_max)
        m, sh = np.int64(r.multiplier), np.int64(r.shift)
        assert np.array_equal((starts * m) >> sh, k), fan_in
        assert np.array_equal((ends * m) >> sh, k), fan_in


@settings(max_examples=300, deadline=None)
@given(fan_in=st.integers(1, 2**19), z=st.lists(st.integers(INT32_MIN, INT32_MAX), min_size=1, max_size=40))
def test_scaling_model_random_fan_in(fan_in, z):
    sf = scale_factor(fan_in)
    r = reciprocal(sf)
    for v in z + scaler_corners(sf):
        assert model(r, v) == nitro_scaling(v, sf)


# --- Amaranth simulator ------------------------------------------------------------------------


def run_stream(dut, config: dict, inputs: list, *, idle: float = 0.0, stall: float = 0.0,
               seed: int = 0) -> tuple[list, list[int], list[int]]:
    """Drive ``inputs`` into ``dut.i``, collect ``dut.o``; returns (outputs, accept cycles, output cycles)."""
    outputs: list = []
    acc_cycles: list[int] = []
    out_cycles: list[int] = []

    async def testbench(ctx):
        rng = random.Random(seed)
        for name, value in config.items():
            ctx.set(getattr(dut, name), value)
        idx, cycle, pending, quiet = 0, 0, False, 0
        while quiet < 2 * dut.latency + 8:
            if not pending and idx < len(inputs) and rng.random() >= idle:
                pending = True
                ctx.set(dut.i.payload, inputs[idx])
            ctx.set(dut.i.valid, pending)
            ctx.set(dut.o.ready, rng.random() >= stall)
            _, _, i_ready, o_valid, o_ready, o_payload = await ctx.tick().sample(
                dut.i.ready, dut.o.valid, dut.o.ready, dut.o.payload)
            if pending and i_ready:
                acc_cycles.append(cycle)
                pending, idx = False, idx + 1
            if o_valid and o_ready:
                outputs.append(o_payload)
                out_cycles.append(cycle)
            quiet = quiet + 1 if idx == len(inputs) and len(outputs) >= len(inputs) else 0
            cycle += 1
            assert cycle < 20 * len(inputs) + 200, "simulation stuck"

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    return outputs, acc_cycles, out_cycles


@pytest.mark.parametrize("sf", [1, 2304, 6912, 16384, 200704, 1179648, 2**27, 2**31 - 1])
def test_scaler_sim_latency_and_values(sf):
    dut = Scaler()
    rng = random.Random(sf)
    values = scaler_corners(sf) + [rng.randint(INT32_MIN, INT32_MAX) for _ in range(100)]
    values += [rng.randint(-130 * sf, 130 * sf) for _ in range(100) if 130 * sf <= INT32_MAX]
    outs, acc, out_c = run_stream(dut, dut.config(sf), values)
    assert outs == [nitro_scaling(v, sf) for v in values]
    assert acc == list(range(len(values)))  # one result per cycle
    assert out_c == [c + dut.latency for c in acc]


def test_scaler_sim_every_14bit_z():
    """Every z in [-2**13, 2**13) through the hardware for SF = 64 (both clamp regions hit)."""
    dut = Scaler()
    values = list(range(-(2**13), 2**13))
    outs, _, _ = run_stream(dut, dut.config(64), values)
    assert outs == nitro_scaling(np.array(values), 64).tolist()
    assert outs.count(127) > 1 and outs.count(-127) > 1 and -128 not in outs


def test_scaler_sim_backpressure():
    dut = Scaler()
    rng = random.Random(3)
    for sf in [4096, 51200, 917504]:
        values = scaler_corners(sf) + [rng.randint(-140 * sf, 140 * sf) for _ in range(200)]
        outs, _, _ = run_stream(dut, dut.config(sf), values, idle=0.3, stall=0.4, seed=sf)
        assert outs == [nitro_scaling(v, sf) for v in values]


def test_scaler_interface():
    dut = Scaler()
    assert dut.latency == 8 and dut.dsp18 == 4
    assert dut.o.payload.shape().width == 8 and dut.o.payload.shape().signed
    r = reciprocal(200704)
    assert dut.config(200704) == {"multiplier": r.multiplier, "shift": r.shift}
    for bad in [7, 65, "32"]:
        with pytest.raises(ValueError, match="width"):
            Scaler(bad)
    with pytest.raises(ValueError, match="divisor"):
        dut.config(0)

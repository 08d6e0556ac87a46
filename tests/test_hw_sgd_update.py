"""SgdUpdate (IntegerSGD element update) against the golden primitives, in Python and in the Amaranth sim."""

from __future__ import annotations

import random

import pytest
from amaranth.sim import Simulator
from hypothesis import given, settings
from hypothesis import strategies as st

from nitro_hw.golden.primitives import INT32_MAX, INT32_MIN, nitro_scaling, tdiv, wrap32
from nitro_hw.hw.divider import reciprocal
from nitro_hw.hw.scaler import Scaler
from nitro_hw.hw.sgd_update import SgdUpdate

LR_DIVISORS = [327680 * 3**k for k in range(6)] + [512 * 3**k for k in range(6)] + [1, 2, 2**31 - 1]
DECAYS = [500, 3000, 3500, 4500, 6000, 7500, 8000, 10000, 12000, 19000, 25000, 28000, 29000, 30000]
INT16_MIN, INT16_MAX = -(2**15), 2**15 - 1


def golden_update(w: int, g: int, a: int, decay_inv: int) -> int:
    """Spec §4.1 from the golden primitives (decay_inv = 0: no decay term)."""
    u = tdiv(g, a)
    if decay_inv > 0:
        u = wrap32(u + tdiv(w, decay_inv))
    return wrap32(w - u)


def golden_wrapped(w: int, g: int, a: int, decay_inv: int) -> bool:
    """True when one of the two int32 wraps of spec §1.3 point 4 changed a value."""
    u = tdiv(g, a) + (tdiv(w, decay_inv) if decay_inv > 0 else 0)
    return u != wrap32(u) or w - wrap32(u) != wrap32(w - wrap32(u))


def low16(v: int) -> int:
    return ((v + 2**15) & 0xFFFF) - 2**15


def corner_pairs(a: int, d: int, weight_width: int) -> list[tuple[int, int]]:
    wlo, whi = (INT32_MIN, INT32_MAX) if weight_width == 32 else (INT16_MIN, INT16_MAX)
    ws = sorted(v for v in {wlo, wlo + 1, -1, 0, 1, whi - 1, whi, d - 1, d, d + 1, -d + 1, -d, -d - 1,
                            2 * d, -2 * d} if wlo <= v <= whi)
    gs = {INT32_MIN, INT32_MIN + 1, -1, 0, 1, INT32_MAX - 1, INT32_MAX}
    for k in (1, 2, INT32_MAX // a):
        for delta in (-1, 0, 1):
            for sign in (1, -1):
                v = sign * (k * a + delta)
                if INT32_MIN <= v <= INT32_MAX:
                    gs.add(v)
    return [(w, g) for w in ws for g in sorted(gs)]


def model(w: int, g: int, a: int, d: int, weight_width: int = 32) -> int:
    """What the hardware computes from the reciprocals (decay reciprocal for weight_width bits)."""
    ug = reciprocal(a).divide(g) if a <= 2**31 else 0
    uw = reciprocal(d, weight_width).divide(w) if 0 < d <= 2 ** (weight_width - 1) else 0
    return wrap32(w - wrap32(ug + uw))


# --- Python level ------------------------------------------------------------------------------


@pytest.mark.parametrize("a", LR_DIVISORS)
@pytest.mark.parametrize("d", [0, 1, 500, 12000, 30000])
def test_update_model_corners(a, d):
    for w, g in corner_pairs(a, d or 7, 32):
        assert model(w, g, a, d) == golden_update(w, g, a, d)


@settings(max_examples=300, deadline=None)
@given(a=st.integers(1, 2**31 - 1), d=st.integers(0, 2**15), w=st.integers(INT32_MIN, INT32_MAX),
       g=st.integers(INT32_MIN, INT32_MAX))
def test_update_model_random(a, d, w, g):
    assert model(w, g, a, d) == golden_update(w, g, a, d)
    assert model(w % 2**16 - 2**15, g, a, d, 16) == golden_update(w % 2**16 - 2**15, g, a, d)


# --- Amaranth simulator ------------------------------------------------------------------------


def run_stream(dut, config: dict, inputs: list, *, idle: float = 0.0, stall: float = 0.0,
               seed: int = 0) -> tuple[list, list[int], list[int], tuple[int, int]]:
    """Drive ``(w, g)`` pairs; returns (outputs, accept cycles, output cycles, (overflow, wrapped))."""
    outputs: list = []
    acc_cycles: list[int] = []
    out_cycles: list[int] = []
    flags: list[int] = []

    async def testbench(ctx):
        rng = random.Random(seed)
        for name, value in config.items():
            ctx.set(getattr(dut, name), value)
        ctx.set(dut.clear, 1)
        await ctx.tick()
        ctx.set(dut.clear, 0)
        idx, cycle, pending, quiet = 0, 0, False, 0
        while quiet < 2 * dut.latency + 8:
            if not pending and idx < len(inputs) and rng.random() >= idle:
                pending = True
                ctx.set(dut.i.payload, {"w": inputs[idx][0], "g": inputs[idx][1]})
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
        flags.extend([ctx.get(dut.overflow), ctx.get(dut.wrapped)])

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    return outputs, acc_cycles, out_cycles, (flags[0], flags[1])


@pytest.mark.parametrize(("a", "d"), [(327680, 12000), (327680 * 3**5, 30000), (512, 3000), (1, 0),
                                      (1, 1), (1536, 500), (2**31 - 1, 0), (2**31, 2**31 - 1)])
def test_sgd_sim_32bit_latency_and_values(a, d):
    dut = SgdUpdate(32)
    rng = random.Random(a + d)
    pairs = corner_pairs(a, d or 7, 32)
    pairs += [(rng.randint(INT32_MIN, INT32_MAX), rng.randint(INT32_MIN, INT32_MAX)) for _ in range(100)]
    pairs += [(rng.randint(-40000, 40000), rng.randint(-(2**26), 2**26)) for _ in range(100)]
    outs, acc, out_c, (overflow, wrapped) = run_stream(dut, dut.config(a, d), pairs)
    assert outs == [golden_update(w, g, a, d) for w, g in pairs]
    assert acc == list(range(len(pairs)))
    assert out_c == [c + dut.latency for c in acc]
    assert overflow == 0
    assert wrapped == int(any(golden_wrapped(w, g, a, d) for w, g in pairs))


@pytest.mark.parametrize(("a", "d"), [(327680, 12000), (512, 500), (1, 1), (3, 0), (1, 32768), (7, 40000)])
def test_sgd_sim_16bit_values_and_overflow(a, d):
    dut = SgdUpdate(16)
    rng = random.Random(a * 7 + d)
    pairs = corner_pairs(a, d or 7, 16)
    pairs += [(rng.randint(INT16_MIN, INT16_MAX), rng.randint(-(2**22), 2**22)) for _ in range(200)]
    outs, acc, out_c, (overflow, wrapped) = run_stream(dut, dut.config(a, d), pairs)
    exact = [golden_update(w, g, a, d) for w, g in pairs]
    assert outs == [low16(v) for v in exact]  # the low 16 bits of the 32-bit new weight
    assert out_c == [c + dut.latency for c in acc] and acc == list(range(len(pairs)))
    assert overflow == int(any(not INT16_MIN <= v <= INT16_MAX for v in exact))
    assert wrapped == int(any(golden_wrapped(w, g, a, d) for w, g in pairs))


def test_sgd_sim_16bit_no_overflow_means_bit_exact():
    """Typical training magnitudes: no overflow, every output equals the reference's int32 weight."""
    dut = SgdUpdate(16)
    rng = random.Random(9)
    a, d = 327680, 12000
    pairs = [(rng.randint(-14000, 14000), rng.randint(-(2**28), 2**28)) for _ in range(300)]
    outs, _, _, (overflow, wrapped) = run_stream(dut, dut.config(a, d), pairs, idle=0.2, stall=0.2)
    assert (overflow, wrapped) == (0, 0)
    assert outs == [golden_update(w, g, a, d) for w, g in pairs]


@pytest.mark.parametrize("weight_width", [16, 32])
def test_sgd_sim_backpressure(weight_width):
    dut = SgdUpdate(weight_width)
    rng = random.Random(weight_width)
    wlo, whi = (INT32_MIN, INT32_MAX) if weight_width == 32 else (INT16_MIN, INT16_MAX)
    for a, d in [(327680 * 9, 29000), (512, 0), (5, 3)]:
        pairs = [(rng.randint(wlo, whi), rng.randint(INT32_MIN, INT32_MAX)) for _ in range(200)]
        outs, _, _, _ = run_stream(dut, dut.config(a, d), pairs, idle=0.3, stall=0.4, seed=a)
        exact = [golden_update(w, g, a, d) for w, g in pairs]
        assert outs == (exact if weight_width == 32 else [low16(v) for v in exact])


def test_sgd_sim_flags_sticky_and_clear():
    """Flags stay set after the offending element, clear resets them, a new event beats clear."""
    dut = SgdUpdate(16)
    cfg = dut.config(1, 0)
    seen = []

    async def send(ctx, w, g):
        ctx.set(dut.i.payload, {"w": w, "g": g})
        ctx.set(dut.i.valid, 1)
        await ctx.tick()
        ctx.set(dut.i.valid, 0)

    async def testbench(ctx):
        for name, value in cfg.items():
            ctx.set(getattr(dut, name), value)
        ctx.set(dut.o.ready, 1)
        await send(ctx, 5, 3)  # 2: fits
        await ctx.tick().repeat(dut.latency + 1)
        seen.append((ctx.get(dut.overflow), ctx.get(dut.wrapped)))
        await send(ctx, 0, -40000)  # 40000: does not fit 16 bits
        await ctx.tick().repeat(dut.latency + 1)
        seen.append((ctx.get(dut.overflow), ctx.get(dut.wrapped)))
        await send(ctx, 1, 1)  # fits; overflow must stay set
        await ctx.tick().repeat(dut.latency + 1)
        seen.append((ctx.get(dut.overflow), ctx.get(dut.wrapped)))
        ctx.set(dut.clear, 1)
        await ctx.tick()
        ctx.set(dut.clear, 0)
        seen.append((ctx.get(dut.overflow), ctx.get(dut.wrapped)))
        await send(ctx, 32767, INT32_MIN)  # U = -2**31, W - U wraps int32 and overflows 16 bits
        await ctx.tick().repeat(dut.latency - 2)
        ctx.set(dut.clear, 1)  # clear in the cycle the event is registered: the event wins
        await ctx.tick()
        ctx.set(dut.clear, 0)
        seen.append((ctx.get(dut.overflow), ctx.get(dut.wrapped)))
        ctx.set(dut.clear, 1)
        await ctx.tick()
        seen.append((ctx.get(dut.overflow), ctx.get(dut.wrapped)))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    assert seen == [(0, 0), (1, 0), (1, 0), (0, 0), (1, 1), (0, 0)]


def test_sgd_config_and_interface():
    dut = SgdUpdate(32)
    assert dut.latency == 10 and dut.dsp18 == 8 and SgdUpdate(16).dsp18 == 5
    assert dut.scaled_latency == Scaler(32).latency == 8
    r, q = reciprocal(327680), reciprocal(12000)
    assert dut.config(327680, 12000) == {"lr_multiplier": r.multiplier, "lr_shift": r.shift,
                                        "decay_multiplier": q.multiplier, "decay_shift": q.shift,
                                        "decay_enable": 1}
    assert dut.config(327680 * 3**12, 0)["lr_multiplier"] == 0
    assert dut.config(327680, 0)["decay_enable"] == 0
    d16 = SgdUpdate(16).config(512, 30000)
    assert (d16["decay_multiplier"], d16["decay_shift"]) == (reciprocal(30000, 16).multiplier,
                                                           reciprocal(30000, 16).shift)
    with pytest.raises(ValueError, match="weight_width"):
        SgdUpdate(8)
    with pytest.raises(ValueError, match="lr_divisor"):
        dut.config(0, 100)
    with pytest.raises(ValueError, match="decay_inv"):
        dut.config(512, -1)


@pytest.mark.parametrize(("weight_width", "stall"), [(16, 0.0), (16, 0.4), (32, 0.3)])
def test_sgd_sim_scaling_elements_share_the_gradient_divider(weight_width, stall):
    """Scaling elements (``scaling`` = 1) leave at ``scaled`` as clamp(tdiv(z, SF)), in between updates.

    Each scaling element carries a weight that would overflow 16 bits and wrap int32 if it were
    an update: the flags must stay clear, and ``o`` must carry exactly the updates, in order.
    """
    dut = SgdUpdate(weight_width)
    rng = random.Random(weight_width * 10 + int(stall * 10))
    a, d = 327680 * 9, 29000
    update_cfg = dut.config(a, d)
    wlo, whi = (INT32_MIN, INT32_MAX) if weight_width == 32 else (INT16_MIN, INT16_MAX)
    elements = []  # (scaling, w, g, sf)
    for _ in range(400):
        if rng.random() < 0.5:
            sf = rng.choice([2304, 25600, 200704, 1179648, 256])
            z = rng.choice([INT32_MIN, INT32_MAX, 127 * sf, -128 * sf, rng.randint(-200 * sf, 200 * sf),
                            rng.randint(INT32_MIN, INT32_MAX)])
            elements.append((1, whi, z, sf))
        else:
            elements.append((0, rng.randint(wlo, whi), rng.randint(-(2**26), 2**26), 0))
    scaled, scaled_cycles, outputs, acc_cycles = [], [], [], {}

    async def testbench(ctx):
        ctx.set(dut.clear, 1)
        await ctx.tick()
        ctx.set(dut.clear, 0)
        idx, cycle, pending = 0, 0, False
        while len(scaled) + len(outputs) < len(elements):
            if not pending and idx < len(elements):
                pending = True
                scaling, w, g, sf = elements[idx]
                cfg = dict(update_cfg)
                if scaling:
                    sc = reciprocal(sf, 32)
                    cfg.update(lr_multiplier=sc.multiplier, lr_shift=sc.shift, decay_enable=0)
                for name, value in cfg.items():
                    ctx.set(getattr(dut, name), value)
                ctx.set(dut.scaling, scaling)
                ctx.set(dut.i.payload, {"w": w, "g": g})
            ctx.set(dut.i.valid, pending)
            ctx.set(dut.o.ready, rng.random() >= stall)
            _, _, i_ready, o_valid, o_ready, o_payload, s_valid, s_payload = await ctx.tick().sample(
                dut.i.ready, dut.o.valid, dut.o.ready, dut.o.payload, dut.scaled_valid, dut.scaled)
            if pending and i_ready:
                acc_cycles[idx] = cycle
                pending, idx = False, idx + 1
            if o_valid and o_ready:
                outputs.append(o_payload)
            if s_valid:
                scaled.append(s_payload)
                scaled_cycles.append(cycle)
            cycle += 1
            assert cycle < 20 * len(elements), "simulation stuck"
        await ctx.tick().repeat(dut.latency + 2)
        assert not ctx.get(dut.scaled_valid) and not ctx.get(dut.o.valid)
        assert (ctx.get(dut.overflow), ctx.get(dut.wrapped)) == (0, 0)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    assert scaled == [nitro_scaling(g, sf) for s, _, g, sf in elements if s]
    exact = [golden_update(w, g, a, d) for s, w, g, _ in elements if not s]
    assert outputs == (exact if weight_width == 32 else [low16(v) for v in exact])
    if stall == 0:
        scaled_acc = [acc_cycles[k] for k, e in enumerate(elements) if e[0]]
        assert scaled_cycles == [c + dut.scaled_latency for c in scaled_acc]

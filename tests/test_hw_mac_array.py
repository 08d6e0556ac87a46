"""MacArray in the Amaranth simulator against int64 matmul + wrap32."""

from __future__ import annotations

import random

import numpy as np
import pytest
from amaranth.sim import Simulator

from nitro_hw.golden.primitives import INT32_MAX, INT32_MIN, wrap32
from nitro_hw.hw.mac_array import MacArray


def _golden_tiles(tiles, acc_width=32):
    """Expected rows per tile: wrap(narrow^T @ wide) computed exactly in int64."""
    out = []
    for narrow, wide in tiles:
        exact = narrow.astype(np.int64).T @ wide.astype(np.int64)  # [R, C]
        if acc_width == 32:
            out.append(wrap32(exact).astype(np.int64))
        else:
            mod = 1 << acc_width
            out.append(((exact + mod // 2) % mod) - mod // 2)
    return out


def _golden_overflow(tiles, dsp_width=18):
    """True if some wide operand lies outside the signed dsp_width-bit range (needs the high slice)."""
    lo, hi = -(1 << (dsp_width - 1)), (1 << (dsp_width - 1)) - 1
    return any(bool(np.any((wide < lo) | (wide > hi))) for _, wide in tiles)


def _beats(tiles):
    for narrow, wide in tiles:
        K = narrow.shape[0]
        for k in range(K):
            yield {"narrow": [int(v) for v in narrow[k]], "wide": [int(v) for v in wide[k]],
                   "first": int(k == 0), "last": int(k == K - 1)}


def _run(dut: MacArray, tiles, *, seed=0, idle=0.0, stall=0.0, clear_at=None):
    """Drive all tiles with random valid gaps / ready stalls; return a dict of observations."""
    beats = list(_beats(tiles))
    n_out = len(tiles) * dut.rows
    rng = random.Random(seed)
    obs = {"accepted": [], "outputs": [], "ready_low": 0, "overflow": []}

    async def bench(ctx):
        cycle, bi, extra = 0, 0, 0
        while len(obs["outputs"]) < n_out or extra < 2 * dut.latency + 4:
            if len(obs["outputs"]) >= n_out:
                extra += 1
            send = bi < len(beats) and rng.random() >= idle
            ctx.set(dut.i.valid, int(send))
            if send:
                ctx.set(dut.i.payload, beats[bi])
            take = rng.random() >= stall
            ctx.set(dut.o.ready, int(take))
            ctx.set(dut.clear, int(clear_at is not None and cycle == clear_at))
            _, _, i_ready, o_valid, o_payload, ovf = await ctx.tick().sample(
                dut.i.ready, dut.o.valid, dut.o.payload, dut.overflow)
            if send and not i_ready:
                obs["ready_low"] += 1
            if send and i_ready:
                obs["accepted"].append(cycle)
                bi += 1
            if o_valid and take:
                obs["outputs"].append((cycle, int(o_payload.row),
                                       [int(o_payload.acc[c]) for c in range(dut.cols)]))
            obs["overflow"].append(int(ovf))
            cycle += 1
            assert cycle < 50 * len(beats) + 200, "timeout"
        ctx.set(dut.i.valid, 0)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return obs


def _check_values(dut, tiles, obs, acc_width=32):
    expected = _golden_tiles(tiles, acc_width)
    got = obs["outputs"]
    assert len(got) == len(tiles) * dut.rows
    for t, tile in enumerate(expected):
        for r in range(dut.rows):
            _, row, values = got[t * dut.rows + r]
            assert row == r
            assert np.array_equal(np.array(values, dtype=np.int64), tile[r]), (t, r)


def _random_tile(rng: np.random.RandomState, K, R, C, wide_bits=32, extreme=False):
    lo, hi = -(1 << (wide_bits - 1)), (1 << (wide_bits - 1)) - 1
    narrow = rng.randint(-128, 128, size=(K, R)).astype(np.int64)
    wide = rng.randint(lo, hi + 1, size=(K, C), dtype=np.int64)
    if extreme:
        narrow[rng.rand(K, R) < 0.5] = -128
        mask = rng.rand(K, C)
        wide[mask < 0.4] = lo
        wide[mask > 0.8] = hi
    return narrow, wide


def test_random_tiles_with_stalls_8x8():
    dut = MacArray(8, 8)
    rng = np.random.RandomState(1)
    tiles = [_random_tile(rng, K, 8, 8, extreme=(K % 2 == 0)) for K in (1, 3, 8, 12, 2, 9)]
    obs = _run(dut, tiles, seed=1, idle=0.3, stall=0.4)
    _check_values(dut, tiles, obs)


def test_extreme_operands():
    """INT32_MIN weights times -128 in every MAC: the product is 2**38, acc wraps to 0."""
    dut = MacArray(4, 4)
    K = 5
    tiles = [(np.full((K, 4), -128), np.full((K, 4), INT32_MIN)),
             (np.full((K, 4), 127), np.full((K, 4), INT32_MAX)),
             (np.full((K, 4), -128), np.full((K, 4), INT32_MAX))]
    obs = _run(dut, tiles)
    _check_values(dut, tiles, obs)
    assert obs["outputs"][0][2] == [0, 0, 0, 0]


def test_latency_and_full_throughput():
    """Tiles with K >= tile_interval back to back: no input stall, a tile every K cycles."""
    dut = MacArray(8, 8)
    assert dut.tile_interval == 8 + dut.latency
    rng = np.random.RandomState(2)
    T = dut.tile_interval
    Ks = [T, T, T + 3, T + 1]
    tiles = [_random_tile(rng, K, 8, 8) for K in Ks]
    obs = _run(dut, tiles)
    _check_values(dut, tiles, obs)
    assert obs["ready_low"] == 0
    assert obs["accepted"] == list(range(sum(Ks)))  # one k-step per cycle
    last_beats = np.cumsum(Ks) - 1
    first_rows = [obs["outputs"][t * 8][0] for t in range(len(Ks))]
    # o.valid rises `latency` cycles after the cycle that accepted the last beat; ready is high
    assert first_rows == [int(c) + dut.latency for c in last_beats]
    rows = [o[0] for o in obs["outputs"]]
    for t in range(len(Ks)):
        assert rows[t * 8:(t + 1) * 8] == list(range(first_rows[t], first_rows[t] + 8))


@pytest.mark.parametrize("wide_width", [32, 16])
def test_short_tiles_stall_input(wide_width):
    """K < tile_interval: a last beat waits until the previous tile has drained."""
    dut = MacArray(4, 3, wide_width=wide_width)
    rng = np.random.RandomState(3)
    tiles = [_random_tile(rng, K, 4, 3, wide_bits=wide_width) for K in (1, 1, 2, 1, 3)]
    obs = _run(dut, tiles)
    _check_values(dut, tiles, obs)
    assert obs["ready_low"] > 0
    firsts = [obs["outputs"][t * 4][0] for t in range(5)]
    assert np.all(np.diff(firsts) == dut.tile_interval)


@pytest.mark.parametrize("wide_width,acc_width", [(16, 32), (17, 32), (18, 32), (24, 40), (8, 12), (32, 32)])
def test_other_widths(wide_width, acc_width):
    dut = MacArray(3, 5, wide_width=wide_width, acc_width=acc_width)
    rng = np.random.RandomState(wide_width)
    tiles = [_random_tile(rng, K, 3, 5, wide_bits=wide_width, extreme=True) for K in (4, 1, 7)]
    obs = _run(dut, tiles, seed=wide_width, idle=0.2, stall=0.3)
    _check_values(dut, tiles, obs, acc_width)
    assert bool(obs["overflow"][-1]) == _golden_overflow(tiles)
    assert bool(obs["overflow"][-1]) == (wide_width > 18)  # extreme operands reach both ends


@pytest.mark.parametrize("dsp_width", [16, 18, 25])
def test_split_product_every_boundary(dsp_width):
    """The high slice and the hard-multiplier slice at every operand boundary of the split."""
    dut = MacArray(4, 4, wide_width=32, dsp_width=dsp_width)
    s = dsp_width - 1
    specials = [0, 1, -1, INT32_MIN, INT32_MAX, (1 << s) - 1, 1 << s, -(1 << s), -(1 << s) - 1,
                (1 << (s + 1)) - 1, -(1 << 31) + (1 << s), 0x55555555, -0x55555556]
    narrow_vals = [-128, -127, -1, 0, 1, 127, 85, -86]
    rng = np.random.RandomState(dsp_width)
    tiles = []
    for _ in range(4):
        K = 6
        narrow = rng.choice(narrow_vals, size=(K, 4)).astype(np.int64)
        wide = rng.choice(specials, size=(K, 4)).astype(np.int64)
        tiles.append((narrow, wide))
    obs = _run(dut, tiles, seed=dsp_width, idle=0.1, stall=0.2)
    _check_values(dut, tiles, obs)


def test_overflow_flag_sticky_and_clear():
    dut = MacArray(2, 2)
    small = (np.array([[3, -4], [5, 6]]), np.array([[1000, -7], [8, 9]]))
    assert not _golden_overflow([small])
    obs = _run(dut, [small, small])
    assert obs["overflow"][-1] == 0

    wide = (np.ones((3, 2), dtype=np.int64), np.array([[1 << 17, 0], [1, 0], [-1, 0]]))
    assert _golden_overflow([wide])
    obs = _run(dut, [wide, small])
    _check_values(dut, [wide, small], obs)
    assert obs["overflow"][-1] == 1  # sticky across the following clean tile
    on = obs["overflow"].index(1)
    obs = _run(dut, [wide, small], clear_at=on + 3)
    assert obs["overflow"][on + 4] == 0 and obs["overflow"][-1] == 0
    edge = (np.ones((1, 2), dtype=np.int64), np.array([[(1 << 17) - 1, -(1 << 17)]]))
    assert not _golden_overflow([edge])
    obs = _run(MacArray(2, 2), [edge])
    assert obs["overflow"][-1] == 0


def test_multiplier_count():
    for ww in (32, 18, 16):
        dut = MacArray(8, 8, wide_width=ww)
        assert dut.multipliers_per_mac == 1 and dut.multipliers == 64
    assert MacArray(8, 8).latency == 7
    assert MacArray(8, 8, wide_width=16).latency == 5


def test_bad_parameters():
    for kw in ({"rows": 0}, {"cols": 65}, {"narrow_width": 1}, {"narrow_width": 19}, {"wide_width": 33},
               {"dsp_width": 8}, {"acc_width": 65}, {"rows": 2.0}):
        with pytest.raises(ValueError, match=next(iter(kw))):
            MacArray(**kw)

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


def _golden_overflow(tiles, acc_width=32):
    """True if some running update acc + product leaves the signed acc_width range."""
    lo, hi = -(1 << (acc_width - 1)), (1 << (acc_width - 1)) - 1
    mod = 1 << acc_width
    for narrow, wide in tiles:
        acc = np.zeros((narrow.shape[1], wide.shape[1]), dtype=object)
        for k in range(narrow.shape[0]):
            prod = np.outer(narrow[k].astype(object), wide[k].astype(object))
            exact = prod if k == 0 else acc + prod
            if any(not lo <= int(v) <= hi for v in exact.flat):
                return True
            acc = np.vectorize(lambda v: ((int(v) + mod // 2) % mod) - mod // 2, otypes=[object])(exact)
    return False


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
    """Tiles with K >= rows back to back: no input stall, a tile every K cycles."""
    dut = MacArray(8, 8)
    rng = np.random.RandomState(2)
    Ks = [8, 8, 11, 9]
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


def test_short_tiles_stall_input():
    """K < rows: the input waits while the previous tile drains (one tile per rows cycles)."""
    dut = MacArray(4, 3)
    rng = np.random.RandomState(3)
    tiles = [_random_tile(rng, 1, 4, 3) for _ in range(5)]
    obs = _run(dut, tiles)
    _check_values(dut, tiles, obs)
    assert obs["ready_low"] > 0
    firsts = [obs["outputs"][t * 4][0] for t in range(5)]
    assert np.all(np.diff(firsts) == 4)


@pytest.mark.parametrize("wide_width,acc_width", [(16, 32), (17, 32), (18, 32), (24, 40), (8, 12)])
def test_other_widths(wide_width, acc_width):
    dut = MacArray(3, 5, wide_width=wide_width, acc_width=acc_width)
    rng = np.random.RandomState(wide_width)
    tiles = [_random_tile(rng, K, 3, 5, wide_bits=wide_width, extreme=True) for K in (4, 1, 7)]
    obs = _run(dut, tiles, seed=wide_width, idle=0.2, stall=0.3)
    _check_values(dut, tiles, obs, acc_width)
    assert bool(obs["overflow"][-1]) == _golden_overflow(tiles, acc_width)


def test_overflow_flag_sticky_and_clear():
    dut = MacArray(2, 2)
    small = (np.array([[3, -4], [5, 6]]), np.array([[1000, -7], [8, 9]]))
    assert not _golden_overflow([small])
    obs = _run(dut, [small, small])
    assert obs["overflow"][-1] == 0

    # Partial sums leave the int32 range and come back: still flagged (per-update definition).
    back = (np.ones((3, 2), dtype=np.int64), np.array([[INT32_MAX, 0], [1, 0], [-1, 0]]))
    assert _golden_overflow([back])
    assert np.array_equal(_golden_tiles([back])[0][:, 0], [INT32_MAX, INT32_MAX])
    obs = _run(dut, [back, small])
    _check_values(dut, [back, small], obs)
    assert obs["overflow"][-1] == 1  # sticky across the following clean tile
    on = obs["overflow"].index(1)
    obs = _run(dut, [back, small], clear_at=on + 3)
    assert obs["overflow"][on + 4] == 0 and obs["overflow"][-1] == 0


def test_multiplier_count():
    assert MacArray(8, 8, wide_width=32).multipliers_per_mac == 2
    assert MacArray(8, 8, wide_width=16).multipliers_per_mac == 1
    assert MacArray(8, 8, wide_width=18).multipliers_per_mac == 1
    assert MacArray(8, 8, wide_width=16).multipliers == 64
    assert MacArray(8, 8).latency == 3


@pytest.mark.parametrize("kwargs,name", [
    ({"rows": 0}, "rows"), ({"cols": 65}, "cols"), ({"narrow_width": 19}, "narrow_width"),
    ({"wide_width": 1}, "wide_width"), ({"acc_width": 65}, "acc_width"),
    ({"wide_width": 33, "acc_width": 32}, "wide_width"), ({"rows": 2.0}, "rows"),
])
def test_bad_parameters(kwargs, name):
    with pytest.raises(ValueError, match=name):
        MacArray(**kwargs)

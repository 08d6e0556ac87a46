"""MaxPoolArgmax / MaxPoolRoute in the Amaranth simulator against the golden MaxPool2d."""

from __future__ import annotations

import random

import numpy as np
import pytest
from amaranth.sim import Simulator

from nitro_hw.golden.layers import MaxPool2d
from nitro_hw.hw.maxpool import MaxPoolArgmax, MaxPoolRoute


def _run(dut, payloads, decode, *, seed=0, idle=0.0, stall=0.0):
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
            _, _, i_ready, o_valid, p = await ctx.tick().sample(dut.i.ready, dut.o.valid, dut.o.payload)
            if send and i_ready:
                accepted.append(cycle)
                k += 1
            if o_valid and take:
                outputs.append((cycle, decode(p)))
            cycle += 1
            assert cycle < 20 * len(payloads) + 100, "timeout"

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return accepted, outputs


def _windows(h: int, w: int, k: tuple[int, int], p: tuple[int, int]):
    """Per window (row-major over outputs): list of input positions (or None for padding)."""
    (kh, kw), (ph, pw) = k, p
    oh, ow = (h + 2 * ph - kh) // kh + 1, (w + 2 * pw - kw) // kw + 1
    out = []
    for oy in range(oh):
        for ox in range(ow):
            cells = []
            for dy in range(kh):
                for dx in range(kw):
                    y, x = oy * kh + dy - ph, ox * kw + dx - pw
                    cells.append((y, x) if 0 <= y < h and 0 <= x < w else None)
            out.append(cells)
    return out, (oh, ow)


@pytest.mark.parametrize("h,kernel,padding,width", [
    (14, (8, 4), (4, 2), 8),   # decoder pool of the 28x28 CNNs; ignores rows 12-13
    (7, (4, 2), (2, 1), 8),    # ignores row 6
    (7, (2, 2), (0, 0), 8),    # odd size: trailing row/column ignored
    (8, (2, 2), (1, 1), 16),   # int16 activations after dropout
])
def test_against_golden_maxpool(h, kernel, padding, width):
    rng = np.random.RandomState(h + width)
    B, C = 2, 3
    dtype = np.int8 if width == 8 else np.int16
    # Few distinct values (many ties), many all-negative windows (pad value 0 wins there).
    x = rng.choice([-67, -36, -36, -20, 0, 5, 91], size=(B, C, h, h)).astype(dtype)
    x[0, 0] = -rng.randint(1, 60, size=(h, h))
    if width == 16:
        x[1, 2] = rng.randint(-32768, 32768, size=(h, h))
    golden = MaxPool2d(kernel, padding)
    pooled = golden.forward(x, store=True)
    windows, (oh, ow) = _windows(h, h, kernel, padding)

    window = kernel[0] * kernel[1]
    dut = MaxPoolArgmax(window, width)
    payloads, where = [], []
    for b in range(B):
        for c in range(C):
            for wi, cells in enumerate(windows):
                vals = [int(x[b, c, y, xx]) if pos is not None else 0x55 for pos in cells
                        for (y, xx) in [pos or (0, 0)]]
                payloads.append({"x": vals, "pad": [int(pos is None) for pos in cells]})
                where.append((b, c, wi // ow, wi % ow))
    _, outputs = _run(dut, payloads, lambda p: (int(p.max), int(p.index), int(p.pad_hit)),
                      seed=h, idle=0.2, stall=0.3)
    assert len(outputs) == len(payloads)
    got_max = np.zeros(pooled.shape, dtype=np.int64)
    got_idx = np.zeros(pooled.shape, dtype=np.int64)
    for (b, c, oy, ox), (_, (mx, idx, pad_hit)) in zip(where, outputs, strict=True):
        got_max[b, c, oy, ox], got_idx[b, c, oy, ox] = mx, idx
        assert pad_hit == int(windows[oy * ow + ox][idx] is None)
    assert np.array_equal(got_max.astype(pooled.dtype), pooled)
    assert np.array_equal(got_idx, golden.index)
    if padding != (0, 0):
        assert any(o[1][2] for o in outputs)  # some argmax landed on a padding cell

    # Backward: route errors through the hardware and reassemble the input-shaped gradient.
    delta = rng.randint(-2**31, 2**31, size=pooled.shape, dtype=np.int64).astype(np.int32)
    route = MaxPoolRoute(window, 32)
    route_in = [{"error": int(delta[w]), "index": int(got_idx[w]),
                 "drop": int(windows[w[2] * ow + w[3]][int(got_idx[w])] is None)} for w in where]
    _, routed = _run(route, route_in, lambda p: [int(p[k]) for k in range(window)],
                     seed=h + 1, idle=0.2, stall=0.3)
    full = np.zeros(x.shape, dtype=np.int64)
    for (b, c, oy, ox), (_, vec) in zip(where, routed, strict=True):
        for pos, v in zip(windows[oy * ow + ox], vec, strict=True):
            if pos is None:
                assert v == 0
            else:
                full[b, c, pos[0], pos[1]] = v
    assert np.array_equal(full.astype(np.int32), golden.backward(delta))


def test_tie_first_index_and_latency():
    dut = MaxPoolArgmax(4, 8)
    cases = [([3, 3, 3, 3], [0] * 4, (3, 0, 0)), ([-5, 7, 2, 7], [0] * 4, (7, 1, 0)),
             ([-5, -7, -2, -9], [0, 0, 0, 1], (0, 3, 1)),   # padding 0 beats negatives
             ([0, -1, 0, 0], [0, 1, 1, 0], (0, 0, 0)),      # tie of a real 0 and padding: first wins
             ([-128, -128, -128, -128], [0] * 4, (-128, 0, 0)), ([1, 2, 3, 127], [0] * 4, (127, 3, 0))]
    payloads = [{"x": x, "pad": p} for x, p, _ in cases]
    accepted, outputs = _run(dut, payloads, lambda p: (int(p.max), int(p.index), int(p.pad_hit)))
    assert [o[1] for o in outputs] == [c[2] for c in cases]
    assert accepted == list(range(len(cases)))
    assert [o[0] for o in outputs] == [c + dut.latency for c in accepted]


def test_route_drop_and_latency():
    dut = MaxPoolRoute(6, 32)
    payloads = [{"error": -2**31, "index": 5, "drop": 0}, {"error": 77, "index": 0, "drop": 1},
                {"error": 2**31 - 1, "index": 2, "drop": 0}]
    accepted, outputs = _run(dut, payloads, lambda p: [int(p[k]) for k in range(6)])
    assert [o[1] for o in outputs] == [[0, 0, 0, 0, 0, -2**31], [0] * 6, [0, 0, 2**31 - 1, 0, 0, 0]]
    assert [o[0] for o in outputs] == [c + dut.latency for c in accepted]


@pytest.mark.parametrize("cls", [MaxPoolArgmax, MaxPoolRoute])
@pytest.mark.parametrize("kwargs,name", [({"window": 1}, "window"), ({"window": 65}, "window"),
                                         ({"width": 1}, "width"), ({"width": 33}, "width")])
def test_bad_parameters(cls, kwargs, name):
    with pytest.raises(ValueError, match=name):
        cls(**kwargs)

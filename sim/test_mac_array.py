"""cocotb testbench of MacArray: tiles of k-steps against int64 matmul + wrap.

Driver -> DUT -> sink with random valid gaps and ready stalls; the golden model
predicts every output row (``wrap(narrow^T @ wide)`` computed exactly in int64) and an
in-order checker compares. Parameters (via ``NITRO_TB_PARAMS``): ``rows``, ``cols``,
``narrow_width``, ``wide_width``, ``acc_width``.
"""

import random

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge

from nitro_hw.hw import built_to_ask
from nitro_hw.hw.mac_array import MacArray
from nitro_hw.tb.runner import read_params
from nitro_hw.tb.streams import InOrderChecker, StreamDriver, StreamSink, pack, unpack


def _params():
    p = read_params()
    return (int(p.get("rows", 8)), int(p.get("cols", 8)), int(p.get("narrow_width", 8)),
            int(p.get("wide_width", 32)), int(p.get("acc_width", 32)))


def _wrap(v: int, bits: int) -> int:
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


async def _reset(dut):
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    dut.clear.value = 0
    dut.i__valid.value = 0
    dut.o__ready.value = 0
    await ClockCycles(dut.clk, 2)
    dut.rst.value = 0
    await RisingEdge(dut.clk)


def _random_tile(rng: np.random.RandomState, K: int, extreme: bool):
    R, C, nw, ww, _ = _params()
    nlo, nhi = -(1 << (nw - 1)), (1 << (nw - 1)) - 1
    wlo, whi = -(1 << (ww - 1)), (1 << (ww - 1)) - 1
    narrow = rng.randint(nlo, nhi + 1, size=(K, R)).astype(np.int64)
    wide = rng.randint(wlo, whi + 1, size=(K, C), dtype=np.int64)
    if extreme:
        narrow[rng.rand(K, R) < 0.5] = nlo
        mask = rng.rand(K, C)
        wide[mask < 0.4] = wlo
        wide[mask > 0.8] = whi
    return narrow, wide


def _beats(tiles) -> list[int]:
    _, _, nw, ww, _ = _params()
    words = []
    for narrow, wide in tiles:
        K = narrow.shape[0]
        for k in range(K):
            fields = [(int(v), nw) for v in narrow[k]] + [(int(v), ww) for v in wide[k]]
            fields += [(int(k == 0), 1), (int(k == K - 1), 1)]
            words.append(pack(fields))
    return words


def _expected_rows(tiles) -> list[tuple]:
    """(row, acc...) per output beat; exact integer sums (Python ints) then wrap."""
    R, C, _, _, aw = _params()
    out = []
    for narrow, wide in tiles:
        exact = narrow.astype(object).T @ wide.astype(object)
        for r in range(R):
            out.append((r, *(_wrap(int(v), aw) for v in exact[r])))
    return out


def _overflows(tiles) -> bool:
    """Some wide operand lies outside the hard multiplier's signed 18-bit range."""
    return any(bool(np.any((wide < -(1 << 17)) | (wide >= 1 << 17))) for _, wide in tiles)


def _tile_interval() -> int:
    """Fewest cycles between two tiles' last beats: rows + pipeline latency (MacArray's own figure)."""
    R, C, nw, ww, aw = _params()
    return built_to_ask(MacArray(R, C, narrow_width=nw, wide_width=ww, acc_width=aw)).tile_interval


async def _run_tiles(dut, tiles, rng: random.Random, idle: float, stall: float):
    R, C, _, _, aw = _params()
    row_bits = max(1, (R - 1).bit_length())
    sink = StreamSink(dut, "o", dut.clk, rng, stall_prob=stall,
                      decode=lambda raw: tuple(unpack(raw, [(row_bits, False)] + [(aw, True)] * C)))
    sink.start()
    checker = InOrderChecker("mac_array rows")
    for row in _expected_rows(tiles):
        checker.expect(row)
    beats = _beats(tiles)
    await StreamDriver(dut, "i", dut.clk, rng, idle_prob=idle).send(beats)
    await sink.wait_for(len(tiles) * R, timeout_cycles=60 * (len(beats) + len(tiles) * R) + 100)
    await ClockCycles(dut.clk, 3 * R + 10)  # a duplicated row would show up here
    sink.stop()
    checker.check_all(sink.received)


@cocotb.test()
async def random_tiles_with_backpressure(dut):
    """Back-to-back tiles of different K (1 .. 3*rows), random and extreme operands, stalls."""
    R, _, _, _, _ = _params()
    await _reset(dut)
    rng = random.Random(11)
    nrng = np.random.RandomState(11)
    Ks = [1, R, 2 * R + 1, 2, R + 3, 1, 3 * R, 3, _tile_interval()]
    tiles = [_random_tile(nrng, K, extreme=(j % 2 == 1)) for j, K in enumerate(Ks)]
    await _run_tiles(dut, tiles, rng, idle=0.3, stall=0.3)
    await _run_tiles(dut, tiles[::-1], rng, idle=0.0, stall=0.6)


@cocotb.test()
async def full_throughput_and_overflow(dut):
    """With ready high and K >= the tile interval the input never stalls; extreme operands flag overflow."""
    R, C, nw, ww, _ = _params()
    await _reset(dut)
    rng = random.Random(12)
    nrng = np.random.RandomState(12)
    T = _tile_interval()
    small = [(np.ones((K, R), dtype=np.int64), np.ones((K, C), dtype=np.int64)) for K in (T, T + 1, T)]
    sink = StreamSink(dut, "o", dut.clk, rng, stall_prob=0.0)
    sink.start()
    beats = _beats(small)
    stalls = 0
    dut.i__valid.value = 1
    for word in beats:  # one beat per cycle, ready must stay high
        dut.i__payload.value = word
        await ReadOnly()
        stalls += int(dut.i__ready.value) == 0
        await RisingEdge(dut.clk)
    dut.i__valid.value = 0
    await sink.wait_for(3 * R, timeout_cycles=20 * T + 50)
    sink.stop()
    assert stalls == 0, f"input stalled {stalls} times at full throughput"
    assert int(dut.overflow.value) == 0

    lo = -(1 << (nw - 1))
    wlo = -(1 << (ww - 1))
    extreme = (np.full((2, R), lo, dtype=np.int64), np.full((2, C), wlo, dtype=np.int64))
    tiles = [extreme, _random_tile(nrng, 2, False)]
    await _run_tiles(dut, tiles, rng, idle=0.2, stall=0.2)
    assert int(dut.overflow.value) == int(_overflows(tiles))
    dut.clear.value = 1
    await RisingEdge(dut.clk)
    dut.clear.value = 0
    await RisingEdge(dut.clk)
    assert int(dut.overflow.value) == 0

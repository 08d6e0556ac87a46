"""cocotb testbench of SinglePortRam in its iCE40 form (a grid of SB_SPRAM256KA, behavioural model).

Random reads and writes over the whole address range (every row and column of the grid)
against a Python dict; a read's word is checked one cycle after its address. Parameters
(via ``NITRO_TB_PARAMS``): ``width``, ``depth``.
"""

import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, ReadOnly

from nitro_hw.tb.runner import read_params


@cocotb.test()
async def random_reads_and_writes(dut):
    params = read_params()
    width, depth = int(params["width"]), int(params["depth"])
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    dut.w_en.value = 0
    dut.addr.value = 0
    dut.w_data.value = 0
    await ClockCycles(dut.clk, 2)
    dut.rst.value = 0
    rng = random.Random(7)
    model: dict[int, int] = {}
    # addresses at both ends of every 16 K row, and random ones
    hot = sorted({a for r in range(0, depth, 16384) for a in (r, r + 1, min(r + 16383, depth - 1))}
                 | {depth - 1})
    pending = None  # (address, expected) of the read issued in the previous cycle
    reads = 0
    for _ in range(3000):
        await FallingEdge(dut.clk)
        # the next access first: the word of the previous read must not depend on it (the engine
        # presents its next address while it consumes a read)
        addr = rng.choice(hot) if rng.random() < 0.3 else rng.randrange(depth)
        dut.addr.value = addr
        write = rng.random() < 0.5 or addr not in model
        value = rng.randrange(1 << width)
        dut.w_en.value = int(write)
        dut.w_data.value = value
        await ReadOnly()
        if pending is not None:
            r_addr, want = pending
            got = int(dut.r_data.value)
            assert got == want, f"read {r_addr}: got {got:#x}, expected {want:#x}"
            reads += 1
        if write:
            model[addr] = value
            pending = None
        else:
            pending = (addr, model[addr])
    assert reads > 500

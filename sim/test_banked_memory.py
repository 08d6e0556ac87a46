"""cocotb testbench of BankedMemory (generic form, or the ECP5 form on the DP16KD model).

Random reads and writes against a Python list; a read's word is checked
:data:`~nitro_hw.hw.engine.banked_memory.READ_LATENCY` cycles after its address, and a read sees
every write presented two or more cycles earlier. Parameters (via ``NITRO_TB_PARAMS``):
``width``, ``depth``, ``poison`` (the memory was built with ``poison_collisions``: reads one
cycle after a write of their address are made on purpose and must return the complement of the
old word; without it they are avoided, as the engine avoids them).
"""

import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, ReadOnly

from nitro_hw.hw.engine.banked_memory import READ_LATENCY
from nitro_hw.tb.runner import read_params


@cocotb.test()
async def random_reads_and_writes(dut):
    params = read_params()
    width, depth, poison = int(params["width"]), int(params["depth"]), bool(params["poison"])
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    dut.w_en.value = 0
    dut.w_addr.value = 0
    dut.w_data.value = 0
    dut.r_addr.value = 0
    await ClockCycles(dut.clk, 2)
    dut.rst.value = 0
    rng = random.Random(depth)
    mask = (1 << width) - 1
    model = [0] * depth  # memories start at zero
    writes = []  # the write presented in each cycle, or None
    pending = []  # (cycle the word is due, address, expected word)
    checked = collisions = 0
    for cycle in range(8 * depth + 200):
        await FallingEdge(dut.clk)
        if cycle >= 2 and writes[cycle - 2]:
            a, d = writes[cycle - 2]
            model[a] = d
        write = rng.random() < 0.5
        wa, wd = rng.randrange(depth), rng.randrange(1 << width)
        ra = rng.randrange(depth)
        expected = None
        prev = writes[cycle - 1] if cycle >= 1 else None
        if prev and (ra == prev[0] or (poison and rng.random() < 0.1)):
            if poison:  # collide on purpose: the complement of the old word
                ra = prev[0]
                expected = ~model[ra] & mask
                collisions += 1
            else:
                ra = (ra + 1) % depth
        if expected is None:
            expected = model[ra]
        writes.append((wa, wd) if write else None)
        dut.w_en.value = int(write)
        dut.w_addr.value = wa
        dut.w_data.value = wd
        dut.r_addr.value = ra
        pending.append((cycle + READ_LATENCY, ra, expected))
        await ReadOnly()
        while pending and pending[0][0] == cycle:
            _, a, want = pending.pop(0)
            got = int(dut.r_data.value)
            assert got == want, f"cycle {cycle}: read {a}: got {got:#x}, expected {want:#x}"
            checked += 1
    assert checked > 6 * depth
    assert collisions > 0 or not poison

"""One 512 x 36 block-RAM slice with a registered output: an ECP5 DP16KD with its output register.

:class:`~nitro_hw.hw.engine.banked_memory.BankedMemory` registers every block RAM's output
before it is muxed (read latency 2 at the block RAM: the array, then the register). Yosys maps
an Amaranth memory to a DP16KD with ``REGMODE = "NOREG"`` and keeps that register in the
fabric (it never packs one into the block RAM), so on the ``mlp1`` engine 181 block RAMs
cost about 6,500 fabric flip-flops, each fed by the slow clock-to-output of the bare array.
With a platform whose ``block_ram`` is ``"DP16KD"`` (:data:`~nitro_hw.hw.hard_multiplier.ECP5`)
:func:`registered_slice` instantiates the DP16KD in 512 x 36 pseudo-dual-port mode with the
output register inside (``REGMODE = "OUTREG"``); otherwise (simulation, ``rtl/``, iCE40) it is
an Amaranth memory and a fabric register. Both forms give the same word in the same cycle:
the word at the read address of cycle ``t`` in cycle ``t + 2``, a memory starting at zero.

``sim/models/DP16KD.v`` is a behavioural model of the subset used (the Lattice model is not
open), so the ECP5 form runs under cocotb against the same checks as the generic one.
"""

from __future__ import annotations

from amaranth.hdl import ClockSignal, Const, Instance, Module, Signal, Value, unsigned
from amaranth.lib.memory import Memory

__all__ = ["BLOCK_RAMS", "DP16KD_DEPTH", "DP16KD_WIDTH", "MIN_INSTANCE_BITS", "block_ram_of",
           "registered_slice"]

#: Block-RAM primitives :func:`registered_slice` can instantiate.
BLOCK_RAMS = ("DP16KD",)
#: Words and bits of a DP16KD in its widest (pseudo-dual-port) mode.
DP16KD_DEPTH, DP16KD_WIDTH = 512, 36
#: Smallest slice (words x bits) built as a DP16KD instance; smaller ones stay Amaranth memories,
#: which Yosys may put in distributed RAM (as it did with the engine's 4-bit and 20-bit slices).
MIN_INSTANCE_BITS = 2048


def block_ram_of(platform) -> str | None:
    """The block-RAM primitive named by ``platform`` (``None``: let Yosys infer block RAM)."""
    name = getattr(platform, "block_ram", None)
    if name is not None and name not in BLOCK_RAMS:
        raise ValueError(f"unsupported block RAM {name!r}: use one of {', '.join(BLOCK_RAMS)} or none")
    return name


def registered_slice(m: Module, platform, name: str, *, words: int, width: int, r_addr: Value,
                     w_addr: Value, w_data: Value, w_en: Value) -> Signal:
    """A ``words`` x ``width`` memory whose read word is registered once: read latency 2.

    ``mem[w_addr] = w_data`` at the clock edge when ``w_en`` is high; the returned signal holds
    ``mem[r_addr]`` of two cycles earlier (a read and a write of one address at the same edge:
    undefined on the device, the old word in simulation). A DP16KD instance when ``platform``
    names it, ``words <= 512``, ``width <= 36`` and the slice has at least
    :data:`MIN_INSTANCE_BITS` bits; else an Amaranth memory (``no_rw_check``) and a fabric
    register.
    """
    q = Signal(width, name=f"{name}_q", reset_less=True)
    if (block_ram_of(platform) == "DP16KD" and words <= DP16KD_DEPTH and width <= DP16KD_WIDTH
            and words * width >= MIN_INSTANCE_BITS):
        _dp16kd(m, name, q, r_addr, w_addr, w_data, w_en)
        return q
    mem = m.submodules[name] = Memory(shape=unsigned(width), depth=words, init=[], attrs={"no_rw_check": 1})
    rp, wp = mem.read_port(domain="sync"), mem.write_port()
    m.d.comb += [rp.addr.eq(r_addr), wp.addr.eq(w_addr), wp.data.eq(w_data), wp.en.eq(w_en)]
    m.d.sync += q.eq(rp.data)
    return q


def _dp16kd(m: Module, name: str, q: Signal, r_addr: Value, w_addr: Value, w_data: Value, w_en: Value):
    """The DP16KD of :func:`registered_slice` (pins as in Yosys's ``brams_map_16kd.v``, 36-bit mode)."""
    d = Signal(DP16KD_WIDTH, name=f"{name}_di")
    do = Signal(DP16KD_WIDTH, name=f"{name}_do")
    wa = Signal(9, name=f"{name}_wa")
    ra = Signal(9, name=f"{name}_ra")
    m.d.comb += [d.eq(w_data), wa.eq(w_addr), ra.eq(r_addr), q.eq(do)]
    zero, one = Const(0, 1), Const(1, 1)
    ports = {f"i_DIA{k}": d[k] for k in range(18)} | {f"i_DIB{k}": d[18 + k] for k in range(18)}
    # port A writes: AD3..AD0 are the byte enables in 36-bit mode, AD13..AD5 the word address
    ports |= {f"i_ADA{k}": w_en for k in range(4)} | {"i_ADA4": zero}
    ports |= {f"i_ADA{5 + k}": wa[k] for k in range(9)}
    ports |= {f"i_ADB{k}": zero for k in range(5)} | {f"i_ADB{5 + k}": ra[k] for k in range(9)}
    ports |= {f"o_DOA{k}": do[k] for k in range(18)} | {f"o_DOB{k}": do[18 + k] for k in range(18)}
    for port in "AB":
        ports |= {f"i_CLK{port}": ClockSignal("sync"), f"i_CE{port}": one, f"i_OCE{port}": one,
                  f"i_RST{port}": zero, **{f"i_CS{port}{k}": zero for k in range(3)}}
    m.submodules[name] = Instance(
        "DP16KD",
        p_DATA_WIDTH_A=DP16KD_WIDTH, p_DATA_WIDTH_B=DP16KD_WIDTH,
        p_REGMODE_A="OUTREG", p_REGMODE_B="OUTREG", p_RESETMODE="SYNC", p_ASYNC_RESET_RELEASE="SYNC",
        p_WRITEMODE_A="NORMAL", p_WRITEMODE_B="NORMAL", p_CSDECODE_A="0b000", p_CSDECODE_B="0b000",
        p_CLKAMUX="CLKA", p_CLKBMUX="CLKB", p_GSR="DISABLED",
        i_WEA=one, i_WEB=zero,
        **ports,
    )

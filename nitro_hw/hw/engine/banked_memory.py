"""A memory built from block-RAM-sized banks, pipelined on both ports so no path crosses the chip."""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Module, Mux, Signal, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .. import KEEP
from ..block_ram import registered_slice

__all__ = ["BANK_GROUP", "BankedMemory", "READ_LATENCY", "SLICE_WIDTH", "WRITE_DELAY"]

#: Cycles from a read address to its data on ``r_data``.
READ_LATENCY = 6
#: Cycles a write reaches the block RAM after a read presented in the same cycle.
WRITE_DELAY = 1
#: Banks that share one copy of the address and write registers and one first-level output mux.
BANK_GROUP = 4
#: Bits of a word slice with block RAMs of its own (a DP16KD in 512 x 36 mode).
SLICE_WIDTH = 36

_GROUP_BITS = BANK_GROUP.bit_length() - 1  # BANK_GROUP is a power of two


class BankedMemory(wiring.Component):
    """One read port and one write port over ``ceil(depth / bank_depth)`` banks.

    Why: a deep memory is many block RAMs (DP16KD on ECP5), spread over the die. An address
    or write word that fans out to all of them, or a bank output that goes through logic,
    is a long path. Here the banks are grouped (:data:`BANK_GROUP` per group), every group
    has its own registered copy of the read address and of the write port, and every block
    RAM (one per ``slice_width`` bits of a bank's word) a registered copy of its own, taken
    from its group's (so each register drives only the block RAMs or the copies next to it:
    with the ``mlp1`` memories one group register drove 16 block RAMs, the engine's worst
    placed paths). Every bank's output is registered before it is muxed, and the bank is
    selected in two registered levels (within the group, then across groups), each mux on its
    own copy of the select per slice (and per output copy).

    Read pipeline (free-running, no enable): group address registers; block-RAM address
    copies; block RAM; bank output registers (:func:`~nitro_hw.hw.block_ram.registered_slice`:
    inside the DP16KD on ECP5, its output register); group mux register; output register. The word
    at the address of cycle ``t`` is on ``r_data`` in cycle ``t +`` :data:`READ_LATENCY`. The
    write port has one register level more (:data:`WRITE_DELAY`): an input register (keep; the
    write word is often a mux of sources spread over the die, which drove the group registers
    of every bank), then the same two levels as the read address (group, block-RAM copy). A
    write presented in cycle ``t`` reaches the block RAM with a read presented in cycle
    ``t + 1``: a read sees every write presented two or more cycles earlier.

    A read of an address presented one cycle after a write of it (they meet at the block RAM)
    gives an undefined read word on the FPGA: the banks carry ``no_rw_check``, so Yosys adds
    no collision logic (address comparators and a bypass mux behind every block RAM); in
    simulation the read returns the old word. The training engine never consumes such a
    read: the host's reads and writes are separate commands, and an instruction reads each
    row of the tensor it writes (WF in GRAD) once, :data:`READ_LATENCY` cycles or more before
    writing it back.
    ``poison_collisions`` checks that claim in simulation: a colliding read then returns the
    bitwise complement of the old word, so an engine that consumed one would stop being
    bit-exact (the co-simulation runs with it; never for synthesis).

    Parameters
    ----------
    width : int
        Bits per word.
    depth : int
        Words (>= 1).
    bank_depth : int
        Words per bank, a power of two (512: a DP16KD in 512 x 36 mode per 36 bits of width).
    slice_width : int
        Bits of a word slice with its own block RAM and port registers (default
        :data:`SLICE_WIDTH`, the widest DP16KD mode at 512 words).
    poison_collisions : bool
        Simulation check (see above): a read and a write of one address in the same cycle
        return the complement of the old word. Adds a comparator per block RAM.
    read_copies : int
        Extra copies of the output register (``r_data_copy0`` ...; keep), equal to ``r_data``
        in every cycle: a consumer far from the others reads a register of its own.

    Attributes
    ----------
    r_addr : In
        Read address.
    r_data : Out(width)
        Read data, :data:`READ_LATENCY` cycles after its address.
    r_data_copy0, ... : Out(width)
        The ``read_copies`` copies of ``r_data``.
    w_addr, w_en, w_data : In
        Write port: ``mem[w_addr] = w_data`` when ``w_en`` is high.
    """

    def __init__(self, width: int, depth: int, bank_depth: int = 512, poison_collisions: bool = False,
                 slice_width: int = SLICE_WIDTH, read_copies: int = 0):
        if not isinstance(read_copies, int) or isinstance(read_copies, bool) or read_copies < 0:
            raise ValueError(f"BankedMemory: read_copies must be an int >= 0, got {read_copies!r}")
        for name, v in (("width", width), ("depth", depth), ("bank_depth", bank_depth),
                        ("slice_width", slice_width)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"BankedMemory: {name} must be a positive int, got {v!r}")
        if not isinstance(poison_collisions, bool):
            raise ValueError(f"BankedMemory: poison_collisions must be a bool, got {poison_collisions!r}")
        self.poison_collisions = poison_collisions
        if bank_depth & (bank_depth - 1):
            raise ValueError(f"BankedMemory: bank_depth must be a power of two, got {bank_depth}")
        self.width, self.depth, self.bank_depth, self.slice_width = width, depth, bank_depth, slice_width
        self.read_copies = read_copies
        self.banks = -(-depth // bank_depth)
        self.groups = -(-self.banks // BANK_GROUP)
        self.addr_bits = max(1, (depth - 1).bit_length())
        super().__init__({
            "r_addr": In(unsigned(self.addr_bits)), "r_data": Out(width),
            "w_addr": In(unsigned(self.addr_bits)), "w_en": In(1), "w_data": In(width),
            **{f"r_data_copy{k}": Out(width) for k in range(read_copies)},
        })

    @property
    def latency(self) -> int:
        """Read latency in cycles (:data:`READ_LATENCY`)."""
        return READ_LATENCY

    def elaborate(self, platform):
        m = Module()
        ab, w = self.addr_bits, self.width
        lo = min(ab, self.bank_depth.bit_length() - 1)  # address bits inside a bank
        slices = [(s, min(s + self.slice_width, w)) for s in range(0, w, self.slice_width)]
        # the write port's input register (keep: memories written with the same word, e.g. the
        # host's beat, must not share it)
        w_addr = Signal(ab, name="w_in_addr", attrs=KEEP, reset_less=True)
        w_data = Signal(w, name="w_in_data", attrs=KEEP, reset_less=True)
        w_en = Signal(name="w_in_en", attrs=KEEP)
        m.d.sync += [w_addr.eq(self.w_addr), w_data.eq(self.w_data), w_en.eq(self.w_en)]
        assert WRITE_DELAY == 1
        gq = []
        for g in range(self.groups):
            ra = Signal(ab, name=f"g{g}_r_addr", attrs=KEEP, reset_less=True)
            wa = Signal(ab, name=f"g{g}_w_addr", attrs=KEEP, reset_less=True)
            wd = Signal(w, name=f"g{g}_w_data", attrs=KEEP, reset_less=True)
            we = Signal(name=f"g{g}_w_en", attrs=KEEP)
            m.d.sync += [ra.eq(self.r_addr), wa.eq(w_addr), wd.eq(w_data), we.eq(w_en)]
            banks = range(g * BANK_GROUP, min(self.banks, (g + 1) * BANK_GROUP))
            q = []
            for b in banks:
                words = min(self.bank_depth, self.depth - b * self.bank_depth)
                hit = (wa[lo:] == b) if self.banks > 1 else 1
                qb = []
                for j, (s0, s1) in enumerate(slices):
                    # the block RAM's own registered copy of both ports (keep): the group's registers
                    # drive only these, so no register drives block RAMs spread over the die
                    name = f"bank{b}_{j}"
                    bra = Signal(lo, name=f"{name}_r_addr", attrs=KEEP, reset_less=True)
                    bwa = Signal(lo, name=f"{name}_w_addr", attrs=KEEP, reset_less=True)
                    bwd = Signal(s1 - s0, name=f"{name}_w_data", attrs=KEEP, reset_less=True)
                    bwe = Signal(name=f"{name}_w_en", attrs=KEEP)
                    m.d.sync += [bra.eq(ra[:lo]), bwa.eq(wa[:lo]), bwd.eq(wd[s0:s1]), bwe.eq(we & hit)]
                    if self.poison_collisions:  # aligned with the slice's output: a collision two cycles ago
                        collided = [Signal(name=f"{name}_collided{k}") for k in range(2)]
                        m.d.sync += [collided[0].eq(bwe & (bra == bwa)), collided[1].eq(collided[0])]
                    q_ram = registered_slice(m, platform, name, words=words, width=s1 - s0, r_addr=bra,
                                             w_addr=bwa, w_data=bwd, w_en=bwe)
                    q_slice = Mux(collided[1], ~q_ram, q_ram) if self.poison_collisions else q_ram
                    qb.append(q_slice)
                q.append(Cat(*qb))
            # bank within the group, three cycles after the group's address register (aligned with q)
            g_out = Signal(w, name=f"g{g}_q", reset_less=True)
            if len(q) > 1:
                # the last select stage in one copy per slice (keep): one register drove the mux of
                # every bit of the group's word
                sel = [Signal(range(len(q)), name=f"g{g}_sel{k}", reset_less=True) for k in range(1, 3)]
                sel_last = [Signal(range(len(q)), name=f"g{g}_sel3_s{j}", reset_less=True, attrs=KEEP)
                            for j in range(len(slices))]
                m.d.sync += [sel[0].eq(ra[lo:lo + _GROUP_BITS]), sel[1].eq(sel[0]),
                             *(s.eq(sel[1]) for s in sel_last)]
                m.d.sync += [g_out[s0:s1].eq(Array(b[s0:s1] for b in q)[s])
                             for (s0, s1), s in zip(slices, sel_last, strict=True)]
            else:
                m.d.sync += g_out.eq(q[0])
            gq.append(g_out)
        # (keep, with copies: Yosys would merge registers with equal inputs back into one)
        keep = KEEP if self.read_copies else {}
        outs = [Signal(w, name="out", reset_less=True, attrs=keep),
                *(Signal(w, name=f"out_copy{k}", reset_less=True, attrs=KEEP)
                  for k in range(self.read_copies))]
        if self.groups > 1:
            # the group number, delayed to meet the group outputs (every stage but the last)
            gsel = [Signal(range(self.groups), name=f"gsel{j}", reset_less=True)
                    for j in range(READ_LATENCY - 2)]
            m.d.sync += [gsel[0].eq(self.r_addr[lo + _GROUP_BITS:]),
                         *(gsel[j].eq(gsel[j - 1]) for j in range(1, len(gsel)))]
            # the last stage in one copy per output register and slice (keep), as in the groups
            for k, out in enumerate(outs):
                for j, (s0, s1) in enumerate(slices):
                    s = Signal(range(self.groups), name=f"gsel{len(gsel)}_o{k}_s{j}", reset_less=True,
                               attrs=KEEP)
                    m.d.sync += [s.eq(gsel[-1]), out[s0:s1].eq(Array(x[s0:s1] for x in gq)[s])]
        else:
            m.d.sync += [out.eq(gq[0]) for out in outs]
        m.d.comb += self.r_data.eq(outs[0])
        m.d.comb += [getattr(self, f"r_data_copy{k}").eq(out) for k, out in enumerate(outs[1:])]
        return m

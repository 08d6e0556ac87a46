"""The serial training engine: the instruction set of :class:`TrainingEngine` on one MAC and one divider.

For small FPGAs (the iCE40 UP5K: 5,280 logic cells, 8 SB_MAC16, 30 block RAMs, 4 SPRAMs)
the ``N x N`` array and its ``N`` epilogue lanes do not fit. This engine runs the same
programs (:mod:`nitro_hw.compiler`, tile size ``n``), speaks the same command protocol and
has the same ports (see :mod:`nitro_hw.hw.engine.core`), and produces the same memory
contents bit for bit, one output element at a time:

* for every output element ``(r, c)`` of every tile, one MAC per cycle over ``k`` (a wrapping
  32-bit accumulator, an int8 x int32 product), then its epilogue (NITRO-Scaling and -ReLU,
  the error and the argmax, NITRO-ReLU backward, or IntegerSGD) with every 32-bit division on
  one :class:`~nitro_hw.hw.serial_divider.SerialDivider` (``tdiv`` by ``alpha`` and by
  ``2**31 - 1`` of NITRO-ReLU backward too, with reciprocal constants computed at elaboration;
  NITRO-ReLU forward divides an 8-bit value by ``alpha`` combinationally), then its writes
  (the transposed copies AF and WT are written element by element: no transposer);
* every memory is single-ported (:class:`~nitro_hw.hw.single_port_ram.SinglePortRam`) and
  lane-addressed: word ``w``, lane ``l`` of a memory with ``L`` lanes per word is at
  ``w * L + l`` (``L = n``; PRED 1; PROG 8 pieces of 16 bits), so a lane is read or written
  without touching its neighbours. The host's word writes and reads take ``L`` cycles each.

Schedule of one element (fixed, so :func:`serial_instruction_cycles` is exact): ``k_len``
MAC cycles (``2 * k_len`` when the wide operand is the 32-bit D: the int8 x int32 product is
two passes over one 16 x 16 multiplier), :data:`MAC_DRAIN` cycles to drain the product
pipeline, :data:`DIVISION_CYCLES` per division (FWD_RELU, FWD_ERR, BACKERR 1, GRAD 1 or 2
with weight decay), one write-back cycle and one to advance the loop counters. An instruction adds
:data:`FETCH_CYCLES` (program-memory reads and decode).

The status beat's MAC-steps field counts tile k-steps (``mt * nt * k_len`` per instruction), as
the array engine's does; the sticky flags are the same (bit 1: weight overflow, bit 2: int32
wrap in an SGD update; bit 3 is never set). The trace port (only with ``trace``) reports every
tile row when its last element is written back.
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, wiring

from ...compiler import isa
from ...compiler.cycles import summarize_phases
from ...compiler.program import MAX_INSTRUCTIONS, MEM_IDS, WEIGHT_WIDTHS, mem_lane_bits
from ..divider import divider_constants
from ..hard_multiplier import registered_product
from ..nitro_relu import (
    REGION_NEG,
    REGION_PASS,
    REGION_SAT,
    RELU_OFFSET,
    SAT_INVERSE_SLOPE,
    _check_alpha,
    const_division,
    tdiv_const,
)
from ..serial_divider import SerialDivider
from ..single_port_ram import SinglePortRam
from .boundary import CMD_CLEAR, CMD_READ, CMD_RUN, CMD_WRITE, CSR_ADDR, checked_depths, engine_ports
from .core import _times_constant

__all__ = ["DIVISION_CYCLES", "FETCH_CYCLES", "MAC_DRAIN", "SPRAM_MEMORIES", "SerialEngine",
           "serial_estimate_cycles", "serial_instruction_cycles"]

A = isa.ADDR_BITS
#: 16-bit pieces of a program word (the program memory is 16 bits wide).
PROG_PIECES = isa.PROG_WORD_BITS // 16
#: Cycles of an instruction's fetch (one program piece per cycle, the last read's latency) and decode.
FETCH_CYCLES = isa.instr_words() * PROG_PIECES + 2
#: Cycles after an element's last MAC issue until its accumulator is final (read, product).
MAC_DRAIN = 3
#: Cycles of one division: the start cycle and the divider's latency.
DIVISION_CYCLES = 1 + SerialDivider.latency
#: Cycles of an element besides its MACs and divisions: the write-back and the loop advance.
ELEMENT_OVERHEAD = MAC_DRAIN + 2
#: Wide-operand memories by instruction field ``wsrc``.
WIDE_SOURCES = ((isa.WSRC_WF, "WF"), (isa.WSRC_WT, "WT"), (isa.WSRC_D, "D"), (isa.WSRC_E, "E"))
#: Memories on SPRAM by default (with the ICE40 platform): the three largest of mlp-digits.
SPRAM_MEMORIES = ("AF", "AG", "D")


def _mac_cycles(fields: dict) -> int:
    """MAC cycles of one element: one per k-step, two for the 32-bit deltas (D)."""
    return fields["k_len"] * (2 if fields.get("wsrc", 0) == isa.WSRC_D else 1)


def _divisions(op: str, fields: dict) -> int:
    return {"FWD_RELU": 1, "FWD_ERR": 1, "BACKERR": 1, "GRAD": 1 + int(bool(fields.get("dc_en", 0)))}[op]


def _gemm_cycles(ins: dict, n: int) -> int:
    """MAC cycles of one instruction (one MAC each)."""
    if ins["op"] == "END":
        return 0
    f = ins["fields"]
    return f["mt"] * f["nt"] * n * n * _mac_cycles(f)


def serial_instruction_cycles(ins: dict, n: int) -> int:
    """Cycles of one instruction (dict from :attr:`Program.instructions`) on :class:`SerialEngine`."""
    if ins["op"] == "END":
        return FETCH_CYCLES
    f = ins["fields"]
    per_element = _mac_cycles(f) + ELEMENT_OVERHEAD + DIVISION_CYCLES * _divisions(ins["op"], f)
    return FETCH_CYCLES + f["mt"] * f["nt"] * n * n * per_element


def serial_estimate_cycles(program, train: bool = True) -> dict:
    """:func:`nitro_hw.compiler.cycles.estimate_cycles` for :class:`SerialEngine` (exact).

    ``gemm_cycles`` counts the MAC cycles (``gemm_utilization`` is useful MACs over MAC cycles:
    padding and the second pass of the 32-bit operands lower it).
    """
    n = program.n
    return summarize_phases(program, train, lambda ins: serial_instruction_cycles(ins, n),
                            lambda ins: _gemm_cycles(ins, n), macs_per_cycle=1)


class SerialEngine(wiring.Component):
    """NITRO-D MLP training engine with one MAC and one divider (same boundary as :class:`TrainingEngine`).

    Parameters
    ----------
    n : int
        Tile size of the programs it runs (a power of two, 4 to 32): lanes per memory word.
    depths : dict
        Depth in words of the memories ``WF, WT, AF, AG, E, Y, RG, D, PRED``.
    alpha : int
        NITRO-ReLU inverse slope.
    weight_width : int
        Bits of a stored weight (16 or 32), as for :class:`TrainingEngine`.
    spram : tuple of str
        Memories built from SB_SPRAM256KA blocks when elaborated with
        :data:`nitro_hw.hw.single_port_ram.ICE40` (block RAM otherwise).
    trace : bool
        Build the trace port (``trace_*``, with a tile row buffer of ``32 * n`` flip-flops); without
        it the engine has no trace ports. The iCE40 build leaves it out (``nitro-hw cosim`` builds
        it only for a run that captures the trace).
    """

    def __init__(self, n: int = 4, depths: dict[str, int] | None = None, alpha: int = 4,
                 weight_width: int = 16, spram: tuple[str, ...] = SPRAM_MEMORIES, trace: bool = True):
        if not isinstance(n, int) or isinstance(n, bool) or n not in (4, 8, 16, 32):
            raise ValueError(f"SerialEngine: n must be 4, 8, 16 or 32, got {n!r}")
        if weight_width not in WEIGHT_WIDTHS or isinstance(weight_width, bool):
            raise ValueError(f"SerialEngine: weight_width must be one of {WEIGHT_WIDTHS}, "
                             f"got {weight_width!r}")
        self.alpha = _check_alpha(alpha)
        self.lane_bits = mem_lane_bits(weight_width)
        unknown = set(spram) - set(self.lane_bits)
        if unknown:
            raise ValueError(f"SerialEngine: spram names unknown memories {sorted(unknown)}")
        depths = checked_depths("SerialEngine", self.lane_bits, depths)
        if not isinstance(trace, bool):
            raise ValueError(f"SerialEngine: trace must be a bool, got {trace!r}")
        self.n, self.depths, self.weight_width, self.spram = n, depths, weight_width, tuple(spram)
        self.trace = trace
        self.dw = 32 * n
        super().__init__(engine_ports(n, trace))

    def elaborate(self, platform):  # noqa: C901 - one sequencer, kept together
        m = Module()
        N, WW = self.n, self.weight_width
        LG = N.bit_length() - 1
        NW = isa.instr_words()

        # ------------------------------------------------------------------ memories
        # name -> (lanes per word as log2, lane width)
        pieces = {name: (0 if name == "PRED" else LG, bits) for name, bits in self.lane_bits.items()}
        pieces["PROG"] = (PROG_PIECES.bit_length() - 1, 16)
        depth = {**self.depths, "PROG": MAX_INSTRUCTIONS * NW}
        mem = {}
        for name, (lg, bits) in pieces.items():
            mem[name] = m.submodules[f"mem_{name.lower()}"] = SinglePortRam(
                bits, depth[name] << lg, spram=name in self.spram)
        phase_mem = m.submodules.mem_phase = SinglePortRam(32, MAX_INSTRUCTIONS)
        # Writes are registered on their way to the memory (one cycle later, in a cycle without
        # reads of it: the write-back's in NEXT, the host's in the next piece's cycle or IDLE): the
        # enable, address and data of a deep memory reach every block RAM from a register. A
        # memory's address is its pending write's, else its read address (raddr).
        raddr = {}
        wreq = {}
        for name, ram in mem.items():
            raddr[name] = Signal.like(ram.addr, name=f"{name.lower()}_raddr")
            low = name.lower()
            wreq[name] = (Signal(name=f"{low}_wreq_en"), Signal.like(ram.addr, name=f"{low}_wreq_addr"),
                          Signal.like(ram.w_data, name=f"{low}_wreq_data"))
            wq = [Signal.like(s, name=s.name.replace("wreq", "wq")) for s in wreq[name]]
            m.d.sync += [q.eq(s) for q, s in zip(wq, wreq[name], strict=True)]
            m.d.comb += [ram.addr.eq(Mux(wq[0], wq[1], raddr[name])), ram.w_en.eq(wq[0]),
                         ram.w_data.eq(wq[2])]

        def write(name, addr, value):
            en, a, d = wreq[name]
            return [en.eq(1), a.eq(addr), d.eq(value)]

        div = m.submodules.div = SerialDivider()

        # ------------------------------------------------------------------ registers
        hdr_op = Signal(4)
        hdr_mem = Signal(4)
        haddr = Signal(24)
        hcount = Signal(24)
        hdr_mode = Signal()
        piece = Signal(6)          # host word piece / program piece being read or written
        rd_valid = Signal()        # a host read's piece is on its memory's output
        csr_index = Signal(range(2 * MAX_INSTRUCTIONS))  # the CSR word being read (registered with it)
        out = Signal(self.dw)      # the word being sent on m_axis
        out_last = Signal()
        out_valid = Signal()
        done = Signal()
        clear = Signal()

        ibits = Signal(NW * isa.PROG_WORD_BITS)
        ins = data.View(isa.INSTR_LAYOUT, ibits[:isa.INSTR_LAYOUT.size])
        pc = Signal(range(MAX_INSTRUCTIONS))
        ibase = Signal(range(MAX_INSTRUCTIONS * NW * PROG_PIECES + 1))
        fetch_valid = Signal()
        run_mode = Signal()
        counting = Signal()
        run_cycles = Signal(32)
        phase_cycles = Signal(32)
        step_count = Signal(32)
        mac_steps = Signal(32)
        flags = Signal(8)

        # loop nest: mi, ni (tiles), r, c (element), k (MAC)
        mi = Signal(10)
        ni = Signal(10)
        r = Signal(LG)
        c = Signal(LG)
        k = Signal(A)
        nb = Signal(A)   # narrow word of k = 0: n_base + mi * n_mstride
        wb = Signal(A)   # wide word of k = 0: w_base + ni * w_nstride
        om = Signal(A)   # mi * o_mstride
        on = Signal(A)   # ni * o_nstride
        tm = Signal(A)   # t_base + mi * t_mstride
        tn = Signal(A)   # ni * N
        # the element's addresses and its column, registered from the counters (one cycle behind
        # them: the first MAC cycle of an element still sees the previous element's; nothing reads
        # them before the second)
        rel = Signal(A)
        o_word = Signal(A)   # row word of the outputs (AG, E, D, WF)
        a_word = Signal(A)   # row word of the auxiliary inputs (Y, RG)
        t_word = Signal(A)   # word of the transposed write (AF, WT)
        col = Signal(A)      # output column (class index for the argmax)
        mask = Signal()      # the column is not padding
        m.d.comb += rel.eq(om + on + r)
        m.d.sync += [o_word.eq(ins.o_base + rel), a_word.eq(ins.a_base + rel), t_word.eq(tm + tn + c),
                     col.eq(tn + c), mask.eq(tn + c < ins.n_valid)]
        # loop limits, registered at decode
        k_last = Signal(A)
        nt_last = Signal(10)
        mt_last = Signal(10)
        is_grad = Signal()
        m.d.comb += is_grad.eq(ins.op == isa.OP_GRAD)

        # MAC pipeline: issue -> memory output (v1) -> operand registers (v2) -> product register
        # (v3) -> accumulator, on one signed 16 x 16 multiplier (an SB_MAC16 with its operand and
        # product registers inside on iCE40, so nextpnr's timing covers its multiplier). The int8 x int32
        # product modulo 2**32 is two of its products: w = (w_hi + w[15]) * 2**16 + w_lo with
        # w_lo = w[0:16] read as signed, and only (w_hi + w[15]) modulo 2**16 matters. For the
        # 8- and 16-bit operands (WF, WT, E) that high part is 0, so only the 32-bit deltas (D)
        # take a second pass: each of their k-steps is issued twice (half 0, half 1).
        v1 = Signal()
        v2 = Signal()
        v3 = Signal()
        half = Signal()            # the half of a D operand being issued
        halves = [Signal(name=f"half{j}") for j in (1, 2, 3)]  # ... travelling with v1..v3
        two_pass = Signal()        # the wide operand is D (registered at decode)
        acc = Signal(32)
        narrow = Signal(signed(8))
        wide = Signal(signed(32))
        m.d.comb += narrow.eq(Mux(is_grad, mem["AG"].r_data, mem["AF"].r_data))
        with m.Switch(ins.wsrc):
            for code, name in WIDE_SOURCES:
                with m.Case(code):
                    m.d.comb += wide.eq(mem[name].r_data.as_signed())
        w_hi = Signal(signed(16))
        m.d.comb += w_hi.eq(wide[16:] + wide[15])
        prod = registered_product(m, platform, narrow, Mux(halves[0], w_hi, wide[:16].as_signed()),
                                  name="mac", keep=False)
        m.d.sync += [v2.eq(v1), v3.eq(v2), halves[1].eq(halves[0]), halves[2].eq(halves[1])]
        with m.If(v3):
            m.d.sync += acc.eq((acc + Mux(halves[2], prod << 16, prod))[:32])

        # epilogue values
        aux = Signal(32)           # Y (FWD_ERR), RG (BACKERR) or the old weight (GRAD) of the element
        q1 = Signal(signed(32))    # first quotient
        s = Signal(signed(8))      # clamp(q1, -127, 127), registered with q1
        y = aux[:8].as_signed()
        region_in = aux[:2]
        wold = aux[:WW].as_signed()

        # reciprocal constants of the fixed divisors
        alpha_c = divider_constants(self.alpha)
        sat_c = divider_constants(SAT_INVERSE_SLOPE)

        # argmax of FWD_ERR: best value and class per tile row
        best_v = Array(Signal(signed(8), name=f"best_v{j}") for j in range(N))
        best_i = Array(Signal(10, name=f"best_i{j}") for j in range(N))
        take = Signal()
        new_cls = Signal(10)
        m.d.comb += [take.eq(mask & (((ni == 0) & (c == 0)) | (s > best_v[r]))),
                     new_cls.eq(Mux(take, col, best_i[r]))]

        # results of the element (valid in WB)
        h = Signal(8)
        region = Signal(2)
        e = Signal(8)
        d_val = Signal(32)
        relu_t = Signal(signed(9))
        # NITRO-ReLU forward's tdiv(s, alpha) of the 8-bit s: a shift for a power-of-two alpha,
        # else a multiply by a reciprocal exact for every |s| <= 128 (the unit's own)
        relu_q = tdiv_const(m, s, 8, const_division(self.alpha, 128))
        m.d.comb += [
            relu_t.eq(Mux(s < 0, relu_q, s) - RELU_OFFSET[self.alpha]),
            h.eq(Mux(mask, relu_t[:8], 0)),
            region.eq(Mux((s == 127) | (s == -128), REGION_SAT, Mux(s < 0, REGION_NEG, REGION_PASS))),
            e.eq(Mux(mask, (s - y)[:8], 0)),
            d_val.eq(Mux(region_in == REGION_PASS, acc, q1)),
        ]
        # IntegerSGD: U = wrap32(tdiv(G, A) + tdiv(W, d)), W' = wrap32(W - U); the exact sums need
        # 33 bits. u_full is registered as the quotients arrive (the gradient's quotient alone
        # without weight decay); W' and the flags follow in the write-back.
        u_full = Signal(signed(33))
        u = Signal(signed(32))
        w_full = Signal(signed(33))
        wnew = Signal(signed(32))
        m.d.comb += [u.eq(u_full[:32]),
                     w_full.eq(wold - u), wnew.eq(w_full[:32])]
        wrap_event = (u_full[32] ^ u_full[31]) | (w_full[32] ^ w_full[31])
        overflow_event = (wnew[WW - 1:].any() & ~wnew[WW - 1:].all()) if WW < 32 else Const(0, 1)
        grad_flags = Signal(8)

        m.d.comb += [
            self.busy.eq(~done & (hdr_op == CMD_RUN)),
            self.done.eq(done),
            self.mode.eq(run_mode),
            self.step_count.eq(step_count),
            self.cycle_count.eq(run_cycles),
            self.flags.eq(flags),
            self.m_axis_tdata.eq(out),
            self.m_axis_tvalid.eq(out_valid),
            self.m_axis_tlast.eq(out_last),
        ]
        with m.If(counting):
            m.d.sync += [run_cycles.eq(run_cycles + 1), phase_cycles.eq(phase_cycles + 1)]

        # ------------------------------------------------------------------ host read capture
        csr_words = {CSR_ADDR["run_cycles"]: run_cycles, CSR_ADDR["step_count"]: step_count,
                     CSR_ADDR["flags"]: flags, CSR_ADDR["mac_steps"]: mac_steps, CSR_ADDR["mode"]: run_mode}
        # A word's pieces are read last first and shifted in from the bottom by the lane width: the
        # last piece read (piece 0) ends at bit 0, the word zero-extended above (out starts at 0).
        rdata = Signal(32)
        with m.Switch(hdr_mem):
            for name in pieces:
                with m.Case(MEM_IDS[name]):
                    m.d.comb += rdata.eq(mem[name].r_data)
            with m.Case(MEM_IDS["CSR"]):
                with m.If(csr_index < MAX_INSTRUCTIONS):
                    m.d.comb += rdata.eq(phase_mem.r_data)
                for addr, value in csr_words.items():
                    with m.Elif(csr_index == addr):
                        m.d.comb += rdata.eq(value)
        widths = {}  # lane width -> memory ids
        for name, (_, bits) in pieces.items():
            widths.setdefault(bits, []).append(MEM_IDS[name])
        widths.setdefault(32, []).append(MEM_IDS["CSR"])
        with m.If(rd_valid):
            with m.Switch(hdr_mem):
                for bits, ids in widths.items():
                    with m.Case(*ids):
                        m.d.sync += out.eq(Cat(rdata[:bits], out[:-bits]))
        last_piece = Signal(6)
        with m.Switch(hdr_mem):
            for name, (lg, _) in pieces.items():
                with m.Case(MEM_IDS[name]):
                    m.d.comb += last_piece.eq((1 << lg) - 1)

        # ------------------------------------------------------------------ sequencer
        m.d.sync += [rd_valid.eq(0), fetch_valid.eq(0), v1.eq(0), clear.eq(0)]
        if self.trace:
            m.d.sync += self.trace_valid.eq(0)
        with m.If(fetch_valid):
            m.d.sync += ibits.eq(Cat(ibits[16:], mem["PROG"].r_data))

        def host_addr(name):
            return Cat(piece[:pieces[name][0]], haddr[:A]) if pieces[name][0] else haddr[:A]

        def lane_addr(lane, word):
            return Cat(lane, word)

        def aux_read():
            # the element's auxiliary word: read while its MACs run (the address settles in the
            # second MAC cycle), taken in DRAIN2
            m.d.comb += [raddr["Y"].eq(lane_addr(c, a_word)), raddr["RG"].eq(lane_addr(c, a_word))]
            with m.If(is_grad):
                m.d.comb += raddr["WF"].eq(lane_addr(c, o_word))

        # the piece of the s_axis beat being written, one selection per lane width (shared by the
        # memories of that width; a memory with fewer pieces uses the low piece indices)
        lg_of_width = {}
        for lg, bits in pieces.values():
            lg_of_width[bits] = max(lg_of_width.get(bits, 0), lg)
        tdata = self.s_axis_tdata
        beat_piece = {bits: tdata.word_select(piece[:lg], bits) if lg else tdata[:bits]
                      for bits, lg in lg_of_width.items()}

        with m.FSM(name="ctl"):
            with m.State("IDLE"):
                m.d.comb += self.s_axis_tready.eq(1)
                with m.If(self.s_axis_tvalid):
                    dat = self.s_axis_tdata
                    m.d.sync += [hdr_op.eq(dat[0:4]), hdr_mem.eq(dat[4:8]), haddr.eq(dat[8:32]),
                                 hcount.eq(dat[32:56]), hdr_mode.eq(dat[56]), done.eq(0)]
                    m.next = "HEADER"
            with m.State("HEADER"):
                m.next = "IDLE"
                with m.Switch(hdr_op):
                    with m.Case(CMD_WRITE):
                        with m.If(hcount != 0):
                            m.d.sync += piece.eq(0)
                            m.next = "WRITE"
                    with m.Case(CMD_READ):
                        with m.If(hcount != 0):
                            m.d.sync += [piece.eq(last_piece), out.eq(0)]
                            m.next = "READ"
                    with m.Case(CMD_RUN):
                        start = haddr[:len(pc)]
                        m.d.sync += [pc.eq(start), ibase.eq(_times_constant(start, NW * PROG_PIECES)),
                                     piece.eq(0),
                                     run_mode.eq(hdr_mode), counting.eq(1), run_cycles.eq(0),
                                     phase_cycles.eq(0), mac_steps.eq(0)]
                        m.next = "FETCH"
                    with m.Case(CMD_CLEAR):
                        m.d.sync += clear.eq(1)
            with m.State("WRITE"):
                # the beat's pieces are written straight from s_axis_tdata, which AXI-Stream holds
                # until the beat is taken: tready rises with the last piece
                with m.If(self.s_axis_tvalid):
                    with m.Switch(hdr_mem):
                        for name, (_, bits) in pieces.items():
                            with m.Case(MEM_IDS[name]):
                                m.d.comb += write(name, host_addr(name), beat_piece[bits])
                    m.d.sync += piece.eq(piece + 1)
                    with m.If(piece == last_piece):
                        m.d.comb += self.s_axis_tready.eq(1)
                        m.d.sync += [piece.eq(0), haddr.eq(haddr + 1), hcount.eq(hcount - 1)]
                        with m.If(hcount == 1):
                            m.next = "IDLE"
            with m.State("READ"):
                with m.Switch(hdr_mem):
                    for name in pieces:
                        with m.Case(MEM_IDS[name]):
                            m.d.comb += raddr[name].eq(host_addr(name))
                    with m.Case(MEM_IDS["CSR"]):
                        m.d.comb += phase_mem.addr.eq(haddr)
                m.d.sync += [rd_valid.eq(1), piece.eq(piece - 1),
                             csr_index.eq(Mux(haddr < 2 * MAX_INSTRUCTIONS, haddr, 2 * MAX_INSTRUCTIONS - 1))]
                with m.If(piece == 0):
                    m.next = "READ_LAST"
            with m.State("READ_LAST"):
                m.d.sync += [out_valid.eq(1), out_last.eq(hcount == 1)]
                m.next = "SEND"
            with m.State("SEND"):
                with m.If(self.m_axis_tready):
                    m.d.sync += [out_valid.eq(0), out_last.eq(0), out.eq(0), piece.eq(last_piece),
                                 haddr.eq(haddr + 1), hcount.eq(hcount - 1)]
                    m.next = "IDLE"
                    with m.If(hcount != 1):
                        m.next = "READ"
            with m.State("FETCH"):
                m.d.comb += raddr["PROG"].eq(ibase + piece)
                m.d.sync += [fetch_valid.eq(1), piece.eq(piece + 1)]
                with m.If(piece == NW * PROG_PIECES - 1):
                    m.next = "FETCH_LAST"
            with m.State("FETCH_LAST"):
                m.next = "DECODE"
            with m.State("DECODE"):
                with m.If(ins.op == isa.OP_END):
                    m.d.comb += [phase_mem.addr.eq(pc), phase_mem.w_en.eq(1),
                                 phase_mem.w_data.eq(phase_cycles + 1)]
                    with m.If(~run_mode):
                        m.d.sync += step_count.eq(step_count + 1)
                    m.d.sync += [counting.eq(0), out.eq(Cat(run_cycles + 1, step_count + ~run_mode, flags,
                                                            mac_steps)),
                                 out_valid.eq(1), out_last.eq(1)]
                    m.next = "STATUS"
                with m.Else():
                    m.d.sync += [mi.eq(0), ni.eq(0), r.eq(0), c.eq(0), k.eq(0), acc.eq(0),
                                 k_last.eq(ins.k_len - 1), nt_last.eq(ins.nt - 1), mt_last.eq(ins.mt - 1),
                                 two_pass.eq(ins.wsrc == isa.WSRC_D), half.eq(0),
                                 nb.eq(ins.n_base), wb.eq(ins.w_base), om.eq(0), on.eq(0),
                                 tm.eq(ins.t_base), tn.eq(0)]
                    m.next = "MAC"
            with m.State("MAC"):
                with m.If(is_grad):
                    m.d.comb += raddr["AG"].eq(lane_addr(r, nb + k))
                with m.Else():
                    m.d.comb += raddr["AF"].eq(lane_addr(r, nb + k))
                with m.Switch(ins.wsrc):
                    for code, name in WIDE_SOURCES:
                        with m.Case(code):
                            m.d.comb += raddr[name].eq(lane_addr(c, wb + k))
                aux_read()
                m.d.sync += [v1.eq(1), halves[0].eq(half)]
                with m.If(two_pass & ~half):
                    m.d.sync += half.eq(1)  # the same k again, for the high half
                with m.Else():
                    m.d.sync += [half.eq(0), k.eq(k + 1)]
                    with m.If((r == 0) & (c == 0)):
                        m.d.sync += mac_steps.eq(mac_steps + 1)
                    with m.If(k == k_last):
                        m.next = "DRAIN"
            with m.State("DRAIN"):
                # the last operands are being registered
                aux_read()
                m.next = "DRAIN2"
            with m.State("DRAIN2"):
                # the last products are being registered; the auxiliary word is out
                with m.Switch(ins.op):
                    with m.Case(isa.OP_FWD_ERR):
                        m.d.sync += aux.eq(mem["Y"].r_data)
                    with m.Case(isa.OP_BACKERR):
                        m.d.sync += aux.eq(mem["RG"].r_data)
                    with m.Case(isa.OP_GRAD):
                        m.d.sync += aux.eq(mem["WF"].r_data)
                m.next = "DRAIN3"
            with m.State("DRAIN3"):
                # the last product is being accumulated
                m.next = "DIV1"
            with m.State("DIV1"):
                m.d.comb += div.a.eq(acc)
                with m.Switch(ins.op):
                    with m.Case(isa.OP_FWD_RELU, isa.OP_FWD_ERR):
                        m.d.comb += [div.multiplier.eq(ins.sc_mult), div.shift.eq(ins.sc_shift)]
                    with m.Case(isa.OP_BACKERR):
                        neg = region_in == REGION_NEG
                        m.d.comb += [div.multiplier.eq(Mux(neg, alpha_c[0], sat_c[0])),
                                     div.shift.eq(Mux(neg, alpha_c[1], sat_c[1]))]
                    with m.Case(isa.OP_GRAD):
                        m.d.comb += [div.multiplier.eq(ins.lr_mult), div.shift.eq(ins.lr_shift)]
                m.d.comb += div.start.eq(1)
                m.next = "DIV1_WAIT"
            with m.State("DIV1_WAIT"):
                with m.If(div.done):
                    q = div.q
                    m.d.sync += [q1.eq(q), s.eq(Mux(q > 127, 127, Mux(q < -127, -127, q))), u_full.eq(q)]
                    m.next = "WB"
                    with m.If(is_grad & ins.dc_en):
                        m.next = "DIV2"
            with m.State("DIV2"):
                # the weight decay's quotient (GRAD)
                m.d.comb += [div.a.eq(wold), div.multiplier.eq(ins.dc_mult), div.shift.eq(ins.dc_shift),
                             div.start.eq(1)]
                m.next = "DIV2_WAIT"
            with m.State("DIV2_WAIT"):
                with m.If(div.done):
                    m.d.sync += u_full.eq(q1 + div.q)
                    m.next = "WB"
            with m.State("WB"):
                value = Signal(32)
                with m.Switch(ins.op):
                    with m.Case(isa.OP_FWD_RELU):
                        m.d.comb += [*write("AG", lane_addr(c, o_word), h),
                                     *write("RG", lane_addr(c, a_word), region),
                                     *write("AF", lane_addr(r, t_word), h), value.eq(h.as_signed())]
                    with m.Case(isa.OP_FWD_ERR):
                        m.d.comb += [*write("E", lane_addr(c, o_word), e),
                                     *write("AF", lane_addr(r, t_word), e), value.eq(e.as_signed())]
                        with m.If(take):
                            m.d.sync += [best_v[r].eq(s), best_i[r].eq(col)]
                        with m.If((ni == nt_last) & (c == N - 1)):
                            m.d.comb += [*write("PRED", Cat(r, mi), new_cls)]
                    with m.Case(isa.OP_BACKERR):
                        m.d.comb += [*write("D", lane_addr(c, o_word), d_val), value.eq(d_val)]
                    with m.Case(isa.OP_GRAD):
                        m.d.comb += [*write("WF", lane_addr(c, o_word), wnew),
                                     value.eq(wnew[:WW].as_signed())]
                        with m.If(ins.twrite):
                            m.d.comb += [*write("WT", lane_addr(r, t_word), wnew)]
                        m.d.comb += grad_flags.eq(Cat(Const(0, 1), overflow_event, wrap_event))
                if self.trace:
                    m.d.sync += self.trace_data.word_select(c, 32).eq(value)
                    with m.If(c == N - 1):
                        m.d.sync += [self.trace_valid.eq(1), self.trace_tag.eq(ins.tag),
                                     self.trace_index.eq(o_word)]
                m.next = "NEXT"
            with m.State("NEXT"):
                m.d.sync += [k.eq(0), acc.eq(0)]
                m.next = "MAC"
                with m.If(c != N - 1):
                    m.d.sync += c.eq(c + 1)
                with m.Else():
                    m.d.sync += c.eq(0)
                    with m.If(r != N - 1):
                        m.d.sync += r.eq(r + 1)
                    with m.Else():
                        m.d.sync += r.eq(0)
                        with m.If(ni != nt_last):
                            m.d.sync += [ni.eq(ni + 1), wb.eq(wb + ins.w_nstride), on.eq(on + ins.o_nstride),
                                         tn.eq(tn + N)]
                        with m.Else():
                            m.d.sync += [ni.eq(0), wb.eq(ins.w_base), on.eq(0), tn.eq(0)]
                            with m.If(mi != mt_last):
                                m.d.sync += [mi.eq(mi + 1), nb.eq(nb + ins.n_mstride),
                                             om.eq(om + ins.o_mstride), tm.eq(tm + ins.t_mstride)]
                            with m.Else():
                                # the instruction is done: record its cycles, fetch the next one
                                m.d.comb += [phase_mem.addr.eq(pc), phase_mem.w_en.eq(1),
                                             phase_mem.w_data.eq(phase_cycles + 1)]
                                m.d.sync += [pc.eq(pc + 1), ibase.eq(ibase + NW * PROG_PIECES), piece.eq(0),
                                             phase_cycles.eq(0)]
                                m.next = "FETCH"
            with m.State("STATUS"):
                with m.If(self.m_axis_tready):
                    m.d.sync += [out_valid.eq(0), out_last.eq(0), out.eq(0), done.eq(1)]
                    m.next = "IDLE"

        # ------------------------------------------------------------------ flags
        with m.If(clear):
            m.d.sync += [flags.eq(0), step_count.eq(0)]
        with m.Else():
            m.d.sync += flags.eq(flags | grad_flags)
        return m

"""The training engine: memories, command interface, sequencer, MAC array and epilogue.

Boundary
--------
* ``s_axis_*`` (AXI-Stream in, ``32*N``-bit beats) carries commands; ``m_axis_*`` the answers.
  A command is a header beat followed by its data beats::

      header bits [0:4]  opcode   (CMD_WRITE=1, CMD_READ=2, CMD_RUN=3, CMD_CLEAR=4)
                  [4:8]  memory id (nitro_hw.compiler.program.MEM_IDS)
                  [8:32] address (word) -- for CMD_RUN: the entry instruction index
                  [32:56] count (words)
                  [56]   mode (CMD_RUN: 0 = training step, 1 = inference)

  - CMD_WRITE: ``count`` beats follow; beat ``j`` is written to ``mem[address + j]`` (low bits).
  - CMD_READ: the engine sends ``count`` beats ``mem[address + j]`` (zero-extended), ``tlast``
    on the last. Memory CSR (id 9) holds the counters (:data:`CSR_ADDR`).
  - CMD_RUN: runs the program from the entry instruction to its END, then sends one status
    beat (``tlast``): bits [0:32] cycles of the run, [32:64] training-step counter, [64:72]
    sticky flags, [72:104] MAC-array k-steps issued.
  - CMD_CLEAR: clears the sticky flags and the step counter.
* Status outputs: ``busy``, ``done`` (set at the end of a run, cleared by the next command),
  ``mode``, ``step_count``, ``cycle_count``, ``flags`` (bit 1: a new weight did not fit the
  ``weight_width``-bit weight memory, so the engine is no longer bit-exact; bit 2: an int32
  wrap in an SGD update, which the reference does too; bit 3: the MAC array refused a
  k-step, a sequencer bug that no correct program can trigger). The int32 wraps of the MAC
  accumulators (spec §1.3 points 1-3) are reproduced exactly but not flagged: detecting them
  needs the exact 40-bit products; the golden trainer counts them.
* Trace port: ``trace_valid`` for every tile row the epilogue writes back, with ``trace_tag``
  (the instruction's tag; :meth:`nitro_hw.compiler.program.Program.tag_table` maps it to the
  golden trace name), ``trace_index`` (the row's word address) and ``trace_data`` (lanes as
  32-bit values).

Datapath: see :mod:`nitro_hw.compiler.isa` (the instruction set) and
:mod:`nitro_hw.compiler.program` (layouts and the schedule). Every memory has one read port
(shared between the host and the datapath, which never need it at the same time) and one
write port, so it maps to block RAM in simple dual-port mode; block-RAM outputs are registered
before any logic (:class:`BankedMemory`, read latency :data:`READ_LATENCY`). Addresses are
registers or one adder away from one, so no memory address path crosses more than a carry chain.
"""

from __future__ import annotations

import functools
import itertools
import operator
from types import SimpleNamespace

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.fifo import SyncFIFO

from ...compiler import isa
from ...compiler.program import MAX_INSTRUCTIONS, MEM_IDS, WEIGHT_WIDTHS, mem_lane_bits
from .. import KEEP, built_to_ask
from ..error_unit import ErrorUnit
from ..hard_multiplier import registered_product
from ..mac_array import MacArray
from ..nitro_relu import NitroRelu, NitroReluBackward
from ..sgd_update import SgdUpdate
from .banked_memory import READ_LATENCY, BankedMemory
from .boundary import CMD_CLEAR, CMD_READ, CMD_RUN, CMD_WRITE, checked_depths, engine_ports
from .transposer import TileTransposer

#: Words the host-read output FIFO holds (READ_LATENCY + 3 words in flight plus room to stream).
READ_FIFO_DEPTH = 16
#: Cycles from the last write-back of an instruction with nothing else in flight to the fetch of
#: the next one: the drain test is registered (it ORs valid bits from all over the datapath).
DRAIN_TEST_CYCLES = 2
#: Register hops from the instruction register to each lane's copy of its unit configuration.
CFG_HOPS = 3
#: Register stages from the memories' read data to the MAC array's input: the registered outputs
#: of the operand selects, between the memories and the array's operand copies.
OPERAND_STAGES = 1
#: Register stages from a write-back to the trace port (its rows come from every lane).
TRACE_STAGES = 2
#: Memory words ORed by one register of the host read's second selection level.
HREAD_OR = 4
#: CSR words per first-level mux of the host's CSR read.
CSR_GROUP = 8

A = isa.ADDR_BITS
#: Memories the datapath reads in the epilogue (addressed by the tile row being written back).
EPILOGUE_READS = ("WF", "Y", "RG")
#: Memories the datapath writes (the host writes them too, between runs).
DATAPATH_WRITES = ("AG", "RG", "E", "D", "WF", "PRED", "AF", "WT")


def _lane(sig, c: int, bits: int):
    return sig[c * bits:(c + 1) * bits]


def _times_constant(value, c: int):
    """``value * c`` as shifts and adds (Yosys would spend a hard multiplier on ``value * c``)."""
    return sum(value << k for k in range(c.bit_length()) if c >> k & 1)


def _zero_padded(words: list, size: int) -> Array:
    """``Array`` of the 32-bit ``words`` and zero words up to ``size`` entries (any index reads a word)."""
    return Array(words + [Const(0, 32)] * (size - len(words)))


def _sext32(m: Module, value, name: str) -> Signal:
    """``value`` (its bits read as signed) sign-extended to 32 bits."""
    s = Signal(signed(32), name=name)
    m.d.comb += s.eq(value.as_signed())
    return s


def _sext_lanes(m: Module, word, n: int, bits: int, name: str):
    """The ``n`` lanes of ``bits`` bits of ``word``, each sign-extended to 32 bits, concatenated."""
    if bits == 32:
        return word
    return Cat(*[_sext32(m, _lane(word, c, bits), f"{name}{c}") for c in range(n)])


def _latency(unit) -> int:
    """``unit.latency`` of a unit built only to ask."""
    return built_to_ask(unit).latency


def epilogue_taps(alpha: int = 4, n: int = 8, weight_width: int = 16) -> dict[str, int]:
    """Cycles from the epilogue register (E1) to the write-back of each op's results.

    Taken from the units' latency properties: NITRO-Scaling on the SgdUpdate's divider
    (``scaled_latency``) + NitroRelu, the same + ErrorUnit, NitroReluBackward, SgdUpdate.
    """
    sgd = built_to_ask(SgdUpdate(weight_width))
    ls = sgd.scaled_latency
    return {"FWD_RELU": ls + _latency(NitroRelu(alpha)), "FWD_ERR": ls + _latency(ErrorUnit(classes=n)),
            "BACKERR": _latency(NitroReluBackward(alpha)), "GRAD": sgd.latency}


def _mac_array(n: int) -> MacArray:
    return MacArray(rows=n, cols=n, narrow_width=8, wide_width=32, acc_width=32)


def mac_latency(n: int = 8) -> int:
    """Latency of the engine's MAC array (``last`` k-step to the first tile row)."""
    return _latency(_mac_array(n))


class TrainingEngine(wiring.Component):
    """NITRO-D MLP training engine (see the module docstring for the boundary).

    Parameters
    ----------
    n : int
        MAC array size (``n x n``), 4 to 32.
    depths : dict
        Depth in words of the memories ``WF, WT, AF, AG, E, Y, RG, D, PRED`` (from
        :attr:`nitro_hw.compiler.program.Program.depths`); at most ``2**16`` each.
    alpha : int
        NITRO-ReLU inverse slope.
    weight_width : int
        Bits of a stored weight (memories WF, WT): 16 (half the block RAM; flag bit 1 reports a
        weight that does not fit) or 32 (exact for every int32 weight).
    poison_collisions : bool
        Simulation check: every memory returns the complement of the old word for a read and a
        write of one address in the same cycle (:class:`BankedMemory`), so a run that consumed
        such a read (undefined on the FPGA) would not be bit-exact. Never for synthesis.
    """

    def __init__(self, n: int = 8, depths: dict[str, int] | None = None, alpha: int = 4,
                 weight_width: int = 16, poison_collisions: bool = False):
        if not isinstance(n, int) or isinstance(n, bool) or not 4 <= n <= 32:
            raise ValueError(f"TrainingEngine: n must be an int in [4, 32], got {n!r}")
        if weight_width not in WEIGHT_WIDTHS or isinstance(weight_width, bool):
            raise ValueError(f"TrainingEngine: weight_width must be one of {WEIGHT_WIDTHS}, "
                             f"got {weight_width!r}")
        if not isinstance(poison_collisions, bool):
            raise ValueError(f"TrainingEngine: poison_collisions must be a bool, got {poison_collisions!r}")
        self.lane_bits = mem_lane_bits(weight_width)
        depths = checked_depths("TrainingEngine", self.lane_bits, depths)
        self.n, self.depths, self.alpha, self.weight_width = n, depths, alpha, weight_width
        self.poison_collisions = poison_collisions
        self.dw = 32 * n
        self.nw = isa.instr_words()
        super().__init__(engine_ports(n))

    def elaborate(self, platform):  # noqa: C901 - one datapath, kept together
        m = Module()
        N, NW, WW = self.n, self.nw, self.weight_width
        rb = max(1, (N - 1).bit_length())

        # ------------------------------------------------------------------ memories
        widths = {"PROG": isa.PROG_WORD_BITS, **{k: v * N for k, v in self.lane_bits.items()}}
        widths["PRED"] = 8
        depths = {"PROG": MAX_INSTRUCTIONS * NW, **self.depths}
        rp, wp = {}, {}
        for name, w in widths.items():
            # WF: a copy of the read register for the SGD lanes (the original feeds the MAC
            # array's columns and the host read, which sit elsewhere)
            mem = m.submodules[f"mem_{name.lower()}"] = BankedMemory(
                w, depths[name], poison_collisions=self.poison_collisions, read_copies=int(name == "WF"))
            rp[name] = SimpleNamespace(addr=mem.r_addr, data=mem.r_data,
                                       data_copy=getattr(mem, "r_data_copy0", None))
            wp[name] = SimpleNamespace(addr=mem.w_addr, en=mem.w_en, data=mem.w_data)
        RL = READ_LATENCY

        # ------------------------------------------------------------------ units
        mac = m.submodules.mac = _mac_array(N)
        relus = [NitroRelu(self.alpha) for _ in range(N)]
        relubs = [NitroReluBackward(self.alpha) for _ in range(N)]
        # each lane's SgdUpdate also does its NITRO-Scaling (FWD_RELU, FWD_ERR): one divider
        # (4 hard multipliers) per lane serves both, as no instruction needs both
        sgds = [SgdUpdate(WW) for _ in range(N)]
        err = m.submodules.err = ErrorUnit(classes=N)
        for c in range(N):
            m.submodules[f"relu{c}"] = relus[c]
            m.submodules[f"relub{c}"] = relubs[c]
            m.submodules[f"sgd{c}"] = sgds[c]
            # scaled is not a stream (its valid is one cycle per value); NitroRelu always takes it
            m.d.comb += [relus[c].i.valid.eq(sgds[c].scaled_valid), relus[c].i.payload.eq(sgds[c].scaled),
                         relus[c].o.ready.eq(1), relubs[c].o.ready.eq(1), sgds[c].o.ready.eq(1)]
        m.d.comb += [mac.o.ready.eq(1), err.o.ready.eq(1)]
        ls = sgds[0].scaled_latency
        taps = epilogue_taps(self.alpha, N, WW)
        tap_fwd, tap_err, tap_bwd, tap_grad = (taps[k] for k in ("FWD_RELU", "FWD_ERR", "BACKERR", "GRAD"))
        depth = max(taps.values())
        xp_act = m.submodules.xp_act = TileTransposer(N, 8, A)
        xp_w = m.submodules.xp_w = TileTransposer(N, WW, A)

        # ------------------------------------------------------------------ registers
        ibits = Signal(NW * isa.PROG_WORD_BITS)
        ibits_load = [Signal(name=f"ibits_load{w}") for w in range(NW)]  # load word w of ibits
        ins = data.View(isa.INSTR_LAYOUT, ibits[:isa.INSTR_LAYOUT.size])
        op = ins.op

        hdr_op = Signal(4)
        hdr_mem = Signal(4)
        haddr = Signal(24)
        hcount = Signal(24)
        # registered hcount != 0 and hcount == 1, updated with hcount: the compares drove the
        # clock enables of haddr and hcount
        h_more = Signal()
        h_last = Signal()
        hdr_mode = Signal()  # the RUN header's mode bit
        pc = Signal(range(MAX_INSTRUCTIONS + 1))
        ibase = Signal(range(MAX_INSTRUCTIONS * NW + 1))  # pc * NW
        fcnt = Signal(range(NW + READ_LATENCY + 1))
        run_mode = Signal()
        run_cycles = Signal(32)
        step_count = Signal(32)
        mac_steps = Signal(32)
        flags = Signal(8)
        phase_list = [Signal(32, name=f"phase_cycles{i}") for i in range(MAX_INSTRUCTIONS)]
        done = Signal()
        clear = Signal()
        # state flags, registered (set and cleared with the FSM transitions) rather than decoded
        # from the state: each drives hundreds of loads (write-port muxes, memory addresses)
        counting = Signal()      # FETCH, DECODE, EXEC
        counters_clear = Signal()  # the first cycle of a run: the cycle counters start from 0
        host_reading = Signal()  # READ
        host_writing = Signal()  # WRITE
        # EXEC, one flag per op with a write-back (the op of the instruction being executed)
        wb_ops = {k: getattr(isa, f"OP_{k}") for k in ("FWD_RELU", "FWD_ERR", "BACKERR", "GRAD")}
        # (keep: Yosys would merge them with one lane's copies below, which sit by that lane)
        ex = {k: Signal(name=f"ex_{k.lower()}", attrs=KEEP) for k in wb_ops}
        # copies of the op flags, one set per lane (keep: Yosys must not merge them): the
        # write-back's data muxes of lane c read only their own, so no flag crosses the die
        ex_lane = [{k: Signal(name=f"ex_{k.lower()}_lane{c}", attrs=KEEP) for k in wb_ops} for c in range(N)]
        # and one set each for the row counter and the trace port, which sit elsewhere
        ex_cnt = {k: Signal(name=f"ex_{k.lower()}_cnt", attrs=KEEP) for k in wb_ops}
        ex_tr = {k: Signal(name=f"ex_{k.lower()}_trace", attrs=KEEP) for k in wb_ops}
        ex_xa = {k: Signal(name=f"ex_{k.lower()}_xp_act", attrs=KEEP) for k in wb_ops}  # and each transposer
        ex_xw = {k: Signal(name=f"ex_{k.lower()}_xp_w", attrs=KEEP) for k in wb_ops}
        # and one set per lane for the trace port's data muxes (which sit by the trace registers)
        ex_trl = [{k: Signal(name=f"ex_{k.lower()}_trace{c}", attrs=KEEP) for k in wb_ops} for c in range(N)]
        # The copies follow ex two register hops behind it (a hop register of their own, keep),
        # not the FSM: set in DECODE, a decode of the state drove every copy's enable across the
        # die. Two cycles late is early enough: a row reaches the write-back no sooner than the
        # MAC array's latency after the first k-step, and the copies are back to 0 before the
        # next instruction's DECODE (FETCH is longer than two cycles).
        for copies in (ex_cnt, ex_tr, ex_xa, ex_xw, *ex_lane, *ex_trl):
            for k, flag in copies.items():
                hop = Signal(name=f"{flag.name}_hop", attrs=KEEP)
                m.d.sync += [hop.eq(ex[k]), flag.eq(hop)]
        # copies of host_writing, one per 32 bits of each memory the datapath writes: the selects of
        # its write-data mux (one copy per memory drove the 256 selects of D's, spread over the die)
        host_wr = {k: [Signal(name=f"host_writing_{k.lower()}{j}", attrs=KEEP)
                       for j in range(-(-len(wp[k].data) // 32))] for k in DATAPATH_WRITES}
        host_wr_all = [c for cs in host_wr.values() for c in cs]
        is_grad = ex["GRAD"]

        # instruction constants derived once per instruction (DECODE)
        klen_m1 = Signal(A)
        klen_m2 = Signal(A)
        mt_m2 = Signal(10)
        nt_m1 = Signal(10)
        nt_m2 = Signal(10)
        rows_total = Signal(32)

        # issue state
        issuing = Signal()
        mi = Signal(10)
        ni = Signal(10)
        ki = Signal(A)
        # registered "this is the last k / n / m of its loop" (compares off the issue path)
        k_first = Signal()
        k_last = Signal()
        n_last = Signal()
        m_last = Signal()
        nrow = Signal(A)   # narrow word of k = 0 of the current tile
        wcol = Signal(A)   # wide word of k = 0 of the current tile
        naddr = Signal(A)  # narrow / wide word of the k-step being read
        waddr = Signal(A)
        # k-step flags, one stage per cycle of memory read latency and operand stage: s[-1] meets
        # the operands at the MAC array's input
        s_valid = [Signal(name=f"s{j + 1}_valid") for j in range(RL + OPERAND_STAGES)]
        s_first = [Signal(name=f"s{j + 1}_first") for j in range(RL + OPERAND_STAGES)]
        s_last = [Signal(name=f"s{j + 1}_last") for j in range(RL + OPERAND_STAGES)]
        # epilogue state: absolute word addresses of the current tile's row 0
        en = Signal(10)
        e_first = Signal()  # registered en == 0 and en == nt - 1 (compares off the epilogue's path)
        e_last = Signal()
        o_mrow = Signal(A)
        o_tile = Signal(A)
        a_mrow = Signal(A)
        a_tile = Signal(A)
        t_mrow = Signal(A)
        t_tile = Signal(A)
        p_mrow = Signal(A)  # PRED word of the tile's sample 0
        e_nlane = Signal(A)
        rows_done = Signal(32)
        pipe_busy = Signal()
        # registered drain test: in the previous cycle nothing was in flight and every row was
        # written back (cleared in DECODE, so it is never the previous instruction's)
        drained = Signal()
        # rows_total = mt * nt * N: the instruction's mt * nt on a registered hard multiplier (its
        # inputs follow ibits, which holds the instruction from DECODE on: valid from the second
        # cycle of EXEC; drained cannot rise before the third, the first k-step is still in the
        # array)
        mtnt = registered_product(m, platform, ins.mt, ins.nt, name="rows")
        m.d.comb += rows_total.eq(_times_constant(mtnt, N))
        m.d.sync += drained.eq(~issuing & ~Cat(*s_valid).any() & (rows_done == rows_total) & ~pipe_busy)

        m.d.comb += [
            self.busy.eq(~done & (hdr_op == CMD_RUN)),
            self.done.eq(done),
            self.mode.eq(run_mode),
            self.step_count.eq(step_count),
            self.cycle_count.eq(run_cycles),
            self.flags.eq(flags),
        ]

        # ------------------------------------------------------------------ host read path
        # A host read takes RL + 3 cycles: the memory's read latency, then the selection of the
        # memory in three registered levels (the memories' outputs are spread over the die): each
        # memory's word ANDed with its own registered select, the OR of groups of HREAD_OR words,
        # then the OR of those.
        HL = RL + 3
        hread_data = Signal(self.dw)
        # The CSR words are read like a memory, in RL cycles: own copies of the address (haddr
        # drives every memory's read address; one copy per group of CSR_GROUP words), a
        # registered first mux level (within the groups), the second level, then delay registers.
        # Addresses past the last word read 0.
        csr_words = [*phase_list, run_cycles, step_count, flags, mac_steps, run_mode]
        csr_groups = [csr_words[g:g + CSR_GROUP] for g in range(0, len(csr_words), CSR_GROUP)]
        ab = (len(csr_words) - 1).bit_length()  # CSR address bits
        gb = (CSR_GROUP - 1).bit_length()       # ... of which select within a group
        csr_hi = [Signal(ab - gb, name=f"csr_addr_hi{j}") for j in range(2)]
        csr_g = [Signal(32, name=f"csr_group{g}") for g in range(len(csr_groups))]
        csr_q = [Signal(32, name=f"csr_q{j}") for j in range(RL - 2)]
        m.d.sync += [csr_hi[0].eq(haddr[gb:ab]), csr_hi[1].eq(csr_hi[0])]
        for g, (q, words) in enumerate(zip(csr_g, csr_groups, strict=True)):
            lo = Signal(gb, name=f"csr_addr_lo{g}", attrs=KEEP)
            m.d.sync += [lo.eq(haddr[:gb]), q.eq(_zero_padded(words, CSR_GROUP)[lo])]
        m.d.sync += csr_q[0].eq(_zero_padded(csr_g, 1 << (ab - gb))[csr_hi[1]])
        rv = [Signal(name=f"rv{j}") for j in range(HL)]  # a word is in flight at read stage j
        out_cnt = Signal(24)
        # Host reads never stall the memories (they read every cycle and have no read enable,
        # so no enable net fans out to the block RAMs): a word is issued only when the output
        # FIFO has room for it and for every word still in flight; m_axis_tready only pops it.
        # Unbuffered (the words are read from distributed RAM): SyncFIFOBuffered's output register
        # had its 257 clock enables driven by the FIFO's level logic, among the placed engine's
        # worst paths.
        rfifo = m.submodules.rfifo = SyncFIFO(width=self.dw + 1, depth=READ_FIFO_DEPTH)
        # registered, so one cycle old: the level grows by at most one word a cycle, hence the
        # margin of one (the FIFO's level logic drove the host address's enable through this test)
        read_room = Signal()
        m.d.sync += read_room.eq(rfifo.level <= READ_FIFO_DEPTH - HL - 2)
        st_valid = Signal()  # the status beat of a run (STATUS state) is on m_axis
        # and copies of it, one per 32 bits of m_axis_tdata (keep): each selects its own slice
        st_sel = [Signal(name=f"st_valid_sel{j}", attrs=KEEP) for j in range(N)]
        st_data = Signal(self.dw)
        m.d.comb += [
            self.m_axis_tvalid.eq(st_valid | rfifo.r_rdy),
            *(_lane(self.m_axis_tdata, j, 32).eq(Mux(sel, _lane(st_data, j, 32), _lane(rfifo.r_data, j, 32)))
              for j, sel in enumerate(st_sel)),
            self.m_axis_tlast.eq(st_valid | rfifo.r_data[self.dw]),
            # (the FIFO is empty while the status beat is out: a run starts only after a read ended)
            rfifo.r_en.eq(self.m_axis_tready),
        ]
        m.d.sync += [csr_q[j].eq(csr_q[j - 1]) for j in range(1, len(csr_q))]
        hread_words = []
        for k, mid in MEM_IDS.items():
            word = Signal(self.dw, name=f"hread_{k.lower()}", reset_less=True)
            src = csr_q[-1] if k == "CSR" else rp[k].data
            # one select register per 32 bits (hdr_mem holds during READ): each zeroes its slice
            for j, lo in enumerate(range(0, len(src), 32)):  # (the CSR word is 32 bits, zero-extended)
                hi = min(lo + 32, len(src))
                sel = Signal(name=f"hread_sel_{k.lower()}{j}", attrs=KEEP)
                m.d.sync += [sel.eq(hdr_mem == mid), word[lo:hi].eq(Mux(sel, src[lo:hi], 0))]
            hread_words.append(word)
        hread_or = []
        for g in range(0, len(hread_words), HREAD_OR):
            part = Signal(self.dw, name=f"hread_or{g // HREAD_OR}", reset_less=True)
            m.d.sync += part.eq(functools.reduce(operator.or_, hread_words[g:g + HREAD_OR]))
            hread_or.append(part)
        m.d.sync += hread_data.eq(functools.reduce(operator.or_, hread_or))
        # a word leaves the read stages into the FIFO (rv is nonzero only in READ; not decoded
        # from the FSM state, which would drive the FIFO's pointers and level)
        m.d.comb += [rfifo.w_en.eq(rv[-1]), rfifo.w_data.eq(Cat(hread_data, out_cnt == 1))]

        # ------------------------------------------------------------------ command FSM
        # clear: the cycle after a CLEAR header's decode (registered: it reaches the flags of every lane)
        m.d.sync += clear.eq(0)
        with m.FSM(name="ctl"):
            with m.State("IDLE"):
                m.d.comb += self.s_axis_tready.eq(1)
                with m.If(self.s_axis_tvalid):
                    d = self.s_axis_tdata
                    m.d.sync += [hdr_op.eq(d[0:4]), hdr_mem.eq(d[4:8]), haddr.eq(d[8:32]),
                                 hcount.eq(d[32:56]), hdr_mode.eq(d[56]), done.eq(0),
                                 h_more.eq(d[32:56] != 0), h_last.eq(d[32:56] == 1)]
                    m.next = "HEADER"
            with m.State("HEADER"):
                # the header decoded from its registers, one cycle after it was accepted: decoded
                # from s_axis, it drove the enables of the run state from the input port
                m.next = "IDLE"
                with m.Switch(hdr_op):
                    with m.Case(CMD_WRITE):
                        with m.If(h_more):
                            m.d.sync += [host_writing.eq(1), *(c.eq(1) for c in host_wr_all)]
                            m.next = "WRITE"
                    with m.Case(CMD_READ):
                        m.d.sync += [out_cnt.eq(hcount), *(r.eq(0) for r in rv)]
                        with m.If(h_more):
                            m.d.sync += host_reading.eq(1)
                            m.next = "READ"
                    with m.Case(CMD_RUN):
                        start = haddr[:len(pc)]
                        m.d.sync += [pc.eq(start), ibase.eq(_times_constant(start, NW)), fcnt.eq(0),
                                     run_mode.eq(hdr_mode), counting.eq(1), counters_clear.eq(1)]
                        m.next = "FETCH"
                    with m.Case(CMD_CLEAR):
                        m.d.sync += clear.eq(1)
            with m.State("WRITE"):
                m.d.comb += self.s_axis_tready.eq(1)
                with m.If(self.s_axis_tvalid):
                    m.d.sync += [haddr.eq(haddr + 1), hcount.eq(hcount - 1),
                                 h_more.eq(~h_last), h_last.eq(hcount == 2)]
                    with m.If(h_last):
                        m.d.sync += [host_writing.eq(0), *(c.eq(0) for c in host_wr_all)]
                        m.next = "IDLE"
            with m.State("READ"):
                # up to one word per cycle, issued while the output FIFO has room
                take = Signal()
                m.d.comb += take.eq(h_more & read_room)
                m.d.sync += [rv[0].eq(take), *(rv[j].eq(rv[j - 1]) for j in range(1, HL))]
                with m.If(take):
                    m.d.sync += [haddr.eq(haddr + 1), hcount.eq(hcount - 1),
                                 h_more.eq(~h_last), h_last.eq(hcount == 2)]
                with m.If(rv[-1]):
                    m.d.sync += out_cnt.eq(out_cnt - 1)
                with m.If(self.m_axis_tvalid & self.m_axis_tready & self.m_axis_tlast):
                    m.d.sync += host_reading.eq(0)
                    m.next = "IDLE"
            with m.State("FETCH"):
                m.d.comb += rp["PROG"].addr.eq(ibase + fcnt)
                # word w arrives at fcnt == w + RL; its load enable is registered one cycle ahead
                # (FETCH lasts until fcnt == NW + RL - 1), not decoded from the state and fcnt
                m.d.sync += [ld.eq(fcnt == w + RL - 1) for w, ld in enumerate(ibits_load)]
                m.d.sync += fcnt.eq(fcnt + 1)
                with m.If(fcnt == NW + RL - 1):
                    m.next = "DECODE"
            with m.State("DECODE"):
                with m.If(op == isa.OP_END):
                    with m.If(~run_mode):
                        m.d.sync += step_count.eq(step_count + 1)
                    m.d.sync += counting.eq(0)
                    m.next = "STATUS"
                with m.Else():
                    m.d.sync += [
                        issuing.eq(1), mi.eq(0), ni.eq(0), ki.eq(0),
                        nrow.eq(ins.n_base), naddr.eq(ins.n_base), wcol.eq(ins.w_base), waddr.eq(ins.w_base),
                        klen_m1.eq(ins.k_len - 1), klen_m2.eq(ins.k_len - 2), mt_m2.eq(ins.mt - 2),
                        nt_m1.eq(ins.nt - 1), nt_m2.eq(ins.nt - 2),
                        k_first.eq(1), k_last.eq(ins.k_len == 1), n_last.eq(ins.nt == 1),
                        m_last.eq(ins.mt == 1),
                        en.eq(0), e_first.eq(1), e_last.eq(ins.nt == 1), e_nlane.eq(0), rows_done.eq(0),
                        drained.eq(0),
                        o_mrow.eq(ins.o_base), o_tile.eq(ins.o_base), a_mrow.eq(ins.a_base),
                        a_tile.eq(ins.a_base), t_mrow.eq(ins.t_base), t_tile.eq(ins.t_base), p_mrow.eq(0),
                    ]
                    m.d.sync += [ex[k].eq(op == code) for k, code in wb_ops.items()]
                    m.next = "EXEC"
            with m.State("EXEC"):
                with m.If(drained):
                    m.d.sync += [pc.eq(pc + 1), ibase.eq(ibase + NW), fcnt.eq(0),
                                 *(f.eq(0) for f in ex.values())]
                    m.next = "FETCH"
            with m.State("STATUS"):
                m.d.sync += [st_data.eq(Cat(run_cycles, step_count, flags, mac_steps)), st_valid.eq(1),
                             *(sel.eq(1) for sel in st_sel)]
                m.next = "STATUS_WAIT"
            with m.State("STATUS_WAIT"):
                with m.If(self.m_axis_tready):
                    m.d.sync += [st_valid.eq(0), *(sel.eq(0) for sel in st_sel), done.eq(1)]
                    m.next = "IDLE"

        for w, ld in enumerate(ibits_load):
            with m.If(ld):
                lo = w * isa.PROG_WORD_BITS
                m.d.sync += ibits[lo:lo + isa.PROG_WORD_BITS].eq(rp["PROG"].data)

        # host writes (WRITE state): beat j to mem[address + j]. The memories only the host writes
        # (PROG, Y) take the beat and haddr in every cycle, and only their enable depends on the
        # state (a data or address gated by host_writing made a reset net for all their bits);
        # the datapath's memories select the beat on their own copy of host_writing (write-back).
        with m.If(host_writing & self.s_axis_tvalid), m.Switch(hdr_mem):
            for k, mid in MEM_IDS.items():
                if k == "CSR":
                    continue
                with m.Case(mid):
                    m.d.comb += wp[k].en.eq(1)
                    if k in DATAPATH_WRITES:
                        m.d.comb += wp[k].addr.eq(haddr)
        for k in wp:
            if k not in DATAPATH_WRITES:
                m.d.comb += [wp[k].addr.eq(haddr), wp[k].data.eq(self.s_axis_tdata)]

        # cycle counters (a decoded increment: a dynamic Array read of the counters would be an
        # always @* block that Icarus never evaluates while pc and the counters keep their reset value)
        # The counters are cleared in the first cycle of a run (counters_clear, set by the RUN
        # header's decode) rather than by the decode itself: they are 1,000 and more flip-flops.
        def counted(sig, inc, clear_sig):
            with m.If(clear_sig):  # a synchronous reset for all bits but the lowest
                m.d.sync += sig.eq(inc)
            with m.Elif(inc):
                m.d.sync += sig.eq(sig + 1)

        with m.If(counters_clear):  # conditional: the command FSM above sets it
            m.d.sync += counters_clear.eq(0)
        counted(run_cycles, counting, counters_clear)  # read by the status beat as the run ends
        # The phase counters (MAX_INSTRUCTIONS x 32 flip-flops) count one cycle late, to the same
        # values: each has a registered decode of pc as its enable (a decoded pc drove every one
        # of their clock enables) and its own copy of the clear, one cycle after counters_clear.
        # Only host reads see them, and no read reaches them within a cycle of the run's end.
        for i, sig in enumerate(phase_list):
            inc = Signal(name=f"phase_en{i}", attrs=KEEP)
            clear_sig = Signal(name=f"phase_clear{i}", attrs=KEEP)
            m.d.sync += [inc.eq(counting & (pc == i)), clear_sig.eq(counters_clear)]
            counted(sig, inc, clear_sig)

        # ------------------------------------------------------------------ issue (operand feed)
        # The operand pipeline never stalls (no enable fans out to the memories and operand
        # registers): the MAC array takes a tile's last k-step at most once per tile_interval
        # cycles, so the issue holds a last k-step until that many cycles have passed since the
        # previous one. The array then never refuses a k-step (flag bit 3 would report it).
        T = mac.tile_interval
        since_last = Signal(range(T + 1), init=T)  # cycles since the last issued last k-step
        since_ok = Signal(init=1)  # since_last == T, registered
        issue = Signal()
        m.d.comb += issue.eq(issuing & (~k_last | since_ok))
        with m.If(issue & k_last):
            m.d.sync += [since_last.eq(1), since_ok.eq(T == 1)]
        with m.Elif(~since_ok):
            m.d.sync += [since_last.eq(since_last + 1), since_ok.eq(since_last == T - 1)]
        m.d.sync += [s_valid[0].eq(issue), s_first[0].eq(k_first), s_last[0].eq(k_last)]
        m.d.sync += [s_valid[j].eq(s_valid[j - 1]) for j in range(1, len(s_valid))]
        m.d.sync += [s_first[j].eq(s_first[j - 1]) for j in range(1, len(s_first))]
        m.d.sync += [s_last[j].eq(s_last[j - 1]) for j in range(1, len(s_last))]
        with m.If(issue):
            with m.If(k_last):
                m.d.sync += [ki.eq(0), k_first.eq(1), k_last.eq(klen_m1 == 0)]
                with m.If(n_last):
                    m.d.sync += [ni.eq(0), n_last.eq(nt_m1 == 0), wcol.eq(ins.w_base), waddr.eq(ins.w_base)]
                    with m.If(m_last):
                        m.d.sync += issuing.eq(0)
                    with m.Else():
                        m.d.sync += [mi.eq(mi + 1), m_last.eq(mi == mt_m2), nrow.eq(nrow + ins.n_mstride),
                                     naddr.eq(nrow + ins.n_mstride)]
                with m.Else():
                    m.d.sync += [ni.eq(ni + 1), n_last.eq(ni == nt_m2), wcol.eq(wcol + ins.w_nstride),
                                 waddr.eq(wcol + ins.w_nstride), naddr.eq(nrow)]
            with m.Else():
                m.d.sync += [ki.eq(ki + 1), k_first.eq(0), k_last.eq(ki == klen_m2),
                             naddr.eq(naddr + 1), waddr.eq(waddr + 1)]

        # ------------------------------------------------------------------ read-port addresses
        row = mac.o.payload.row
        epi_o = Signal(A)  # word of the row leaving the MAC array, in the output tensor
        epi_a = Signal(A)  # ... and in the auxiliary tensor (Y, RG)
        m.d.comb += [epi_o.eq(o_tile + row), epi_a.eq(a_tile + row)]
        engine_addr = {"AF": naddr, "AG": naddr, "WT": waddr, "D": waddr, "E": waddr,
                       "WF": Mux(is_grad, epi_o, waddr), "Y": epi_a, "RG": epi_a}
        for k, p in rp.items():
            if k == "PROG":
                with m.If(host_reading):
                    m.d.comb += p.addr.eq(haddr)
                continue
            with m.If(host_reading):
                m.d.comb += p.addr.eq(haddr)
            with m.Else():
                m.d.comb += p.addr.eq(engine_addr.get(k, 0))

        # ------------------------------------------------------------------ MAC array input
        # Every row and column of the array selects its operand on its own copy of the select
        # (keep), two register hops from the instruction register / the GRAD flag: one register
        # drove the operand muxes of the whole array. Two cycles late is early enough: the first
        # k-step's operands arrive READ_LATENCY cycles after the first issue (EXEC), and the
        # copies hold until the next DECODE. The selected operands are registered
        # (OPERAND_STAGES): the wire from four memories to the array's input copies, spread
        # over the die, was the placed mlp1 engine's worst path.
        def two_hop_copy(value, name):
            hop = Signal.like(value, name=f"{name}_hop", attrs=KEEP)
            copy = Signal.like(value, name=name, attrs=KEEP)
            m.d.sync += [hop.eq(value), copy.eq(hop)]
            return copy

        m.d.comb += [mac.i.valid.eq(s_valid[-1]), mac.i.payload.first.eq(s_first[-1]),
                     mac.i.payload.last.eq(s_last[-1])]
        assert OPERAND_STAGES == 1, "one operand register per row and column"
        for r in range(N):
            grad = two_hop_copy(is_grad, f"narrow_grad{r}")
            operand = Signal(8, name=f"narrow_op{r}")
            m.d.sync += operand.eq(Mux(grad, _lane(rp["AG"].data, r, 8), _lane(rp["AF"].data, r, 8)))
            m.d.comb += mac.i.payload.narrow[r].eq(operand.as_signed())
        wide_src = {isa.WSRC_WF: _sext_lanes(m, rp["WF"].data, N, WW, "wide_wf"),
                    isa.WSRC_WT: _sext_lanes(m, rp["WT"].data, N, WW, "wide_wt"),
                    isa.WSRC_D: rp["D"].data,
                    isa.WSRC_E: _sext_lanes(m, rp["E"].data, N, 8, "wide_e")}
        for c in range(N):
            wsrc = two_hop_copy(ins.wsrc, f"wide_src{c}")
            operand = Signal(32, name=f"wide_op{c}")
            with m.Switch(wsrc):
                for code, word in wide_src.items():
                    with m.Case(code):
                        m.d.sync += operand.eq(_lane(word, c, 32))
            m.d.comb += mac.i.payload.wide[c].eq(operand.as_signed())
        counted(mac_steps, mac.i.valid & mac.i.ready, counters_clear)

        # ------------------------------------------------------------------ epilogue E0 -> E1
        # tile_end (the last row of a tile leaves the array) registered one row ahead: mac.o.ready
        # is 1, so row N-1 always follows row N-2 in the next cycle; it enables every epilogue
        # address register
        tile_end = Signal()
        m.d.sync += tile_end.eq(mac.o.valid & (row == N - 2))
        with m.If(tile_end):
            m.d.sync += e_first.eq(e_last)
            with m.If(e_last):
                m.d.sync += [en.eq(0), e_last.eq(nt_m1 == 0), e_nlane.eq(0),
                             o_mrow.eq(o_mrow + ins.o_mstride), o_tile.eq(o_mrow + ins.o_mstride),
                             a_mrow.eq(a_mrow + ins.o_mstride), a_tile.eq(a_mrow + ins.o_mstride),
                             t_mrow.eq(t_mrow + ins.t_mstride), t_tile.eq(t_mrow + ins.t_mstride),
                             p_mrow.eq(p_mrow + N)]
            with m.Else():
                m.d.sync += [en.eq(en + 1), e_last.eq(en == nt_m2), e_nlane.eq(e_nlane + N),
                             o_tile.eq(o_tile + ins.o_nstride), a_tile.eq(a_tile + ins.o_nstride),
                             t_tile.eq(t_tile + N)]

        rec_layout = data.StructLayout({
            "valid": 1, "o_addr": A, "a_addr": A, "row": rb, "p_addr": A, "last_n": 1, "first_n": 1,
            "t_base": A, "mask": N, "nlane": 8,
        })
        # E0 -> E1: the row waits READ_LATENCY cycles for its epilogue memory reads (WF, Y, RG at E0)
        mask = Cat(*[(e_nlane + c) < ins.n_valid for c in range(N)])
        e_rec = Signal(rec_layout, name="e_r1")
        e_acc = Signal(self.dw, name="e_acc1")
        m.d.sync += [
            e_rec.valid.eq(mac.o.valid), e_rec.o_addr.eq(epi_o), e_rec.a_addr.eq(epi_a), e_rec.row.eq(row),
            e_rec.p_addr.eq(p_mrow + row), e_rec.last_n.eq(e_last), e_rec.first_n.eq(e_first),
            e_rec.t_base.eq(t_tile), e_rec.mask.eq(mask), e_rec.nlane.eq(e_nlane),
            e_acc.eq(Cat(*[mac.o.payload.acc[c] for c in range(N)])),
        ]
        assert RL >= 2, "the last waiting stage holds the per-unit copies"
        waiting = [e_rec]
        for j in range(2, RL):
            nxt_rec, nxt_acc = Signal(rec_layout, name=f"e_r{j}"), Signal(self.dw, name=f"e_acc{j}")
            m.d.sync += [nxt_rec.eq(e_rec), nxt_acc.eq(e_acc)]
            e_rec, e_acc = nxt_rec, nxt_acc
            waiting.append(e_rec)
        # the last waiting stage: one copy of the accumulator row per unit (keep), so the
        # ReLU-backward and SGD lanes (the SGD by its hard multipliers) do not share a register
        e1 = Signal(rec_layout, name=f"e_r{RL}")
        e1_acc = {u: Signal(self.dw, name=f"e_acc{RL}_{u}", attrs=KEEP) for u in ("relub", "sgd")}
        m.d.sync += [e1.eq(e_rec), *(a.eq(e_acc) for a in e1_acc.values())]
        # and one copy of the row's valid per unit and lane (keep): it is the clock enable of
        # every pipeline register of that unit, and one register drove all of them
        e1_valid = {u: [Signal(name=f"e_v{RL}_{u}{c}", attrs=KEEP) for c in range(N)]
                    for u in ("relub", "sgd")}
        m.d.sync += [v.eq(e_rec.valid) for vs in e1_valid.values() for v in vs]
        waiting.append(e1)
        # sideband delay line: sb[j] is the record of the row whose unit outputs appear j cycles after E1
        sb = [e1]
        for j in range(1, depth + 1):
            s = Signal(rec_layout, name=f"sb{j}")
            m.d.sync += s.eq(sb[-1])
            sb.append(s)
        ypipe = [rp["Y"].data]  # Y row, aligned with the scaled outputs
        for j in range(1, ls + 1):
            s = Signal(8 * N, name=f"y{j}")
            m.d.sync += s.eq(ypipe[-1])
            ypipe.append(s)
        ydata = ypipe[ls]

        # Each lane reads its own registered copy of the instruction's unit configuration (keep),
        # CFG_HOPS register hops from the instruction register: that is loaded in FETCH, many
        # cycles before its first row reaches the epilogue, and one register would drive the
        # configuration of every lane across the chip. The divider's reciprocal is the learning
        # rate's in GRAD and the scale factor's otherwise (the SgdUpdate scales).
        cfg_fields = ("div_mult", "div_shift", "dc_mult", "dc_shift", "dc_en")
        ins_is_grad = ins.op == isa.OP_GRAD
        for c in range(N):
            cfg = {"div_mult": Mux(ins_is_grad, ins.lr_mult, ins.sc_mult),
                   "div_shift": Mux(ins_is_grad, ins.lr_shift, ins.sc_shift),
                   **{f: getattr(ins, f) for f in cfg_fields[2:]}}
            for h in range(CFG_HOPS):
                suffix = f"lane{c}" if h == CFG_HOPS - 1 else f"hop{h}_{c}"
                nxt = {f: Signal(len(cfg[f]), name=f"cfg_{f}_{suffix}", attrs=KEEP) for f in cfg_fields}
                m.d.sync += [nxt[f].eq(cfg[f]) for f in cfg_fields]
                cfg = nxt
            scaling = ex_lane[c]["FWD_RELU"] | ex_lane[c]["FWD_ERR"]
            m.d.comb += [
                relubs[c].i.valid.eq(e1_valid["relub"][c] & ex_lane[c]["BACKERR"]),
                relubs[c].i.payload.delta.eq(_lane(e1_acc["relub"], c, 32).as_signed()),
                relubs[c].i.payload.region.eq(_lane(rp["RG"].data, c, 2)),
                sgds[c].i.valid.eq(e1_valid["sgd"][c] & (ex_lane[c]["GRAD"] | scaling)),
                sgds[c].scaling.eq(scaling),
                sgds[c].i.payload.w.eq(_lane(rp["WF"].data_copy, c, WW).as_signed()),
                sgds[c].i.payload.g.eq(_lane(e1_acc["sgd"], c, 32).as_signed()),
                sgds[c].lr_multiplier.eq(cfg["div_mult"]), sgds[c].lr_shift.eq(cfg["div_shift"]),
                sgds[c].decay_multiplier.eq(cfg["dc_mult"]), sgds[c].decay_shift.eq(cfg["dc_shift"]),
                sgds[c].decay_enable.eq(cfg["dc_en"]), sgds[c].clear.eq(clear),
            ]
        # Per-lane copies of the row's mask (keep) where it gates a lane's data, taken from the
        # sideband one stage earlier (so aligned with it): one sideband register gated all lanes.
        def lane_masks(tap, name):
            copies = [Signal(name=f"{name}_mask{c}", attrs=KEEP) for c in range(N)]
            m.d.sync += [copy.eq(sb[tap - 1].mask[c]) for c, copy in enumerate(copies)]
            return copies

        # error unit on the scaled outputs; padded classes never win the argmax
        s_mask = lane_masks(ls, "err_in")
        m.d.comb += err.i.valid.eq(sgds[0].scaled_valid & ex["FWD_ERR"])
        for c in range(N):
            m.d.comb += [
                err.i.payload.y_hat[c].eq(Mux(s_mask[c], sgds[c].scaled, -128)),
                err.i.payload.y[c].eq(_lane(ydata, c, 8).as_signed()),
            ]

        # ------------------------------------------------------------------ write-back
        tv = Signal()
        t_addr = Signal(A)
        t_data = Signal(self.dw)
        rf, re_, rbk, rg = sb[tap_fwd], sb[tap_err], sb[tap_bwd], sb[tap_grad]
        rf_mask, re_mask = lane_masks(tap_fwd, "fwd"), lane_masks(tap_err, "err_out")
        h_row = Cat(*[Mux(rf_mask[c], relus[c].o.payload.h, 0) for c in range(N)])
        region_row = Cat(*[relus[c].o.payload.region for c in range(N)])
        e_row = Cat(*[Mux(re_mask[c], err.o.payload.e[c], 0) for c in range(N)])
        d_row = Cat(*[relubs[c].o.payload for c in range(N)])
        w_row = Cat(*[sgds[c].o.payload for c in range(N)])
        # running argmax of the samples of the current row of tiles, one entry per tile row: rows
        # arrive in order 0 .. N-1 in every tile, so entry 0 is always the arriving row's
        best_v = [Signal(signed(8), name=f"best_v{r}") for r in range(N)]
        best_i = [Signal(8, name=f"best_i{r}") for r in range(N)]
        cand_v = err.o.payload.max
        cls = Signal(8)
        m.d.comb += cls.eq(err.o.payload.argmax + re_.nlane)
        take = re_.first_n | (cand_v > best_v[0])
        new_v = Signal(signed(8))
        new_i = Signal(8)
        m.d.comb += [new_v.eq(Mux(take, cand_v, best_v[0])), new_i.eq(Mux(take, cls, best_i[0]))]

        # Data: every memory's write data is its datapath row, or the host's beat while the host
        # writes (copies of host_writing per 32 bits); only the write enables depend on the op.
        # These assignments come after the host's (command FSM), so they decide the data.
        engine_data = {"AG": h_row, "RG": region_row, "E": e_row, "D": d_row, "WF": w_row, "PRED": new_i,
                       "AF": xp_act.col_data, "WT": xp_w.col_data}
        for k, row in engine_data.items():
            assert len(row) == len(wp[k].data), k
            for j, sel in enumerate(host_wr[k]):
                bits = slice(32 * j, min(32 * j + 32, len(row)))
                m.d.comb += wp[k].data[bits].eq(Mux(sel, self.s_axis_tdata[bits], row[bits]))
        # the transposers' rows (on the transposer's flag copies) and the trace data, lane by lane
        # on the lane's own trace flag copies
        trace_rows = {"FWD_RELU": _sext_lanes(m, h_row, N, 8, "tr_h"),
                      "FWD_ERR": _sext_lanes(m, e_row, N, 8, "tr_e"),
                      "BACKERR": d_row, "GRAD": _sext_lanes(m, w_row, N, WW, "tr_w")}
        m.d.comb += xp_w.row_data.eq(w_row)
        for c in range(N):
            fl, relu_rows = ex_trl[c], ex_xa["FWD_RELU"]
            m.d.comb += [
                _lane(xp_act.row_data, c, 8).eq(Mux(relu_rows, _lane(h_row, c, 8), _lane(e_row, c, 8))),
                _lane(t_data, c, 32).eq(Mux(fl["FWD_RELU"], _lane(trace_rows["FWD_RELU"], c, 32),
                                         Mux(fl["FWD_ERR"], _lane(trace_rows["FWD_ERR"], c, 32),
                                             Mux(fl["BACKERR"], _lane(trace_rows["BACKERR"], c, 32),
                                                 _lane(trace_rows["GRAD"], c, 32))))),
            ]

        # Control: valid, addresses, enables, only while executing (flags set in DECODE); the
        # host owns the write enables otherwise
        row_done = Signal()
        m.d.comb += [xp_act.row_valid.eq(0), xp_w.row_valid.eq(0)]
        with m.If(ex["FWD_RELU"]):
            m.d.comb += [
                wp["AG"].en.eq(rf.valid), wp["AG"].addr.eq(rf.o_addr),
                wp["RG"].en.eq(rf.valid), wp["RG"].addr.eq(rf.a_addr),
            ]
        with m.Elif(ex["FWD_ERR"]):
            m.d.comb += [wp["E"].en.eq(re_.valid), wp["E"].addr.eq(re_.o_addr)]
            # argmax across the class tiles of a sample (first index on ties)
            with m.If(re_.valid):
                m.d.sync += [best_v[N - 1].eq(new_v), best_i[N - 1].eq(new_i),
                             *(best_v[r].eq(best_v[r + 1]) for r in range(N - 1)),
                             *(best_i[r].eq(best_i[r + 1]) for r in range(N - 1))]
            m.d.comb += [wp["PRED"].en.eq(re_.valid & re_.last_n), wp["PRED"].addr.eq(re_.p_addr)]
        with m.Elif(ex["BACKERR"]):
            m.d.comb += [wp["D"].en.eq(rbk.valid), wp["D"].addr.eq(rbk.o_addr)]
        with m.Elif(ex["GRAD"]):
            m.d.comb += [wp["WF"].en.eq(rg.valid), wp["WF"].addr.eq(rg.o_addr)]
        # the transposers' row inputs, each on its own flag copies
        for rec, flag in ((rf, ex_xa["FWD_RELU"]), (re_, ex_xa["FWD_ERR"])):
            with m.If(flag):
                m.d.comb += [xp_act.row_valid.eq(rec.valid), xp_act.row_index.eq(rec.row),
                             xp_act.row_base.eq(rec.t_base)]
        with m.If(ex_xw["GRAD"]):
            m.d.comb += [xp_w.row_valid.eq(rg.valid & ins.twrite), xp_w.row_index.eq(rg.row),
                         xp_w.row_base.eq(rg.t_base)]
        with m.If(xp_act.col_valid):
            m.d.comb += [wp["AF"].en.eq(1), wp["AF"].addr.eq(xp_act.col_addr)]
        with m.If(xp_w.col_valid):
            m.d.comb += [wp["WT"].en.eq(1), wp["WT"].addr.eq(xp_w.col_addr)]
        # the row counter and the trace port select the sideband of the op on their own flag copies
        sideband = {"FWD_RELU": rf, "FWD_ERR": re_, "BACKERR": rbk, "GRAD": rg}
        for flags_, take in ((ex_cnt, lambda r: [row_done.eq(r.valid)]),
                             (ex_tr, lambda r: [tv.eq(r.valid), t_addr.eq(r.o_addr)])):
            for j, (k, rec) in enumerate(sideband.items()):
                with (m.If if j == 0 else m.Elif)(flags_[k]):
                    m.d.comb += take(rec)
        with m.If(row_done):
            m.d.sync += rows_done.eq(rows_done + 1)
        m.d.comb += pipe_busy.eq(xp_act.busy | xp_w.busy | Cat(*[s.valid for s in waiting + sb]).any()
                                 | mac.o.valid)
        trace = [(tv, ins.tag, t_addr, t_data)]
        for j in range(1, TRACE_STAGES):
            trace.append((Signal(name=f"trace{j}_valid"), Signal(8, name=f"trace{j}_tag"),
                          Signal(A, name=f"trace{j}_index"), Signal(self.dw, name=f"trace{j}_data")))
        trace.append((self.trace_valid, self.trace_tag, self.trace_index, self.trace_data))
        for src, dst in itertools.pairwise(trace):
            m.d.sync += [d.eq(s) for s, d in zip(src, dst, strict=True)]

        # ------------------------------------------------------------------ flags
        m.d.comb += mac.clear.eq(clear)
        with m.If(clear):
            m.d.sync += [flags.eq(0), step_count.eq(0)]
        with m.Else():
            m.d.sync += flags.eq(flags | Cat(Const(0, 1), Cat(*[s.overflow for s in sgds]).any(),
                                             Cat(*[s.wrapped for s in sgds]).any(),
                                             mac.i.valid & ~mac.i.ready))
        return m

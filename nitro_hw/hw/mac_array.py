"""Output-stationary MAC array with wrapping accumulators and a draining shadow buffer.

Every GEMM of a NITRO-D training step multiplies an int8 operand (activations, errors)
by a "wide" one (weights, back-propagated errors) and keeps only the low 32 bits of
each sum (spec §1.3, §10.1). The array computes one k-step of an outer product per
cycle, ``acc[r][c] (+)= narrow[r] * wide[c]`` modulo ``2**acc_width``, and hands each
finished tile to a shadow buffer that drains row by row while the next tile
accumulates.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from . import KEEP, distinct_init
from .hard_multiplier import registered_product

__all__ = ["DSP_WIDTH", "MacArray"]

#: Signed operand width of the target hard multiplier (ECP5 MULT18X18D; 16 for iCE40 SB_MAC16).
DSP_WIDTH = 18


def _sum_tree(m: Module, terms: list, width: int, name: str, register_levels: int) -> Signal:
    """Sum ``terms`` modulo ``2**width`` as a balanced tree of two-input adders.

    The first ``register_levels`` levels of the tree end in a register (``m.d.sync``),
    the rest are combinational; the result is a ``unsigned(width)`` signal.
    """
    level = 0
    while len(terms) > 1:
        nxt = []
        for j in range(0, len(terms) - 1, 2):
            s = Signal(unsigned(width), name=f"{name}_l{level}_{j // 2}")
            dom = m.d.sync if level < register_levels else m.d.comb
            dom += s.eq(terms[j] + terms[j + 1])
            nxt.append(s)
        if len(terms) % 2:
            nxt.append(terms[-1])
        terms = nxt
        level += 1
    out = Signal(unsigned(width), name=name)
    m.d.comb += out.eq(terms[0])
    return out


class MacArray(wiring.Component):
    """``rows x cols`` output-stationary array of ``narrow x wide`` MACs, wrapping accumulators.

    Each accepted ``i`` beat is one k-step: ``acc[r][c] = narrow[r] * wide[c]`` when
    ``first`` is set, else ``acc[r][c] + narrow[r] * wide[c]``, modulo ``2**acc_width``
    (two's complement). A beat with ``last`` set ends the tile: the updated accumulators
    move to a shadow buffer, and ``o`` delivers them row by row (``rows`` beats, ``row`` =
    0, 1, ...) while the next tile accumulates. A tile must start with ``first``;
    ``first`` and ``last`` may both be set (a one-step tile).

    Products (one hard multiplier per MAC at every width)
    -----------------------------------------------------
    Only the low ``acc_width`` bits of every product matter (the sums wrap). With
    ``s = dsp_width - 1`` and ``wide = hi * 2**s + lo`` (``lo`` the unsigned low ``s``
    bits, ``hi`` the signed rest)::

        narrow * wide  ==  narrow * lo  +  ((narrow * hi) mod 2**(acc_width - s)) * 2**s
                                                                    (mod 2**acc_width)

    ``narrow * lo`` is a signed ``narrow_width`` x ``dsp_width`` product: one hard multiplier
    (ECP5 MULT18X18D). ``(narrow * hi) mod 2**(acc_width - s)`` is a shift-and-add of
    ``narrow_width`` partial products written as additions (not a ``*``), so synthesis keeps it
    in LUTs and carry chains: for int8 x int32 with a 32-bit accumulator, eight 15-bit rows.
    When ``wide_width <= dsp_width`` the whole product is one multiplier and the high slice
    does not exist. The result is exact modulo ``2**acc_width`` for every operand value.

    Pipeline and flow control
    -------------------------
    Input register (two copies: a row's narrow operand per half of the columns, a column's wide
    operand per half of the rows); two stages of per-MAC copies of the operands (the broadcast
    of a row's or column's operand to its MACs crosses the die in two register-to-register
    hops); products (multiplier output registered, first level of the high-slice adder tree
    registered); a second register of both (the multiplier output again, the rest of the
    high-slice tree); product assembled; accumulators (7 stages with a high slice; 5 without:
    input, two copies, product, accumulators). The registers around the hard multiplier let placement
    keep its input and output routing short. The datapath never stalls: ``i.ready`` is low only for a
    ``last`` beat while the previous tile still occupies the shadow buffer (its ``last`` was
    accepted and its final row has not left ``o``). With ``o.ready`` high, tiles of
    ``K >= rows + latency`` k-steps stream at one k-step per cycle; shorter tiles are spaced
    ``rows + latency`` cycles apart. ``i.ready`` depends combinationally on
    ``i.payload.last`` (and a register), never on ``o.ready``.

    The first output row is valid :attr:`latency` cycles after the ``last`` beat was
    accepted.

    Overflow diagnostic: ``overflow`` is set (and stays set until ``clear``) when an accepted
    beat carries a wide operand outside the signed ``dsp_width``-bit range, i.e. when a
    datapath with only the hard multiplier (no high slice) could have given a different
    result. It is never set when ``wide_width <= dsp_width``. ``clear`` resets it; a flagged
    beat accepted in the same cycle or up to three cycles earlier sets it again (the check is
    pipelined: a register per column, then their OR).

    Parameters
    ----------
    rows, cols : int
        Array size (1 to 64 each).
    narrow_width : int
        Width of the signed narrow operand (2 to ``dsp_width``; 8 for int8).
    wide_width : int
        Width of the signed wide operand (2 to ``acc_width``; 32 takes every int32 value).
    acc_width : int
        Accumulator width (2 to 64); accumulation wraps modulo ``2**acc_width``.
    dsp_width : int
        Signed operand width of one hard multiplier (9 to 27; 18 for ECP5, 16 for iCE40).

    Attributes
    ----------
    i : In(stream.Signature(StructLayout({"narrow": ArrayLayout(signed(narrow_width), rows), "wide": ArrayLayout(signed(wide_width), cols), "first": 1, "last": 1})))
        k-steps.
    o : Out(stream.Signature(StructLayout({"row": unsigned(row_bits), "acc": ArrayLayout(signed(acc_width), cols)})))
        Finished tiles, row by row.
    overflow : Out(1)
        Sticky diagnostic (see above).
    clear : In(1)
        Clears ``overflow``.
    """  # noqa: E501

    def __init__(self, rows: int = 8, cols: int = 8, narrow_width: int = 8, wide_width: int = 32,
                 acc_width: int = 32, dsp_width: int = DSP_WIDTH):
        for name, value, lo, hi in [("rows", rows, 1, 64), ("cols", cols, 1, 64),
                                    ("dsp_width", dsp_width, 9, 27),
                                    ("wide_width", wide_width, 2, 64), ("acc_width", acc_width, 2, 64)]:
            if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
                raise ValueError(f"MacArray: {name} must be an int in [{lo}, {hi}], got {value!r}")
        if not isinstance(narrow_width, int) or isinstance(narrow_width, bool) \
                or not 2 <= narrow_width <= dsp_width:
            raise ValueError(f"MacArray: narrow_width must be an int in [2, dsp_width={dsp_width}], "
                             f"got {narrow_width!r}")
        if wide_width > acc_width:
            raise ValueError(f"MacArray: wide_width ({wide_width}) must not exceed acc_width ({acc_width})")
        self.rows, self.cols = rows, cols
        self.narrow_width, self.wide_width, self.acc_width = narrow_width, wide_width, acc_width
        self.dsp_width = dsp_width
        self.split = wide_width > dsp_width
        self.lo_bits = dsp_width - 1 if self.split else wide_width
        self.row_bits = max(1, (rows - 1).bit_length())
        super().__init__({
            "i": In(stream.Signature(data.StructLayout({
                "narrow": data.ArrayLayout(signed(narrow_width), rows),
                "wide": data.ArrayLayout(signed(wide_width), cols),
                "first": 1,
                "last": 1,
            }))),
            "o": Out(stream.Signature(data.StructLayout({
                "row": unsigned(self.row_bits),
                "acc": data.ArrayLayout(signed(acc_width), cols),
            }))),
            "overflow": Out(1),
            "clear": In(1),
        })

    @property
    def latency(self) -> int:
        """Cycles from accepting a tile's ``last`` beat to its first output row being valid."""
        return 7 if self.split else 5

    @property
    def tile_interval(self) -> int:
        """Fewest cycles between two accepted ``last`` beats (with ``o.ready`` high)."""
        return self.rows + self.latency

    @property
    def multipliers_per_mac(self) -> int:
        """Hard multipliers (``dsp_width`` x ``dsp_width`` signed) one MAC needs: always 1."""
        return 1

    @property
    def multipliers(self) -> int:
        """Hard multipliers of the whole array."""
        return self.rows * self.cols * self.multipliers_per_mac

    def _product_stages(self, m: Module, platform, a, w, name: str, copy_id: int):
        """Pipeline stages 2 .. latency-1 of one MAC's product; returns the product (acc_width bits).

        Stages 2 and 3 copy the operands twice into registers of this MAC alone (``keep``, so
        synthesis does not merge the copies): a broadcast from the shared input register reaches
        every MAC through two register-to-register hops, which placement can stretch across the
        die (the multipliers of a large array sit wherever the hard-multiplier sites are), and
        the hard multiplier and the high-slice adders each read a second copy of their own (the
        multiplier's sits next to the hard-multiplier site, the adders' next to the adders).
        The multiplier's operand copies and its product register are
        :func:`~nitro_hw.hw.hard_multiplier.registered_product`: inside the MULT18X18D on ECP5.
        """
        A, s = self.acc_width, self.lo_bits

        def copy(value, shape, suffix: str, init: int) -> Signal:
            # distinct initial values (never observed: the valid pipeline masks them) stop a
            # synthesizer from merging the copies of one operand into one register
            r = Signal(shape, name=f"{name}_{suffix}", attrs=KEEP, reset_less=True,
                       init=distinct_init(shape, init))
            m.d.sync += r.eq(value)
            return r

        a1 = copy(a, signed(self.narrow_width), "a1", copy_id)
        w1 = copy(w, signed(self.wide_width), "w1", copy_id)
        if not self.split:
            # stage 3 (operand copies) and 4 (product): the hard multiplier's own registers
            product = registered_product(m, platform, a1, w1, name=f"{name}_m", init=copy_id + 1)
            p = Signal(signed(A), name=f"{name}_p")
            m.d.comb += p.eq(product)
            return p
        hb = A - s  # bits of the high slice that survive the wrap
        hi_w = copy(w1[s:], signed(self.wide_width - s), "w2hi", copy_id + 1)
        a2h = copy(a1, signed(self.narrow_width), "a2hi", copy_id + 2)  # the adders' own copy
        # unsigned low slice: one signed dsp_width multiplier, with its operand and product registers
        lo = registered_product(m, platform, a1, w1[:s], name=f"{name}_lo", init=copy_id + 1)
        terms = []
        for j in range(self.narrow_width):
            t = Signal(signed(hb), name=f"{name}_pp{j}")  # assignment wraps to the low hb bits
            row = Mux(a2h[j], hi_w << j, 0)
            m.d.comb += t.eq(row if j < self.narrow_width - 1 else -row)  # the sign bit weighs -2**(nw-1)
            terms.append(t.as_unsigned())
        hi = _sum_tree(m, terms, hb, f"{name}_hi", register_levels=1)
        hi5 = Signal(unsigned(hb), name=f"{name}_hi5")
        lo5 = Signal.like(lo, name=f"{name}_lo5")  # a second register: the multiplier output
        m.d.sync += [hi5.eq(hi), lo5.eq(lo)]        # register can sit next to the multiplier
        p = Signal(signed(A), name=f"{name}_p")
        m.d.sync += p.eq(lo5 + (hi5 << s))
        return p

    def elaborate(self, platform):
        m = Module()
        R, C, A = self.rows, self.cols, self.acc_width
        L = self.latency

        # Stage 1: input register.
        v = [Signal(name=f"v{k}") for k in range(1, L)]          # valid of stages 1 .. L-1
        first = [Signal(name=f"first{k}") for k in range(1, L)]
        last = [Signal(name=f"last{k}") for k in range(1, L)]
        # the input register in two copies (keep): each row's narrow operand once per half of the
        # columns, each column's wide operand once per half of the rows, so each register drives
        # the copies of half as many MACs (one register per operand was the routed default
        # engine's critical path: 12.1 ns of wire from the input register to a MAC's copy)
        half_c, half_r = -(-C // 2), -(-R // 2)
        in_n = [[Signal(signed(self.narrow_width), name=f"in_narrow_{r}_h{h}", attrs=KEEP)
                 for r in range(R)] for h in range(-(-C // half_c))]
        in_w = [[Signal(signed(self.wide_width), name=f"in_wide_{c}_h{h}", attrs=KEEP)
                 for c in range(C)] for h in range(-(-R // half_r))]
        acc = [[Signal(signed(A), name=f"acc_{r}_{c}") for c in range(C)] for r in range(R)]
        shadow = [[Signal(signed(A), name=f"shadow_{r}_{c}") for c in range(C)] for r in range(R)]
        row = Signal(unsigned(self.row_bits))
        busy = Signal()  # a tile whose last beat was accepted has not left the shadow buffer yet

        accept = Signal()
        m.d.comb += [self.i.ready.eq(~(self.i.payload.last & busy)),
                     accept.eq(self.i.valid & self.i.ready)]
        # the input copies: no enable (v[0] marks them)
        m.d.sync += [v[0].eq(accept),
                     *(x.eq(self.i.payload.narrow[r]) for h in in_n for r, x in enumerate(h)),
                     *(x.eq(self.i.payload.wide[c]) for h in in_w for c, x in enumerate(h))]
        with m.If(accept):
            m.d.sync += [first[0].eq(self.i.payload.first), last[0].eq(self.i.payload.last)]
        for k in range(1, L - 1):
            m.d.sync += [v[k].eq(v[k - 1]), first[k].eq(first[k - 1]), last[k].eq(last[k - 1])]

        # Stages 2 .. L-1: products.
        prod = [[self._product_stages(m, platform, in_n[c // half_c][r], in_w[r // half_r][c], f"mac_{r}_{c}",
                                      r * C + c)
                 for c in range(C)] for r in range(R)]

        # Stage L: accumulators; the last k-step of a tile also loads the shadow buffer. Every MAC
        # reads its own copy of the valid/first/last flags, taken from a per-row
        # copy of the shared flags (three register-to-register hops), so no flag
        # register drives thousands of accumulator bits, or even every MAC, across the chip, and
        # no gate is shared between MACs (a shared AND of valid and last would sit anywhere).
        vl, ll = v[L - 2], last[L - 2]
        drain = Signal()
        m.d.comb += drain.eq(self.o.valid & self.o.ready)
        last_row = Signal()
        m.d.comb += last_row.eq(row == R - 1)
        for r in range(R):
            # hop 1: per-row copies of the shared flags (valid and last already ANDed)
            vh = Signal(name=f"v_hop_{r}", attrs=KEEP)
            fh = Signal(name=f"first_hop_{r}", attrs=KEEP, reset_less=True)
            lh = Signal(name=f"last_hop_{r}", attrs=KEEP)
            m.d.sync += [vh.eq(v[L - 5]), fh.eq(first[L - 5]), lh.eq(v[L - 5] & last[L - 5])]
            for c in range(C):
                # hops 2 and 3: the MAC's own flags, with a copy on the way from the row's
                vm = Signal(name=f"v_mid_{r}_{c}", attrs=KEEP)
                fm = Signal(name=f"first_mid_{r}_{c}", attrs=KEEP, reset_less=True)
                lm = Signal(name=f"last_mid_{r}_{c}", attrs=KEEP)
                vc = Signal(name=f"v_{r}_{c}", attrs=KEEP)
                fc = Signal(name=f"first_{r}_{c}", attrs=KEEP, reset_less=True)
                lc = Signal(name=f"last_{r}_{c}", attrs=KEEP)
                m.d.sync += [vm.eq(vh), fm.eq(fh), lm.eq(lh), vc.eq(vm), fc.eq(fm), lc.eq(lm)]
                total = Signal(signed(A), name=f"sum_{r}_{c}")
                m.d.comb += total.eq(prod[r][c] + Mux(fc, 0, acc[r][c]))
                with m.If(vc):
                    m.d.sync += acc[r][c].eq(total)
                with m.If(lc):
                    m.d.sync += shadow[r][c].eq(total)
                if r < R - 1:
                    # drain: rows shift up as they leave. The shift needs no o.valid: while o is
                    # not valid the shadow buffer holds no row yet to leave, and a load (lc) wins.
                    with m.Elif(self.o.ready):
                        m.d.sync += shadow[r][c].eq(shadow[r + 1][c])
        with m.If(vl & ll):
            m.d.sync += [self.o.valid.eq(1), row.eq(0)]

        # Drain: row 0 of the shadow buffer is always the output.
        m.d.comb += self.o.payload.row.eq(row)
        for c in range(C):
            m.d.comb += self.o.payload.acc[c].eq(shadow[0][c])
        with m.If(drain):
            m.d.sync += row.eq(row + 1)
            with m.If(last_row):
                m.d.sync += [self.o.valid.eq(0), row.eq(0), busy.eq(0)]
        with m.If(accept & self.i.payload.last):
            m.d.sync += busy.eq(1)

        # Diagnostic: a wide operand beyond the hard multiplier.
        wide_out = Signal()
        if self.split:  # checked on the input register, off the handshake path, one register per column
            top = [in_w[0][c][self.dsp_width - 1:] for c in range(C)]
            col_out = Signal(C)
            m.d.sync += col_out.eq(Mux(v[0], Cat(*[t.any() & ~t.all() for t in top]), 0))
            m.d.comb += wide_out.eq(col_out.any())
        wide_out_r = Signal()
        m.d.sync += wide_out_r.eq(wide_out)
        with m.If(wide_out_r):
            m.d.sync += self.overflow.eq(1)
        with m.Elif(self.clear):
            m.d.sync += self.overflow.eq(0)
        return m

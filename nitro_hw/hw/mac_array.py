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

#: Operand widths of the target hard multiplier (ECP5 MULT18X18D, iCE40/Xilinx similar).
MULTIPLIER_OPERAND_WIDTH = 18


def _wide_chunks(wide_width: int) -> list[tuple[int, int, bool]]:
    """Split a ``signed(wide_width)`` operand into ``(offset, width, signed)`` chunks.

    Every chunk fits a signed 18-bit multiplier input: low chunks are unsigned 17-bit
    slices, the top chunk keeps the sign.
    """
    chunks, offset = [], 0
    low = MULTIPLIER_OPERAND_WIDTH - 1
    while wide_width - offset > MULTIPLIER_OPERAND_WIDTH:
        chunks.append((offset, low, False))
        offset += low
    chunks.append((offset, wide_width - offset, True))
    return chunks


class MacArray(wiring.Component):
    """``rows x cols`` output-stationary array of ``narrow x wide`` MACs, wrapping accumulators.

    Each accepted ``i`` beat is one k-step: ``acc[r][c] = narrow[r] * wide[c]`` when
    ``first`` is set, else ``acc[r][c] + narrow[r] * wide[c]``, modulo ``2**acc_width``
    (two's complement). A beat with ``last`` set ends the tile: the updated
    accumulators move to a shadow buffer, and ``o`` delivers them row by row (``rows``
    beats, ``row`` = 0, 1, ...) while the next tile accumulates. A tile must start with
    ``first`` (a beat without ``first`` after ``last`` keeps accumulating onto the
    finished tile); ``first`` and ``last`` may both be set (a one-step tile).

    Throughput: one k-step per cycle. The input stalls only when a ``last`` beat reaches
    the accumulators while the previous tile is still draining, so with ``o.ready``
    high a stream of tiles of ``K >= rows`` k-steps never stalls (a tile every ``K``
    cycles); tiles with ``K < rows`` are limited to one tile per ``rows`` cycles (the
    ``last`` beat waits, and with it the whole pipeline, until the shadow buffer is free).
    ``i.ready`` depends combinationally on ``o.ready`` (the shadow buffer can take a new
    tile in the cycle its last row leaves).

    Pipeline: input register, product register, accumulators (3 stages); the first
    output row is valid :attr:`latency` cycles after the ``last`` beat was accepted.

    Products: the wide operand is split into slices that fit an 18x18 signed hard
    multiplier (:attr:`multipliers_per_mac`): one for ``wide_width <= 18``, two for
    ``wide_width = 32`` (yosys ``synth_ecp5`` maps a 2x2 array to 4 and 8 MULT18X18D
    respectively). The product register keeps the exact ``narrow_width +
    wide_width``-bit product so the overflow diagnostic can see a wrap; the
    accumulators keep ``acc_width`` bits.

    Overflow diagnostic: ``overflow`` is set (and stays set until ``clear``) when an
    accumulator update wraps, i.e. the exact integer ``product`` (on ``first``) or
    ``acc + product`` (``acc`` being the stored, wrapped value) lies outside the signed
    ``acc_width`` range. While it stays clear every result equals the exact integer sum;
    once set, some partial sum wrapped (the final sum may still be in range). ``clear``
    resets it in the cycle it is high unless an update wraps in that same cycle.

    Parameters
    ----------
    rows, cols : int
        Array size (1 to 64 each).
    narrow_width : int
        Width of the signed narrow operand (2 to 18; 8 for int8).
    wide_width : int
        Width of the signed wide operand (2 to ``acc_width``; 32 is exact for every int32
        weight, up to 18 fits one hard multiplier per MAC).
    acc_width : int
        Accumulator width (2 to 64); accumulation wraps modulo ``2**acc_width``.

    Attributes
    ----------
    i : In(stream.Signature(StructLayout({"narrow": ArrayLayout(signed(narrow_width), rows), "wide": ArrayLayout(signed(wide_width), cols), "first": 1, "last": 1})))
        k-steps.
    o : Out(stream.Signature(StructLayout({"row": unsigned(row_bits), "acc": ArrayLayout(signed(acc_width), cols)})))
        Finished tiles, row by row.
    overflow : Out(1)
        Sticky wrap diagnostic (see above).
    clear : In(1)
        Clears ``overflow``.
    """  # noqa: E501

    def __init__(self, rows: int = 8, cols: int = 8, narrow_width: int = 8, wide_width: int = 32,
                 acc_width: int = 32):
        for name, value, lo, hi in [("rows", rows, 1, 64), ("cols", cols, 1, 64),
                                    ("narrow_width", narrow_width, 2, MULTIPLIER_OPERAND_WIDTH),
                                    ("wide_width", wide_width, 2, 64), ("acc_width", acc_width, 2, 64)]:
            if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
                raise ValueError(f"MacArray: {name} must be an int in [{lo}, {hi}], got {value!r}")
        self.rows, self.cols = rows, cols
        self.narrow_width, self.wide_width, self.acc_width = narrow_width, wide_width, acc_width
        if wide_width > acc_width:
            raise ValueError(f"MacArray: wide_width ({wide_width}) must not exceed acc_width ({acc_width})")
        self.row_bits = max(1, (rows - 1).bit_length())
        self.chunks = _wide_chunks(wide_width)
        self.product_width = narrow_width + wide_width  # exact product
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
        return 3

    @property
    def multipliers_per_mac(self) -> int:
        """Hard 18x18 signed multipliers one MAC needs at these widths."""
        return len(self.chunks)

    @property
    def multipliers(self) -> int:
        """Hard 18x18 multipliers of the whole array."""
        return self.rows * self.cols * self.multipliers_per_mac

    def elaborate(self, platform):
        m = Module()
        R, C, A = self.rows, self.cols, self.acc_width

        # Stage 1: input register.
        v1 = Signal()
        in1 = Signal(self.i.payload.shape())
        # Stage 2: product register.
        v2 = Signal()
        first2 = Signal()
        last2 = Signal()
        prod = [[Signal(signed(self.product_width), name=f"prod_{r}_{c}") for c in range(C)]
                for r in range(R)]
        # Stage 3: accumulators and the draining shadow buffer.
        acc = [[Signal(signed(A), name=f"acc_{r}_{c}") for c in range(C)] for r in range(R)]
        shadow = [[Signal(signed(A), name=f"shadow_{r}_{c}") for c in range(C)] for r in range(R)]
        row = Signal(unsigned(self.row_bits))

        # The shadow buffer can take a tile at this edge if it is empty or its last row leaves now.
        shadow_free = Signal()
        m.d.comb += shadow_free.eq(~self.o.valid | (self.o.ready & (row == R - 1)))
        advance = Signal()
        m.d.comb += advance.eq(~(v2 & last2) | shadow_free)
        m.d.comb += self.i.ready.eq(advance)

        # Drain: row 0 of the shadow buffer is always the output; rows shift up as they leave.
        m.d.comb += self.o.payload.row.eq(row)
        for c in range(C):
            m.d.comb += self.o.payload.acc[c].eq(shadow[0][c])
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += row.eq(row + 1)
            for r in range(R - 1):
                for c in range(C):
                    m.d.sync += shadow[r][c].eq(shadow[r + 1][c])
            with m.If(row == R - 1):
                m.d.sync += [self.o.valid.eq(0), row.eq(0)]

        wrapped = Signal()
        with m.If(advance):
            m.d.sync += v1.eq(self.i.valid)
            with m.If(self.i.valid):
                m.d.sync += in1.eq(self.i.payload)

            m.d.sync += v2.eq(v1)
            with m.If(v1):
                m.d.sync += [first2.eq(in1.first), last2.eq(in1.last)]
                for r in range(R):
                    a = in1.narrow[r]
                    for c in range(C):
                        w = in1.wide[c]
                        terms = []
                        for off, width, is_signed in self.chunks:
                            piece = w[off:off + width]
                            piece = piece.as_signed() if is_signed else piece
                            terms.append((a * piece) << off)
                        total = terms[0]
                        for t in terms[1:]:
                            total = total + t
                        m.d.sync += prod[r][c].eq(total)

            with m.If(v2):
                wraps = []
                for r in range(R):
                    for c in range(C):
                        exact = Signal(signed(max(A, self.product_width) + 1), name=f"exact_{r}_{c}")
                        m.d.comb += exact.eq(prod[r][c] + Mux(first2, 0, acc[r][c]))
                        m.d.sync += acc[r][c].eq(exact[:A])
                        top = exact[A - 1:]  # in range iff these bits are all equal
                        wraps.append(top.any() & ~top.all())
                        with m.If(last2):
                            m.d.sync += shadow[r][c].eq(exact[:A])
                m.d.comb += wrapped.eq(Cat(*wraps).any())
                with m.If(last2):
                    m.d.sync += [self.o.valid.eq(1), row.eq(0)]

        with m.If(wrapped):
            m.d.sync += self.overflow.eq(1)
        with m.Elif(self.clear):
            m.d.sync += self.overflow.eq(0)
        return m

"""NITRO-ReLU forward and backward as streaming units (spec §2.4, §10.1).

Forward: ``h = (s if s >= 0 else tdiv(s, alpha)) - c(alpha)`` with the region code of
``s`` that the backward pass needs. Backward: ``tdiv(delta, ginv(s))`` selected by the
region code. ``alpha`` is a compile-time constant, so a division by a non-power-of-two
``alpha`` is a multiplication by a reciprocal computed at elaboration (see
:func:`const_division`, whose exactness is proved in its docstring and tested).
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

#: Inverse negative slopes the reference accepts, with the mean correction c(alpha) (spec §2.4).
RELU_OFFSET: dict[int, int] = {3: 31, 4: 36, 5: 38, 7: 40, 8: 42, 10: 43, 15: 44, 16: 44, 20: 45}

REGION_NEG = 0   #: -127 <= s < 0: backward is tdiv(delta, alpha)
REGION_PASS = 1  #: 0 <= s < 127: backward passes delta
REGION_SAT = 2   #: s == 127 (or -128): tdiv(delta, 2**31 - 1), 0 unless |delta| >= 2**31 - 1

SAT_INVERSE_SLOPE = 2**31 - 1  # ginv(s) of the saturated region in the reference


def _check_alpha(alpha) -> int:
    if not isinstance(alpha, int) or isinstance(alpha, bool) or alpha not in RELU_OFFSET:
        raise ValueError(f"alpha must be one of {sorted(RELU_OFFSET)}, got {alpha!r}")
    return alpha


@dataclass(frozen=True)
class ConstDivision:
    """``floor(n / divisor) == (n * multiplier) >> shift`` for every ``0 <= n <= max_dividend``.

    ``multiplier == 1`` with a pure ``shift`` when the divisor is a power of two.
    """

    divisor: int
    max_dividend: int
    multiplier: int
    shift: int

    def apply(self, n: int) -> int:
        """The quotient the hardware computes for a non-negative ``n``."""
        return (n * self.multiplier) >> self.shift


def const_division(divisor: int, max_dividend: int) -> ConstDivision:
    """Multiplier and shift for an exact unsigned division by a constant.

    Parameters
    ----------
    divisor : int
        Positive constant divisor ``d``.
    max_dividend : int
        Largest dividend ``N`` the result must be exact for (``2**31`` covers the
        magnitude of every int32).

    Returns
    -------
    ConstDivision

    Notes
    -----
    Proof. Let ``m = ceil(2**s / d)`` and ``e = m*d - 2**s``, so ``0 <= e < d``. For
    ``n = q*d + r`` with ``0 <= r < d``: ``n*m / 2**s = n/d + n*e/(d*2**s) = q + (r + n*e/2**s)/d``.
    The fraction ``(r + n*e/2**s)/d`` lies in ``[0, 1)`` whenever ``n*e < 2**s`` (since
    ``r <= d - 1``), so ``floor(n*m / 2**s) == q``. The function picks the smallest
    ``s >= ceil(log2 d)`` with ``N*e < 2**s``, which then holds for every ``n <= N``.
    """
    if not isinstance(divisor, int) or divisor <= 0:
        raise ValueError(f"divisor must be a positive int, got {divisor!r}")
    if not isinstance(max_dividend, int) or max_dividend < 0:
        raise ValueError(f"max_dividend must be a non-negative int, got {max_dividend!r}")
    if divisor & (divisor - 1) == 0:
        return ConstDivision(divisor, max_dividend, 1, divisor.bit_length() - 1)
    s = (divisor - 1).bit_length()
    while True:
        m = -(-(1 << s) // divisor)
        if max_dividend * (m * divisor - (1 << s)) < (1 << s):
            return ConstDivision(divisor, max_dividend, m, s)
        s += 1


def magnitude_quotient(mag, div: ConstDivision):
    """``floor(mag / div.divisor)`` of an unsigned ``mag <= div.max_dividend`` (an expression)."""
    return (mag * Const(div.multiplier, unsigned(max(1, div.multiplier.bit_length())))) >> div.shift


def tdiv_const(m: Module, value, width: int, div: ConstDivision) -> Signal:
    """Combinational ``tdiv(value, div.divisor)`` of a ``signed(width)`` value.

    ``div.max_dividend`` must be at least ``2**(width - 1)`` (the largest magnitude).
    The magnitude is divided and the sign restored: truncation toward zero. A power-of-two
    divisor is a biased arithmetic shift instead (``(value + (divisor - 1 if value < 0 else
    0)) >> shift``), the same integers with one adder.
    """
    if div.max_dividend < (1 << (width - 1)):
        raise ValueError(f"division exact only up to {div.max_dividend}, need 2**{width - 1}")
    res = Signal(signed(width), name="tdiv_res")
    if div.multiplier == 1:
        # a power of two: an arithmetic shift floors, so negative values first add divisor - 1
        # (one carry chain instead of a magnitude and a negation)
        biased = Signal(signed(width + 1), name="tdiv_biased")
        m.d.comb += [biased.eq(value + Mux(value < 0, div.divisor - 1, 0)), res.eq(biased >> div.shift)]
        return res
    mag = Signal(unsigned(width), name="tdiv_mag")
    m.d.comb += mag.eq(Mux(value < 0, -value, value))
    quo = Signal(unsigned(width), name="tdiv_quo")
    m.d.comb += quo.eq(magnitude_quotient(mag, div))
    m.d.comb += res.eq(Mux(value < 0, -quo, quo))
    return res


class NitroRelu(wiring.Component):
    """NITRO-ReLU forward: ``h = clamp(s, 0, 127) + tdiv(clamp(s, -127, 0), alpha) - c(alpha)``.

    Also emits the region code of ``s`` for the backward pass.

    Parameters
    ----------
    alpha : int
        Inverse negative slope, one of 3, 4, 5, 7, 8, 10, 15, 16, 20 (default 4).

    Attributes
    ----------
    i : In(stream.Signature(signed(8)))
        NITRO-Scaling outputs ``s`` (in ``[-127, 127]``). ``-128`` never comes out of
        NITRO-Scaling; it is handled as the reference would: ``h`` as for ``-127``
        (the formal definition clamps to ``[-127, 127]``) and ``REGION_SAT`` (the
        reference's ``ginv`` is ``2**31 - 1`` for ``s < -127``).
    o : Out(stream.Signature(StructLayout({"h": signed(8), "region": unsigned(2)})))
        ``h`` and the region code (:data:`REGION_NEG`, :data:`REGION_PASS`,
        :data:`REGION_SAT`), in input order, :attr:`latency` cycles after acceptance
        when ``o.ready`` stays high. One result per cycle.
    """

    def __init__(self, alpha: int = 4):
        self.alpha = _check_alpha(alpha)
        self.offset = RELU_OFFSET[alpha]
        self.division = const_division(alpha, 128)
        super().__init__({
            "i": In(stream.Signature(signed(8))),
            "o": Out(stream.Signature(data.StructLayout({"h": signed(8), "region": unsigned(2)}))),
        })

    @property
    def latency(self) -> int:
        """Cycles from an accepted input to its output (with ``o.ready`` high).

        Three stages: the input register (the unit's input comes from a scaling lane, which
        sits by its hard multiplier), the negative side's quotient and the region code, then
        both sides minus the mean correction and the select.
        """
        return 3

    def elaborate(self, platform):
        m = Module()
        en = Signal()
        m.d.comb += [en.eq(~self.o.valid | self.o.ready), self.i.ready.eq(en)]
        s = Signal(signed(8))
        valid0 = Signal()
        with m.If(en):
            m.d.sync += [valid0.eq(self.i.valid), s.eq(self.i.payload)]
        # stage 1: the magnitude quotient of the negative side and the region code
        s_neg = Signal(signed(8))  # clamp(s, -127, 0) on the negative side (spec §2.4)
        m.d.comb += s_neg.eq(Mux(s == -128, -127, s))
        mag = Signal(unsigned(8))  # |clamp(s, -127, 0)| for s < 0 (<= 127)
        m.d.comb += mag.eq(-s_neg)
        quo = Signal(unsigned(8))  # |tdiv(s, alpha)| = floor(|s| / alpha)
        m.d.comb += quo.eq(magnitude_quotient(mag, self.division))
        region = Signal(unsigned(2))
        with m.If((s == 127) | (s == -128)):
            m.d.comb += region.eq(REGION_SAT)
        with m.Elif(s < 0):
            m.d.comb += region.eq(REGION_NEG)
        with m.Else():
            m.d.comb += region.eq(REGION_PASS)

        # stage 2: h = clamp(s, 0, 127) + tdiv(clamp(s, -127, 0), alpha) - c(alpha), both sides
        # computed in parallel (-quo - c or s - c) and selected, so each stage has one carry chain
        s1, quo1, neg1 = Signal(signed(8)), Signal(unsigned(8)), Signal()
        region1 = Signal(unsigned(2))
        valid1 = Signal()
        h_neg = Signal(signed(10))
        h_pos = Signal(signed(10))
        m.d.comb += [h_neg.eq(-self.offset - quo1), h_pos.eq(s1 - self.offset)]
        with m.If(en):
            m.d.sync += [valid1.eq(valid0), s1.eq(s), quo1.eq(quo), neg1.eq(s < 0), region1.eq(region),
                         self.o.valid.eq(valid1),
                         self.o.payload.h.eq(Mux(neg1, h_neg, h_pos)[:8]),  # int8; never wraps for s >= -128
                         self.o.payload.region.eq(region1)]
        return m


class NitroReluBackward(wiring.Component):
    """NITRO-ReLU backward: ``tdiv(delta, ginv(s))`` from the stored region code of ``s``.

    ``REGION_NEG``: ``tdiv(delta, alpha)``; ``REGION_PASS``: ``delta``; ``REGION_SAT``
    (and the unused code 3): ``tdiv(delta, 2**31 - 1)``, which is 0 except ``±1`` for
    ``|delta| >= 2**31 - 1`` (spec §2.4: the reference divides by ``2**31 - 1``).

    Parameters
    ----------
    alpha : int
        Inverse negative slope, one of 3, 4, 5, 7, 8, 10, 15, 16, 20 (default 4).

    Attributes
    ----------
    i : In(stream.Signature(StructLayout({"delta": signed(32), "region": unsigned(2)})))
        Back-propagated errors with the region code of the matching forward input.
    o : Out(stream.Signature(signed(32)))
        ``delta_out``, in input order, :attr:`latency` cycles after acceptance when
        ``o.ready`` stays high. One result per cycle (two pipeline stages: the
        division by ``alpha``, then the region select).

    Notes
    -----
    A power-of-two ``alpha`` (4, 8, 16) divides with a sign-corrected shift; any other
    ``alpha`` multiplies the 32-bit magnitude by a 31/32-bit constant reciprocal
    (yosys ``synth_ecp5``: 4 MULT18X18D for ``alpha = 3``, none for ``alpha = 4``).
    """

    def __init__(self, alpha: int = 4):
        self.alpha = _check_alpha(alpha)
        self.division = const_division(alpha, 1 << 31)
        super().__init__({
            "i": In(stream.Signature(data.StructLayout({"delta": signed(32), "region": unsigned(2)}))),
            "o": Out(stream.Signature(signed(32))),
        })

    @property
    def latency(self) -> int:
        """Cycles from an accepted input to its output (with ``o.ready`` high)."""
        return 2

    def elaborate(self, platform):
        m = Module()
        delta, region = self.i.payload.delta, self.i.payload.region
        neg = tdiv_const(m, delta, 32, self.division)

        # Stage 1: the three candidate results.
        v1 = Signal()
        r1 = Signal(unsigned(2))
        d1 = Signal(signed(32))
        q1 = Signal(signed(32))
        sat1 = Signal(signed(2))  # tdiv(delta, 2**31 - 1) in {-1, 0, 1}
        en = Signal()
        m.d.comb += en.eq(~self.o.valid | self.o.ready)
        m.d.comb += self.i.ready.eq(en)
        with m.If(en):
            m.d.sync += v1.eq(self.i.valid)
            with m.If(self.i.valid):
                m.d.sync += [
                    r1.eq(region), d1.eq(delta), q1.eq(neg),
                    sat1.eq(Mux(delta <= -SAT_INVERSE_SLOPE, -1, Mux(delta == SAT_INVERSE_SLOPE, 1, 0))),
                ]
            # Stage 2: select by region.
            m.d.sync += self.o.valid.eq(v1)
            with m.If(v1):
                with m.Switch(r1):
                    with m.Case(REGION_NEG):
                        m.d.sync += self.o.payload.eq(q1)
                    with m.Case(REGION_PASS):
                        m.d.sync += self.o.payload.eq(d1)
                    with m.Default():
                        m.d.sync += self.o.payload.eq(sat1)
        return m

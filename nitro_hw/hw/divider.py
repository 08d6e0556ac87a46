"""Exact truncating division by a runtime-loadable positive constant.

The divisors of NITRO-D (``256·fan_in``, ``lr_inv·amp``, ``decay_inv``; spec §2.3, §4.1,
§10.1) are known before a training step starts. :func:`reciprocal` computes, in Python,
a multiplier ``m`` and a shift ``s`` such that, for every signed ``dividend_bits``-bit
dividend ``a``::

    tdiv(a, d) == sign(a) * ((|a| * m) >> s)

(Granlund–Montgomery, "Division by invariant integers using multiplication", 1994;
Warren, *Hacker's Delight* ch. 10). The pair is loaded into the hardware as
configuration; the hardware only takes ``|a|``, multiplies, shifts and restores the sign.

Exactness proof
---------------
Let ``N = dividend_bits - 1``. Every signed ``dividend_bits``-bit ``a`` has
``|a| <= n_max = 2**N`` (the bound is reached by the most negative value only), and
``tdiv(a, d) = sign(a) * floor(|a| / d)`` for ``d > 0`` (spec §0).

*Lemma.* Let ``d >= 1``, ``s >= 0``, ``m = ceil(2**s / d)`` and ``e = m*d - 2**s``
(so ``0 <= e < d``). If ``e * n_max < 2**s`` then ``floor(n*m / 2**s) == floor(n / d)``
for every integer ``0 <= n <= n_max``.

*Proof.* Write ``n = q*d + r`` with ``0 <= r <= d - 1``. Then
``n*m / 2**s = n*(2**s + e) / (d * 2**s) = q + (r + n*e / 2**s) / d``.
The fraction is ``>= 0``, and because ``n*e <= n_max*e < 2**s`` it is
``< (d - 1 + 1) / d = 1``. So the floor is ``q``. ∎

*Existence and sizes.* Let ``l = ceil(log2 d)`` (``2**(l-1) < d <= 2**l``, ``l = 0``
for ``d = 1``) and ``s0 = N + l``. Then ``e < d <= 2**l`` gives
``e * 2**N < 2**(N+l) = 2**s0``: the condition holds at ``s0``. The condition is
monotone in ``s``: ``m(s+1) <= 2*m(s)``, hence ``e(s+1) <= 2*e(s)`` and
``e(s+1)*n_max < 2**(s+1)``. :func:`reciprocal` returns the *smallest* ``s`` that
satisfies it, so ``s <= s0 <= 2N + 1`` and ``m(s) <= m(s0)``. For ``d >= 2``,
``m(s0) = ceil(2**(N+l) / d) < 2**(N+1)`` because ``d > 2**(l-1)``; equality
``m(s0) = 2**(N+1)`` would need ``d < 2**(l-1) + 2**(l-1) / (2**(N+1) - 1)``, i.e.
``d <= 2**(l-1)`` when ``l <= N + 1``, a contradiction. For ``d = 1``, ``m = 1``,
``s = 0``. So for every divisor ``1 <= d <= 2**dividend_bits - 1``:

* ``m < 2**dividend_bits`` (:data:`MULTIPLIER_WIDTH` = 32 unsigned bits for 32-bit
  dividends) and ``s <= 2*dividend_bits - 1`` (a 6-bit shift for 32-bit dividends);
* ``|a| * m < 2**N * 2**(N+1) = 2**(2N+1)``: the product fits ``2*dividend_bits``
  unsigned bits (and, for 32-bit dividends, a NumPy ``int64``);
* ``q = floor(|a| / d) <= 2**N``, and ``q = 2**N`` only for ``a = -2**N``, so
  ``sign(a) * q`` always fits the signed dividend width (no overflow, not even for
  ``tdiv(INT32_MIN, 1)``).

Divisors larger than ``n_max`` give quotient 0 for every dividend; :func:`divider_constants`
maps any divisor of that size, including ones too wide for :func:`reciprocal`, to
``multiplier = 0, shift = 0``, which the same hardware evaluates to 0.

Hardware cost
-------------
A ``width``-bit divider multiplies the unsigned ``width``-bit ``|a|`` (``<= 2**(width-1)``)
by the unsigned ``width``-bit multiplier: for ``width = 32`` a 32 x 32 -> 64-bit unsigned
product. Split into 16-bit unsigned slices (at most 17 bits, so each fits an 18x18
signed multiplier) that is 2 x 2 = **4** 18x18 DSP multipliers (ECP5 MULT18X18D); a
16-bit divider (16 x 16) needs **1**. :func:`add_quotient_stages` gives every DSP its own
operand registers and a register after its product register (so the hard multiplier may sit
far from the rest of the unit), sums the partial products in two register stages (one
two-input adder each), and splits the barrel shifter over the second sum stage and a stage of
its own (shifts by a multiple of 8, then by 0-7), so no stage holds more than one DSP or one
carry chain plus a little logic.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

from amaranth.hdl import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from . import KEEP
from .hard_multiplier import registered_product

__all__ = [
    "MULTIPLIER_WIDTH",
    "QUOTIENT_STAGES",
    "Reciprocal",
    "TruncatingDivider",
    "add_quotient_stages",
    "add_valid_chain",
    "divider_constants",
    "dsp18_count",
    "max_divisor",
    "reciprocal",
    "shift_width",
]

#: Width (unsigned bits) of the multiplier of a reciprocal for 32-bit dividends.
MULTIPLIER_WIDTH = 32


@dataclass(frozen=True)
class Reciprocal:
    """Multiplier and shift that divide every signed dividend of a width by ``divisor``.

    Attributes
    ----------
    divisor : int
        The positive divisor ``d``.
    multiplier : int
        ``m = ceil(2**shift / d)``, unsigned, ``< 2**dividend_bits``.
    shift : int
        ``s``, ``0 <= s <= 2*dividend_bits - 1``.
    dividend_bits : int
        Width of the signed dividends the pair is exact for.
    """

    divisor: int
    multiplier: int
    shift: int
    dividend_bits: int = 32

    def divide(self, a):
        """``sign(a) * ((|a| * multiplier) >> shift)``: what the hardware computes.

        Parameters
        ----------
        a : int or array_like of int
            Signed dividends of ``dividend_bits`` bits. Arrays are evaluated in int64
            (exact for ``dividend_bits <= 32``, see the module docstring).

        Returns
        -------
        int or numpy.ndarray of int64
        """
        if isinstance(a, int):
            q = (abs(a) * self.multiplier) >> self.shift
            return -q if a < 0 else q
        import numpy as np

        if self.dividend_bits > 32:
            raise ValueError("Reciprocal.divide: arrays need dividend_bits <= 32 (int64 product)")
        a = np.asarray(a, dtype=np.int64)
        q = (np.abs(a) * np.int64(self.multiplier)) >> np.int64(self.shift)
        return np.where(a < 0, -q, q)


def _check_bits(dividend_bits: int, who: str) -> None:
    if not isinstance(dividend_bits, int) or isinstance(dividend_bits, bool) or not 2 <= dividend_bits <= 64:
        raise ValueError(f"{who}: dividend_bits must be an int in [2, 64], got {dividend_bits!r}")


def max_divisor(dividend_bits: int = 32) -> int:
    """Largest divisor :func:`reciprocal` accepts: ``2**dividend_bits - 1``."""
    _check_bits(dividend_bits, "max_divisor")
    return (1 << dividend_bits) - 1


def shift_width(dividend_bits: int = 32) -> int:
    """Bits of the shift configuration port (shifts up to ``2*dividend_bits - 1``)."""
    _check_bits(dividend_bits, "shift_width")
    return (2 * dividend_bits - 1).bit_length()


def reciprocal(d: int, dividend_bits: int = 32) -> Reciprocal:
    """The exact reciprocal of ``d`` for every signed ``dividend_bits``-bit dividend.

    Returns the smallest shift ``s`` (and ``m = ceil(2**s / d)``) that satisfies the
    exactness condition ``(m*d - 2**s) * 2**(dividend_bits-1) < 2**s`` proved in the
    module docstring, and re-checks the result on the boundary dividends.

    Parameters
    ----------
    d : int
        Divisor, ``1 <= d <= 2**dividend_bits - 1``.
    dividend_bits : int
        Width of the signed dividends (default 32).

    Returns
    -------
    Reciprocal

    Raises
    ------
    ValueError
        If ``d`` is not a positive int or is larger than ``2**dividend_bits - 1``.
    """
    _check_bits(dividend_bits, "reciprocal")
    if isinstance(d, bool) or not hasattr(d, "__index__"):
        raise ValueError(f"reciprocal: divisor d must be an int, got {d!r}")
    d = operator.index(d)
    if d <= 0:
        raise ValueError(f"reciprocal: divisor d must be positive, got {d}")
    if d > max_divisor(dividend_bits):
        raise ValueError(f"reciprocal: divisor d={d} is larger than 2**{dividend_bits} - 1; "
                         f"use divider_constants() (the quotient is then always 0)")
    n_max = 1 << (dividend_bits - 1)
    for s in range(2 * dividend_bits):
        m = -((-1 << s) // d)  # ceil(2**s / d)
        if (m * d - (1 << s)) * n_max < (1 << s):
            break
    else:  # pragma: no cover - impossible by the existence argument
        raise AssertionError(f"reciprocal: no shift found for d={d}")
    if m >= 1 << dividend_bits:  # pragma: no cover - excluded by the proof
        raise AssertionError(f"reciprocal: multiplier {m} for d={d} exceeds {dividend_bits} bits")
    r = Reciprocal(divisor=d, multiplier=m, shift=s, dividend_bits=dividend_bits)
    k = n_max // d
    for n in {0, 1, n_max - 1, n_max, k * d - 1, k * d, min(k * d + d - 1, n_max), d - 1, d}:
        if 0 <= n <= n_max and (n * m) >> s != n // d:  # pragma: no cover - excluded by the proof
            raise AssertionError(f"reciprocal: d={d} is not exact at |a|={n}")
    return r


def divider_constants(d: int, dividend_bits: int = 32) -> tuple[int, int]:
    """``(multiplier, shift)`` to load for any positive divisor ``d``.

    Divisors above ``2**(dividend_bits-1)`` give quotient 0 for every dividend, so they
    map to ``(0, 0)`` (no upper limit on ``d``); others come from :func:`reciprocal`.

    Raises
    ------
    ValueError
        If ``d`` is not a positive int.
    """
    _check_bits(dividend_bits, "divider_constants")
    if isinstance(d, bool) or not hasattr(d, "__index__") or operator.index(d) <= 0:
        raise ValueError(f"divider_constants: divisor d must be a positive int, got {d!r}")
    d = operator.index(d)
    if d > 1 << (dividend_bits - 1):
        return 0, 0
    r = reciprocal(d, dividend_bits)
    return r.multiplier, r.shift


def dsp18_count(a_bits: int, b_bits: int) -> int:
    """18x18 signed DSP blocks for an unsigned ``a_bits`` x ``b_bits`` product (17-bit slices)."""
    return -(-a_bits // 17) * -(-b_bits // 17)


#: Register stages of :func:`add_quotient_stages` (``|a|``; the DSP operand copies; the partial
#: products; their copies; two sum levels, the second with the shift by a multiple of 8; the rest
#: of the shift).
QUOTIENT_STAGES = 7



def _slices(width: int) -> list[tuple[int, int]]:
    """``(low, high)`` bit ranges splitting ``width`` bits into at most 17-bit slices."""
    n = -(-width // 17)
    size = -(-width // n)
    return [(lo, min(lo + size, width)) for lo in range(0, width, size)]


def add_quotient_stages(m: Module, en, a, multiplier, shift, width: int, name: str, platform=None):
    """Pipeline registers computing ``floor(|a| * multiplier / 2**shift)``.

    All stages advance together when ``en`` is high; the configuration is sampled with
    the dividend and travels with it.

    1. ``|a|`` (``-(-2**(width-1)) = 2**(width-1)`` fits ``unsigned(width)``), the sign,
       ``multiplier`` and ``shift``.
    2. Each hard multiplier's own copy of its two operand slices (``<= 17`` bits of ``|a|``
       and of ``multiplier``; one 18x18 DSP per pair of slices: 2 x 2 = 4 for ``width = 32``,
       1 for ``width = 16``).
    3. The partial products, registered at the DSP output.
    4. A copy of each partial product.
    5. The sums of the partial products of each slice of ``|a|`` (one two-input adder each).
    6. Their sum, the ``2*width``-bit product, shifted right by the multiple of 8 in ``shift``
       (``width + 7`` bits kept: all that stage 7 can reach).
    7. That shifted right by the rest of ``shift`` (0 to 7), truncated to ``width`` bits: the
       quotient magnitude, ``<= 2**(width-1)`` (module docstring), so no bits are lost.
       ``floor(floor(p / 2**(8j)) / 2**r) == floor(p / 2**(8j + r))``: the barrel shifter is
       split over two stages, each an 8-way select, without a cycle more. Both select on
       per-byte copies of their bits of ``shift`` (one register drove the select of every
       bit, the placed engine's worst paths inside its SgdUpdate lanes).

    Stages 2 and 3 are :func:`~nitro_hw.hw.hard_multiplier.registered_product`: on ECP5
    (``platform``, the ``elaborate`` argument) the MULT18X18D's own input and output registers.

    Why stages 2 and 4: the hard multipliers sit in a few rows of DSP sites, often far from
    the logic around them (an engine fills most of the sites). With a register on each side
    that connects only to its DSP, the multiplier's combinational delay is a short path, and
    the distance to the rest of the unit is covered by register-to-register hops
    (``keep`` copies: lanes that share ``|a|`` or the configuration must not share them).

    Returns
    -------
    (q, neg)
        Stage-7 registers: ``q`` (unsigned(width), the quotient magnitude) and ``neg``
        (the dividend was negative).
    """
    # keep: lanes compute equal configurations (and a Scaler beside an SgdUpdate the same |a|)
    mag1 = Signal(unsigned(width), name=f"{name}_mag", attrs=KEEP)
    mult1 = Signal(unsigned(width), name=f"{name}_mult", attrs=KEEP)
    slices = _slices(width)
    pairs = [(i, j) for i in range(len(slices)) for j in range(len(slices))]
    # stages 2 and 3: operand registers and product register of each hard multiplier
    product = {(i, j): registered_product(m, platform, mag1[slices[i][0]:slices[i][1]],
                                          mult1[slices[j][0]:slices[j][1]], name=f"{name}_m{i}{j}", en=en)
               for i, j in pairs}
    partial = {(i, j): Signal(unsigned(len(product[i, j])), name=f"{name}_pp{i}{j}", attrs=KEEP)
               for i, j in pairs}
    rows = {i: Signal(unsigned(2 * width), name=f"{name}_row{i}") for i in range(len(slices))}
    prod = Signal(unsigned(width + 7), name=f"{name}_prod")  # the sum shifted by 8 * (shift // 8)
    q = Signal(unsigned(width), name=f"{name}_q")
    neg = [Signal(name=f"{name}_neg{k}") for k in range(1, QUOTIENT_STAGES + 1)]
    # the shift amount too: one chain per unit keeps the shifter's select local (a merged chain
    # would drive the shifters of all lanes across the die); it ends one stage before the
    # shifts, which select on copies of its bits (below)
    sh = [Signal(shift.shape(), name=f"{name}_shift{k}", attrs=KEEP) for k in range(1, QUOTIENT_STAGES - 1)]
    # the two shifts select on per-byte copies of their bits of the shift (keep), loaded one
    # stage ahead. Each is a logarithmic shifter written out, so the copies split its selects
    # without splitting the shifter (a shifter per byte cost a third more LUTs). Combinational,
    # outside the enable: only the registers below wait for it.
    total = Signal(unsigned(2 * width), name=f"{name}_total")
    m.d.comb += total.eq(sum(rows.values()))
    hi_sels = [Signal(max(len(shift) - 3, 0), name=f"{name}_sel_hi{b}", attrs=KEEP)
               for b in range(-(-len(prod) // 8))]
    lo_sels = [Signal(3, name=f"{name}_sel_lo{b}", attrs=KEEP) for b in range(-(-len(q) // 8))]
    shifted_hi = _log_shift_right(m, total, hi_sels, 8, f"{name}_shift_hi")
    shifted_lo = _log_shift_right(m, prod, lo_sels, 1, f"{name}_shift_lo")
    with m.If(en):
        m.d.sync += [
            mag1.eq(Mux(a < 0, -a, a)),
            mult1.eq(multiplier),
            neg[0].eq(a < 0),
            sh[0].eq(shift),
            *(neg[k].eq(neg[k - 1]) for k in range(1, QUOTIENT_STAGES)),
            *(sh[k].eq(sh[k - 1]) for k in range(1, QUOTIENT_STAGES - 2)),
        ]
        m.d.sync += [partial[i, j].eq(product[i, j]) for i, j in pairs]
        for i, row in rows.items():
            terms = [partial[i, j] << (slices[i][0] + slices[j][0]) for j in range(len(slices))]
            m.d.sync += row.eq(sum(terms))
        m.d.sync += [*(c.eq(sh[-2][3:]) for c in hi_sels), *(c.eq(sh[-1][:3]) for c in lo_sels),
                     prod.eq(shifted_hi), q.eq(shifted_lo)]
    return q, neg[-1]


def _log_shift_right(m: Module, value, sels: list, step: int, name: str) -> Signal:
    """``value >> (step * sel)`` as a logarithmic shifter whose bit ``j`` selects on ``sels[j // 8]``.

    Every ``sels[b]`` holds the same amount (copies, one per byte of the result); the bits
    beyond the last byte of ``sels`` use the last copy. Each level is a signal of its own.
    """
    x = value
    for i in range(len(sels[0])):
        d = step << i
        level = Signal(len(value), name=f"{name}{i}")
        m.d.comb += level.eq(Cat(*(Mux(sels[min(j // 8, len(sels) - 1)][i], x[j + d] if j + d < len(x) else 0,
                                       x[j]) for j in range(len(x)))))
        x = level
    return x


def add_valid_chain(m: Module, en, valid_in, stages: int, valid_out) -> list[Signal]:
    """Delay ``valid_in`` through ``stages`` registers ending in ``valid_out`` (advancing on ``en``).

    Returns the intermediate valid registers (stage 1 .. ``stages - 1``).
    """
    chain = [Signal(name=f"valid{k}") for k in range(1, stages)]
    taps = [valid_in, *chain, valid_out]
    with m.If(en):
        m.d.sync += [taps[k + 1].eq(taps[k]) for k in range(stages)]
    return chain


class TruncatingDivider(wiring.Component):
    """``tdiv(a, d)`` for a runtime constant ``d > 0``, one result per cycle.

    Load ``multiplier`` and ``shift`` from :func:`reciprocal` (``reciprocal(d, width)``)
    or :meth:`config`. The configuration is sampled together with each dividend (in the
    cycle it is accepted), so it may change between any two transfers without draining.
    The pipeline has 8 register stages (``|a|``; DSP operand copies; DSP partial products;
    their copies; two levels of their sum; shift; sign), stalls as a whole when the output is
    held (``i.ready = ~o.valid | o.ready``) and accepts one dividend per cycle while
    ``o.ready`` is high.

    Multiplier: ``width`` x ``width`` unsigned (32 x 32 -> 64 bits: 4 18x18 DSPs, as four
    registered 16 x 16 partial products).

    Parameters
    ----------
    width : int
        Width of the signed dividend and quotient, in ``[2, 64]`` (default 32).

    Attributes
    ----------
    i : In(stream.Signature(signed(width)))
        Dividends.
    o : Out(stream.Signature(signed(width)))
        Quotients truncated toward zero, in order, :attr:`latency` cycles after
        acceptance while ``o.ready`` is high.
    multiplier : In(unsigned(width))
        Reciprocal multiplier.
    shift : In(unsigned(shift_width(width)))
        Reciprocal shift.
    """

    def __init__(self, width: int = 32):
        if not isinstance(width, int) or isinstance(width, bool) or not 2 <= width <= 64:
            raise ValueError(f"TruncatingDivider: width must be an int in [2, 64], got {width!r}")
        self.width = width
        super().__init__({
            "i": In(stream.Signature(signed(width))),
            "o": Out(stream.Signature(signed(width))),
            "multiplier": In(unsigned(width)),
            "shift": In(unsigned(shift_width(width))),
        })

    @property
    def latency(self) -> int:
        """Cycles from an accepted dividend to its quotient (with ``o.ready`` high)."""
        return QUOTIENT_STAGES + 1

    @property
    def dsp18(self) -> int:
        """18x18 DSP multipliers of the datapath."""
        return dsp18_count(self.width, self.width)

    def config(self, divisor: int) -> dict[str, int]:
        """Port values ``{"multiplier", "shift"}`` that divide by ``divisor`` (any ``> 0``)."""
        mult, sh = divider_constants(divisor, self.width)
        return {"multiplier": mult, "shift": sh}

    def elaborate(self, platform):
        m = Module()
        en = Signal()
        m.d.comb += [en.eq(~self.o.valid | self.o.ready), self.i.ready.eq(en)]
        q, neg = add_quotient_stages(m, en, self.i.payload, self.multiplier, self.shift,
                                     self.width, "div", platform)
        add_valid_chain(m, en, self.i.valid, self.latency, self.o.valid)
        with m.If(en):
            m.d.sync += self.o.payload.eq(Mux(neg, -q, q))  # -2**(width-1) when q = 2**(width-1)
        return m

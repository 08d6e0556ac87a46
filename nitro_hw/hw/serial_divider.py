"""A reciprocal divider on one 16 x 16 multiplier: one quotient every :data:`SerialDivider.latency` cycles.

It computes what the pipelined dividers compute (:mod:`nitro_hw.hw.divider`)::

    q = sign(a) * ((|a| * multiplier) >> shift)

which, with ``(multiplier, shift)`` from :func:`~nitro_hw.hw.divider.divider_constants`,
is ``tdiv(a, d)`` exactly for every int32 ``a``. The serial engine has one of these for all
of its divisions (NITRO-Scaling, NITRO-ReLU forward and backward, IntegerSGD): a few hundred
logic cells and one SB_MAC16 instead of a pipelined lane.

Schedule (fixed, independent of the operands, so the engine's cycle count is too): the
cycle ``start`` is high latches ``|a|``, the sign, the multiplier and the shift; four cycles
issue the partial products ``|a|[16i:] x multiplier[16j:]`` to a 16 x 16 multiplier with
registered operands and product (:func:`~nitro_hw.hw.hard_multiplier.registered_product`: an
SB_MAC16 with its registers inside on iCE40, a MULT18X18D on ECP5) and the 64-bit product
accumulates them two cycles behind; seven cycles shift it right by 8 while the shift's byte
count lasts, seven more by 1 for its remaining bits; the last applies the sign. ``q`` is valid
with ``done`` (high for one cycle).
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .hard_multiplier import registered_product

__all__ = ["SerialDivider"]

_MUL_STEPS = 4      # partial products
_PRODUCT_LATENCY = 2  # operand and product registers of the multiplier
_BYTE_STEPS = 7     # shifts by 8 (shift < 64)
_BIT_STEPS = 7      # shifts by 1


class SerialDivider(wiring.Component):
    """``q = sign(a) * ((|a| * multiplier) >> shift)`` for a signed 32-bit ``a``.

    ``multiplier <= 2**shift``, as for every reciprocal, so ``|q| <= |a|`` fits ``q``.

    Attributes
    ----------
    start : In(1)
        Take ``a``, ``multiplier`` and ``shift`` (ignored while ``busy``).
    a : In(signed(32))
    multiplier : In(32)
    shift : In(6)
    busy : Out(1)
    done : Out(1)
        ``q`` holds the quotient (one cycle; ``q`` keeps it until the next ``done``).
    q : Out(signed(32))
    """

    #: Cycles from the cycle ``start`` is taken to the cycle ``done`` is high.
    latency = 1 + _MUL_STEPS + _PRODUCT_LATENCY + _BYTE_STEPS + _BIT_STEPS + 1

    def __init__(self):
        super().__init__({"start": In(1), "a": In(signed(32)), "multiplier": In(32), "shift": In(6),
                          "busy": Out(1), "done": Out(1), "q": Out(signed(32))})

    def elaborate(self, platform):
        m = Module()
        mag = Signal(32)
        neg = Signal()
        mult = Signal(32)
        bytes_left = Signal(3)
        bits_left = Signal(3)
        acc = Signal(64)
        at_issue = Signal(2)       # weight of the partial product issued last cycle, in units of 16 bits
        prod_at = Signal(2)        # ... of the product on prod
        t = Signal(range(self.latency))
        i = Signal(2)              # partial product being issued: |a| half i[1], multiplier half i[0]

        # the multiplier samples its operands every cycle; only the issue cycles' products are used
        prod = registered_product(m, platform, Mux(i[1], mag[16:], mag[:16]), Mux(i[0], mult[16:], mult[:16]),
                                  name="pp", keep=False)
        m.d.sync += self.done.eq(0)
        with m.If(~self.busy):
            with m.If(self.start):
                m.d.sync += [mag.eq(Mux(self.a < 0, -self.a, self.a)), neg.eq(self.a < 0),
                             mult.eq(self.multiplier), bytes_left.eq(self.shift[3:]),
                             bits_left.eq(self.shift[:3]), acc.eq(0), t.eq(0), i.eq(0),
                             self.busy.eq(1)]
        with m.Else():
            m.d.sync += t.eq(t + 1)
            with m.If(t < _MUL_STEPS):
                m.d.sync += [at_issue.eq(i[0] + i[1]), i.eq(i + 1)]
            m.d.sync += prod_at.eq(at_issue)
            acc_end = _MUL_STEPS + _PRODUCT_LATENCY  # the first cycle after the last accumulation
            with m.If((t >= _PRODUCT_LATENCY) & (t < acc_end)):
                placed = Mux(prod_at == 0, prod, Mux(prod_at == 1, prod << 16, prod << 32))
                m.d.sync += acc.eq(acc + placed)
            with m.Elif((t >= acc_end) & (t < acc_end + _BYTE_STEPS)):
                with m.If(bytes_left != 0):
                    m.d.sync += [acc.eq(acc >> 8), bytes_left.eq(bytes_left - 1)]
            with m.Elif((t >= acc_end + _BYTE_STEPS) & (t < acc_end + _BYTE_STEPS + _BIT_STEPS)):
                with m.If(bits_left != 0):
                    m.d.sync += [acc.eq(acc >> 1), bits_left.eq(bits_left - 1)]
            with m.Elif(t == acc_end + _BYTE_STEPS + _BIT_STEPS):
                low = acc[:32]
                m.d.sync += [self.q.eq(Mux(neg, -low, low)), self.done.eq(1), self.busy.eq(0)]
        return m


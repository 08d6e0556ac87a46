"""IntegerSGD weight update as a streaming unit (spec §4.1)."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .divider import (
    QUOTIENT_STAGES,
    add_quotient_stages,
    add_valid_chain,
    divider_constants,
    dsp18_count,
    shift_width,
)
from .scaler import SCALING_CLIP

__all__ = ["SgdUpdate"]


class SgdUpdate(wiring.Component):
    """One IntegerSGD element update per cycle (spec §4.1, §1.3 point 4)::

        U  = wrap32(tdiv(G, A) + (tdiv(W, decay_inv) if decay_enable else 0))
        W' = wrap32(W - U)

    with ``A = lr_inv·amp``. Both divisors are runtime constants loaded as reciprocals
    (:mod:`nitro_hw.hw.divider`): ``lr_*`` from ``reciprocal(A, 32)`` (the gradient is
    32-bit) and ``decay_*`` from ``reciprocal(decay_inv, weight_width)`` (the weight is
    ``weight_width``-bit), or both from :meth:`config`, which also handles divisors
    beyond the reciprocal range (their quotient is always 0). The configuration is
    sampled together with each element, so it may change between any two transfers.

    Output and flags
    ----------------
    * ``weight_width = 32``: ``o.payload`` is ``W'`` exactly as the reference computes it
      (bit-exact, wrapping). ``overflow`` is never set.
    * ``weight_width = 16``: ``W`` is a 16-bit weight (sign-extended into the 32-bit
      arithmetic above, which is unchanged). ``o.payload`` holds the **low 16 bits of the
      32-bit** ``W'`` (two's-complement wrap to 16 bits). When ``W'`` does not fit in
      ``[-2**15, 2**15 - 1]`` the sticky ``overflow`` flag is set: the stored weight then
      differs from the reference's int32 weight, and everything computed from it is no
      longer bit-exact. While ``overflow`` stays clear, every output equals the
      reference's 32-bit ``W'``.
    * ``wrapped`` (sticky, any width) is set when either int32 wrap of spec §1.3 point 4
      changed a value (``tdiv(G, A) + tdiv(W, d)`` or ``W - U`` outside int32): the
      reference wraps silently there too, so this is a diagnostic, not an error. It is the
      per-element analogue of the golden model's ``"update"`` overflow count.
    * Both flags are set in the cycle the offending result enters the output register,
      so they are visible no later than that result. ``clear`` resets both; a new event
      in the same cycle wins over ``clear``.

    NITRO-Scaling on the same divider
    ----------------------------------
    An element accepted with ``scaling`` high is a NITRO-Scaling element instead (spec
    §2.3): ``g`` holds the pre-activation ``z`` and ``lr_*`` the reciprocal of
    ``SF = 256·fan_in`` (:meth:`Scaler.config <nitro_hw.hw.scaler.Scaler.config>`: the
    same 32-bit reciprocal). ``|z|·lr_multiplier`` runs through the gradient's divider, and
    ``s = clamp(tdiv(z, SF), -127, 127)`` leaves at ``scaled`` :attr:`scaled_latency`
    cycles after acceptance (the :class:`~nitro_hw.hw.scaler.Scaler`'s latency), not at
    ``o``; ``w`` and the decay configuration are ignored and the element never sets a
    flag. ``scaled`` is not a stream: ``scaled_valid`` is high for one cycle per element,
    the cycle it leaves its register (the pipeline advances), and there is no
    backpressure of its own. A training engine's lane never scales and updates in the
    same instruction, so one divider serves both (4 18x18 DSPs fewer per lane than a
    Scaler beside the SgdUpdate).

    Datapath (10 register stages, one element per cycle, the pipeline stalls as a whole
    while ``o`` is held): ``|G|``, ``|W|`` → DSP operand copies → DSP partial products →
    their copies → two sum levels → shifted quotient magnitudes → signed quotients (and
    ``scaled``) → ``U`` → ``W'`` and flags.
    Multipliers: 32 x 32 (``|G|·lr_multiplier``) and ``weight_width`` x ``weight_width``
    (``|W|·decay_multiplier``): 4 + 4 = 8 18x18 DSPs for ``weight_width = 32``,
    4 + 1 = 5 for ``weight_width = 16``.

    Parameters
    ----------
    weight_width : int
        16 or 32 (default 32).

    Attributes
    ----------
    i : In(stream.Signature(StructLayout({"w": signed(weight_width), "g": signed(32)})))
        Current weight ``W`` and its gradient ``G`` (``w`` in the low bits of the payload).
    o : Out(stream.Signature(signed(weight_width)))
        New weights, in order, :attr:`latency` cycles after acceptance while ``o.ready``
        is high.
    lr_multiplier : In(unsigned(32)), lr_shift : In(unsigned(6))
        Reciprocal of ``A = lr_inv·amp`` for 32-bit dividends.
    decay_multiplier : In(unsigned(weight_width)), decay_shift : In(unsigned(shift_width(weight_width)))
        Reciprocal of ``decay_inv`` for ``weight_width``-bit dividends.
    decay_enable : In(1)
        0: no decay term (``decay_inv = 0`` in the reference).
    overflow : Out(1)
        Sticky: a new weight did not fit ``weight_width`` bits (see above).
    wrapped : Out(1)
        Sticky: an int32 wrap happened at the update (diagnostic, see above).
    clear : In(1)
        Clear ``overflow`` and ``wrapped``.
    scaling : In(1)
        Sampled with each element: 1 = a NITRO-Scaling element (see above).
    scaled : Out(signed(8))
        ``clamp(tdiv(z, SF), -127, 127)`` of a scaling element.
    scaled_valid : Out(1)
        ``scaled`` holds a scaling element's result, for one cycle per element.
    """

    GRAD_WIDTH = 32

    def __init__(self, weight_width: int = 32):
        if weight_width not in (16, 32) or isinstance(weight_width, bool):
            raise ValueError(f"SgdUpdate: weight_width must be 16 or 32, got {weight_width!r}")
        self.weight_width = weight_width
        gw = self.GRAD_WIDTH
        super().__init__({
            "i": In(stream.Signature(data.StructLayout({"w": signed(weight_width), "g": signed(gw)}))),
            "o": Out(stream.Signature(signed(weight_width))),
            "lr_multiplier": In(unsigned(gw)),
            "lr_shift": In(unsigned(shift_width(gw))),
            "decay_multiplier": In(unsigned(weight_width)),
            "decay_shift": In(unsigned(shift_width(weight_width))),
            "decay_enable": In(1),
            "overflow": Out(1),
            "wrapped": Out(1),
            "clear": In(1),
            "scaling": In(1),
            "scaled": Out(signed(8)),
            "scaled_valid": Out(1),
        })

    @property
    def latency(self) -> int:
        """Cycles from an accepted ``(W, G)`` to its ``W'`` (with ``o.ready`` high)."""
        return QUOTIENT_STAGES + 3

    @property
    def scaled_latency(self) -> int:
        """Cycles from an accepted scaling element to ``scaled`` (with ``o.ready`` high)."""
        return QUOTIENT_STAGES + 1

    @property
    def dsp18(self) -> int:
        """18x18 DSP multipliers of the datapath."""
        return (dsp18_count(self.GRAD_WIDTH, self.GRAD_WIDTH)
                + dsp18_count(self.weight_width, self.weight_width))

    def config(self, lr_divisor: int, decay_inv: int) -> dict[str, int]:
        """Port values for ``A = lr_divisor`` (``> 0``) and ``decay_inv`` (``>= 0``; 0 = none).

        Raises
        ------
        ValueError
            If ``lr_divisor <= 0`` or ``decay_inv < 0`` (naming the parameter).
        """
        if isinstance(lr_divisor, bool) or not hasattr(lr_divisor, "__index__") or int(lr_divisor) <= 0:
            raise ValueError(f"SgdUpdate.config: lr_divisor must be a positive int, got {lr_divisor!r}")
        if isinstance(decay_inv, bool) or not hasattr(decay_inv, "__index__") or int(decay_inv) < 0:
            raise ValueError(f"SgdUpdate.config: decay_inv must be an int >= 0, got {decay_inv!r}")
        lr_m, lr_s = divider_constants(int(lr_divisor), self.GRAD_WIDTH)
        if int(decay_inv) == 0:
            dec_m, dec_s, dec_en = 0, 0, 0
        else:
            dec_m, dec_s = divider_constants(int(decay_inv), self.weight_width)
            dec_en = 1
        return {"lr_multiplier": lr_m, "lr_shift": lr_s, "decay_multiplier": dec_m,
                "decay_shift": dec_s, "decay_enable": dec_en}

    def elaborate(self, platform):
        m = Module()
        ww, gw = self.weight_width, self.GRAD_WIDTH
        en = Signal()
        m.d.comb += [en.eq(~self.o.valid | self.o.ready), self.i.ready.eq(en)]

        qg, neg_g = add_quotient_stages(m, en, self.i.payload.g, self.lr_multiplier, self.lr_shift,
                                        gw, "grad", platform)
        qw, neg_w = add_quotient_stages(m, en, self.i.payload.w, self.decay_multiplier,
                                        self.decay_shift, ww, "decay", platform)

        # W and decay_enable travel alongside the two quotient pipelines.
        ws = [Signal(signed(ww), name=f"w{k}") for k in range(1, QUOTIENT_STAGES + 3)]
        des = [Signal(name=f"decay_en{k}") for k in range(1, QUOTIENT_STAGES + 1)]
        tg = Signal(signed(gw))  # tdiv(G, A): |.| <= 2**31, and 2**31 only when negative
        tw = Signal(signed(ww))  # tdiv(W, d) or 0, same argument
        # valid through the quotient stages and the signed quotients; a scaling element leaves
        # there (at `scaled`), so only updates go on to U and W'
        scaling = [Signal(name=f"scaling{k}") for k in range(1, QUOTIENT_STAGES + 2)]
        valid_q = Signal()  # stage QUOTIENT_STAGES + 1
        valid_u = Signal()  # stage QUOTIENT_STAGES + 2
        add_valid_chain(m, en, self.i.valid, QUOTIENT_STAGES + 1, valid_q)
        # NITRO-Scaling: clamp(sign·q, -127, 127) == sign·min(q, 127) (the clamp is symmetric)
        mag = Signal(unsigned(7))
        m.d.comb += [mag.eq(Mux(qg[7:].any(), SCALING_CLIP, qg[:7])),
                     self.scaled_valid.eq(en & valid_q & scaling[-1])]
        with m.If(en):
            m.d.sync += [
                scaling[0].eq(self.scaling),
                *(scaling[k].eq(scaling[k - 1]) for k in range(1, len(scaling))),
                valid_u.eq(valid_q & ~scaling[-1]),
                self.o.valid.eq(valid_u),
                self.scaled.eq(Mux(neg_g, -mag, mag)),
                ws[0].eq(self.i.payload.w),
                *(ws[k].eq(ws[k - 1]) for k in range(1, len(ws))),
                des[0].eq(self.decay_enable),
                *(des[k].eq(des[k - 1]) for k in range(1, len(des))),
                tg.eq(Mux(neg_g, -qg, qg)),
                tw.eq(Mux(des[-1], Mux(neg_w, -qw, qw), 0)),
            ]

        # Stage QUOTIENT_STAGES + 2: U = wrap32(tdiv(G, A) + tdiv(W, d)); the exact sum needs 33 bits, and it
        # wrapped iff its two top bits differ.
        total = Signal(signed(gw + 1))
        u = Signal(signed(gw))
        u_wrapped = Signal()
        m.d.comb += total.eq(tg + tw)
        with m.If(en):
            m.d.sync += [u.eq(total), u_wrapped.eq(total[gw] ^ total[gw - 1])]

        # Stage QUOTIENT_STAGES + 3 (output): W' = wrap32(W - U); the exact difference fits 33 bits.
        diff = Signal(signed(gw + 1))
        w_new = Signal(signed(gw))
        m.d.comb += [diff.eq(ws[-1] - u), w_new.eq(diff)]
        wrap_event = u_wrapped | (diff[gw] ^ diff[gw - 1])
        if ww < gw:  # W' fits weight_width bits iff bits [ww-1, gw) are all equal
            top = w_new[ww - 1:]
            overflow_event = top.any() & ~top.all()
        else:
            overflow_event = 0
        with m.If(en):
            m.d.sync += self.o.payload.eq(w_new)  # low weight_width bits
        set_flags = en & valid_u
        with m.If(self.clear):
            m.d.sync += [self.overflow.eq(0), self.wrapped.eq(0)]
        with m.If(set_flags & overflow_event):
            m.d.sync += self.overflow.eq(1)
        with m.If(set_flags & wrap_event):
            m.d.sync += self.wrapped.eq(1)
        return m

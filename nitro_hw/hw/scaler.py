"""NITRO-Scaling forward as a streaming unit: ``clamp(tdiv(z, SF), -127, 127)``."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .divider import (
    QUOTIENT_STAGES,
    add_quotient_stages,
    add_valid_chain,
    divider_constants,
    dsp18_count,
    shift_width,
)

__all__ = ["SCALING_CLIP", "Scaler"]

#: NITRO-Scaling saturates symmetrically to ``[-127, 127]`` (spec §1.2, §2.3).
SCALING_CLIP = 127


class Scaler(wiring.Component):
    """NITRO-Scaling (spec §2.3): ``s = clamp(tdiv(z, SF), -127, 127)`` as int8.

    ``SF = 256·fan_in`` is a runtime constant: load ``multiplier`` and ``shift`` from
    ``reciprocal(SF, width)`` (module :mod:`nitro_hw.hw.divider`, exact for every signed
    ``width``-bit ``z``) or from :meth:`config`. The configuration is sampled together
    with each input, so it may change between any two transfers.

    Datapath (8 register stages): ``|z|``; the partial products of ``|z| * multiplier``
    (``width`` x ``width`` unsigned: 32 x 32 -> 64 bits, 4 18x18 DSPs, each with a register
    stage before and after it: :func:`~nitro_hw.hw.divider.add_quotient_stages`); their sum in two
    levels; the shift; saturate the magnitude at 127 and restore the sign. Because the clamp is symmetric,
    ``clamp(sign·q, -127, 127) == sign·min(q, 127)``, so −128 never appears. One result per
    cycle; the whole pipeline stalls while ``o`` is held (``i.ready = ~o.valid | o.ready``).

    The training engine does not instantiate it: each lane scales on its
    :class:`~nitro_hw.hw.sgd_update.SgdUpdate`'s gradient divider (``scaling``), with the same
    latency and results.

    Parameters
    ----------
    width : int
        Width of the signed pre-activation ``z``, in ``[8, 64]`` (default 32).

    Attributes
    ----------
    i : In(stream.Signature(signed(width)))
        Pre-activations ``z``.
    o : Out(stream.Signature(signed(8)))
        Scaled values ``s`` in ``[-127, 127]``, in order, :attr:`latency` cycles after
        acceptance while ``o.ready`` is high.
    multiplier : In(unsigned(width))
        Reciprocal multiplier of ``SF``.
    shift : In(unsigned(shift_width(width)))
        Reciprocal shift of ``SF``.
    """

    def __init__(self, width: int = 32):
        if not isinstance(width, int) or isinstance(width, bool) or not 8 <= width <= 64:
            raise ValueError(f"Scaler: width must be an int in [8, 64], got {width!r}")
        self.width = width
        super().__init__({
            "i": In(stream.Signature(signed(width))),
            "o": Out(stream.Signature(signed(8))),
            "multiplier": In(unsigned(width)),
            "shift": In(unsigned(shift_width(width))),
        })

    @property
    def latency(self) -> int:
        """Cycles from an accepted ``z`` to its ``s`` (with ``o.ready`` high)."""
        return QUOTIENT_STAGES + 1

    @property
    def dsp18(self) -> int:
        """18x18 DSP multipliers of the datapath."""
        return dsp18_count(self.width, self.width)

    def config(self, scale_factor: int) -> dict[str, int]:
        """Port values ``{"multiplier", "shift"}`` for ``SF = scale_factor`` (any ``> 0``)."""
        mult, sh = divider_constants(scale_factor, self.width)
        return {"multiplier": mult, "shift": sh}

    def elaborate(self, platform):
        m = Module()
        en = Signal()
        m.d.comb += [en.eq(~self.o.valid | self.o.ready), self.i.ready.eq(en)]
        q, neg = add_quotient_stages(m, en, self.i.payload, self.multiplier, self.shift,
                                     self.width, "scale", platform)
        mag = Signal(unsigned(7))
        m.d.comb += mag.eq(Mux(q[7:].any(), SCALING_CLIP, q[:7]))  # q > 127 without a comparator
        add_valid_chain(m, en, self.i.valid, self.latency, self.o.valid)
        with m.If(en):
            m.d.sync += self.o.payload.eq(Mux(neg, -mag, mag))
        return m

"""Amaranth HDL components of nitro_hw."""

from amaranth.hdl import Shape

#: Signal attributes of a register that must stay a register of its own: Yosys merges registers
#: with equal inputs, and a merged copy drives every lane, bank or MAC across the die.
KEEP = {"keep": "true"}


def distinct_init(shape, init: int) -> int:
    """``init`` folded into a non-negative initial value of ``shape`` (below ``2**(width-1)``).

    Copies of one register get distinct initial values (never observed: a valid pipeline masks
    them) so a synthesizer cannot merge them into one register; ``KEEP`` alone does not stop it.
    """
    width = Shape.cast(shape).width
    return init % (1 << (width - 1)) if width > 1 else 0


def built_to_ask(unit):
    """``unit``, marked as built only to read its properties (``latency``, ``tile_interval``).

    Silences Amaranth's warning for an elaboratable that is never elaborated.
    """
    unit._MustUse__silence = True
    return unit

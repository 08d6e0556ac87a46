"""Amaranth HDL components of nitro_hw."""

#: Signal attributes of a register that must stay a register of its own: Yosys merges registers
#: with equal inputs, and a merged copy drives every lane, bank or MAC across the die.
KEEP = {"keep": "true"}


def built_to_ask(unit):
    """``unit``, marked as built only to read its properties (``latency``, ``tile_interval``).

    Silences Amaranth's warning for an elaboratable that is never elaborated.
    """
    unit._MustUse__silence = True
    return unit

"""Amaranth HDL components of nitro_hw."""


def built_to_ask(unit):
    """``unit``, marked as built only to read its properties (``latency``, ``tile_interval``).

    Silences Amaranth's warning for an elaboratable that is never elaborated.
    """
    unit._MustUse__silence = True
    return unit

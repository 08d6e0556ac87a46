"""Amaranth HDL components of nitro_hw."""

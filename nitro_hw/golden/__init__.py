"""Bit-exact NumPy golden model of the NITRO-D integer training algorithm."""

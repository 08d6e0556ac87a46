"""nitro_hw: integer-only NITRO-D training in hardware, verified bit for bit.

Subpackages
-----------
golden
    The bit-exact NumPy golden model of the NITRO-D algorithm.
hw
    Amaranth HDL components (arithmetic units, training engine).
tb
    Verification helpers: the cocotb runner wrapper and testbench utilities.
"""

__version__ = "0.1.0"

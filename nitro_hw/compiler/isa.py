"""Instruction set of the training engine: one GEMM (with its epilogue) per instruction.

Every instruction runs the loop nest ``for m in range(mt): for n in range(nt): for k in
range(k_len)`` on the MAC array (one k-step per cycle, ``narrow[r] x wide[c]``), then the
epilogue selected by ``op`` post-processes each finished tile row by row:

* ``FWD_RELU``: NITRO-Scaling, NITRO-ReLU; writes ``h`` (row layout, AG), ``h`` transposed
  (column layout, AF) and the region codes (RG).
* ``FWD_ERR``: NITRO-Scaling, error ``wrap8(y_hat - Y)`` against Y; writes ``e`` (row layout,
  E; column layout, AF) and the argmax of ``y_hat`` per sample (PRED).
* ``BACKERR``: NITRO-ReLU backward with the region codes (RG); writes ``delta`` (D).
* ``GRAD``: IntegerSGD of the weight rows (read and written in WF); optionally the
  transposed copy of the new weights (WT).

Addresses (all word addresses, k-stride 1)::

    narrow word = n_base + m * n_mstride + k          (AF for FWD*/BACKERR, AG for GRAD)
    wide word   = w_base + n * w_nstride + k          (memory chosen by wsrc)
    row index   = rel = n * o_nstride + m * o_mstride + r
    row write   = o_base + rel ; aux (Y / RG) = a_base + rel
    column write (transposer) = t_base + m * t_mstride + n * N + c
"""

from __future__ import annotations

from amaranth.hdl import Shape
from amaranth.lib import data

__all__ = [
    "INSTR_LAYOUT", "OP_BACKERR", "OP_END", "OP_FWD_ERR", "OP_FWD_RELU", "OP_GRAD", "OPS",
    "PROG_WORD_BITS", "WSRC_D", "WSRC_E", "WSRC_WF", "WSRC_WT", "instr_words", "pack_instruction",
]

OP_END, OP_FWD_RELU, OP_FWD_ERR, OP_BACKERR, OP_GRAD = 0, 1, 2, 3, 4
OPS = {"END": OP_END, "FWD_RELU": OP_FWD_RELU, "FWD_ERR": OP_FWD_ERR, "BACKERR": OP_BACKERR,
       "GRAD": OP_GRAD}

#: Wide-operand sources (memories WF, WT, D, E).
WSRC_WF, WSRC_WT, WSRC_D, WSRC_E = 0, 1, 2, 3

ADDR_BITS = 16
#: Width of one program-memory word; an instruction takes :func:`instr_words` words.
PROG_WORD_BITS = 128

INSTR_LAYOUT = data.StructLayout({
    "op": 3,
    "phase": 5,
    "tag": 8,
    "wsrc": 2,
    "twrite": 1,
    "mt": 10,
    "nt": 10,
    "k_len": ADDR_BITS,
    "n_base": ADDR_BITS,
    "n_mstride": ADDR_BITS,
    "w_base": ADDR_BITS,
    "w_nstride": ADDR_BITS,
    "o_base": ADDR_BITS,
    "o_nstride": ADDR_BITS,
    "o_mstride": ADDR_BITS,
    "a_base": ADDR_BITS,
    "t_base": ADDR_BITS,
    "t_mstride": ADDR_BITS,
    "n_valid": ADDR_BITS,
    "sc_mult": 32,
    "sc_shift": 6,
    "lr_mult": 32,
    "lr_shift": 6,
    "dc_mult": 32,
    "dc_shift": 6,
    "dc_en": 1,
})


def instr_words() -> int:
    """Program-memory words per instruction."""
    return -(-INSTR_LAYOUT.size // PROG_WORD_BITS)


def pack_instruction(fields: dict[str, int]) -> list[int]:
    """Pack an instruction's fields into program-memory words (LSB first).

    Parameters
    ----------
    fields : dict
        Field name -> non-negative int; missing fields are 0.

    Raises
    ------
    ValueError
        On an unknown field or a value that does not fit its field.
    """
    names = {name for name, _ in INSTR_LAYOUT}
    for key in fields:
        if key not in names:
            raise ValueError(f"pack_instruction: unknown field {key!r}")
    value = 0
    for name, fld in INSTR_LAYOUT:
        v = int(fields.get(name, 0))
        width = Shape.cast(fld.shape).width
        if not 0 <= v < (1 << width):
            raise ValueError(f"pack_instruction: field {name}={v} does not fit {width} bits")
        value |= v << fld.offset
    mask = (1 << PROG_WORD_BITS) - 1
    return [(value >> (PROG_WORD_BITS * i)) & mask for i in range(instr_words())]

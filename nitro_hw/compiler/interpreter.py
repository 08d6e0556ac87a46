"""Executable model of the engine's instruction set on NumPy memory images.

:class:`ProgramInterpreter` runs a compiled :class:`~nitro_hw.compiler.program.Program` the
way the RTL does (same memories, layouts, address arithmetic, padding and epilogues), one
instruction at a time, with the golden primitives for the arithmetic. It checks the compiler
(memory map, strides, constants) against the golden trainer without a simulator, and documents
what each instruction means.
"""

from __future__ import annotations

import numpy as np

from ..golden.primitives import clamp, tdiv, wrap8, wrap32
from . import isa
from .layout import col_layout, row_layout, row_unlayout, wf_layout, wf_unlayout, wt_layout
from .program import Program

__all__ = ["ProgramInterpreter"]

RELU_MEAN = {3: 31, 4: 36, 5: 38, 7: 40, 8: 42, 10: 43, 15: 44, 16: 44, 20: 45}
REGION_NEG, REGION_PASS, REGION_SAT = 0, 1, 2


def _div(a: np.ndarray, mult: int, shift: int) -> np.ndarray:
    """What a reciprocal divider computes: ``sign(a) * ((|a| * mult) >> shift)`` (exact in Python ints)."""
    flat = [int(v) for v in np.asarray(a, dtype=np.int64).ravel()]
    out = [(-((-v * mult) >> shift) if v < 0 else (v * mult) >> shift) for v in flat]
    return np.asarray(out, dtype=np.int64).reshape(np.shape(a))


class ProgramInterpreter:
    """Memories of the engine as NumPy arrays ``[depth, N]`` and an instruction executor.

    Parameters
    ----------
    program : Program
        The compiled program.
    alpha : int
        NITRO-ReLU inverse slope.
    """

    def __init__(self, program: Program, alpha: int = 4):
        self.p = program
        self.n = program.n
        self.alpha = alpha
        self.mem = {k: np.zeros((d, 1 if k == "PRED" else self.n), dtype=np.int64)
                    for k, d in program.depths.items() if k != "PROG"}
        #: A new weight did not fit ``weight_width`` bits (the engine's SGD overflow flag).
        self.weight_overflow = False

    # ------------------------------------------------------------------ host access
    def _put(self, mem: str, base: int, lanes: np.ndarray) -> None:
        self.mem[mem][base:base + lanes.shape[0]] = lanes

    def write_weights(self, params: dict[str, np.ndarray]) -> None:
        """Load every layer (both layouts where kept)."""
        for name, layer in self.p.layers.items():
            w = np.asarray(params[name], dtype=np.int64)
            bits = self.p.weight_width
            if np.any((w < -(1 << (bits - 1))) | (w >= 1 << (bits - 1))):
                raise ValueError(f"weights {name}: values outside the {bits}-bit weight memory")
            self._put("WF", self.p.tensors[layer.wf].base, wf_layout(w, self.n))
            if layer.wt:
                self._put("WT", self.p.tensors[layer.wt].base, wt_layout(w, self.n))

    def read_weights(self) -> dict[str, np.ndarray]:
        """Every layer's weights from WF as int32 ``[out, in]``."""
        out = {}
        for name, layer in self.p.layers.items():
            t = self.p.tensors[layer.wf]
            lanes = self.mem["WF"][t.base:t.base + t.words]
            out[name] = wf_unlayout(lanes, layer.out_features, layer.in_features, self.n).astype(np.int32)
        return out

    def write_batch(self, x: np.ndarray, y: np.ndarray | None = None) -> None:
        """Load a batch ``x[B, F]`` (both layouts) and the targets."""
        x = np.asarray(x, dtype=np.int64).reshape(x.shape[0], -1)
        self._put("AF", self.p.tensors["x.col"].base, col_layout(x, self.n))
        self._put("AG", self.p.tensors["x.row"].base, row_layout(x, self.n))
        if y is not None:
            self._put("Y", self.p.tensors["y"].base, row_layout(np.asarray(y, dtype=np.int64), self.n))

    def read_row(self, name: str, features: int) -> np.ndarray:
        """A row-layout tensor ``[B, features]``."""
        t = self.p.tensors[name]
        return row_unlayout(self.mem[t.mem][t.base:t.base + t.words], self.p.batch, features, self.n)

    def predictions(self) -> np.ndarray:
        """PRED memory (argmax of the last FWD_ERR per sample)."""
        return self.mem["PRED"][:self.p.batch, 0].copy()

    # ------------------------------------------------------------------ execution
    def run(self, train: bool = True) -> None:
        """Execute a training step or an inference batch."""
        lo, hi = self.p.entry_range(train)
        for ins in self.p.instructions[lo:hi]:
            self.execute(ins)

    def execute(self, ins: dict) -> None:
        """Execute one instruction (dict from :attr:`Program.instructions`)."""
        f = {name: ins["fields"].get(name, 0) for name, _ in isa.INSTR_LAYOUT}
        n = self.n
        op = ins["op"]
        narrow_mem = "AG" if op == "GRAD" else "AF"
        wide_mem = {isa.WSRC_WF: "WF", isa.WSRC_WT: "WT", isa.WSRC_D: "D", isa.WSRC_E: "E"}[f["wsrc"]]
        k = np.arange(f["k_len"])
        best: dict[int, tuple[int, int]] = {}
        for mi in range(f["mt"]):
            a = self.mem[narrow_mem][f["n_base"] + mi * f["n_mstride"] + k]  # [K, N] narrow lanes (rows)
            for ni in range(f["nt"]):
                w = self.mem[wide_mem][f["w_base"] + ni * f["w_nstride"] + k]  # [K, N] wide lanes (cols)
                acc = wrap32(a.T @ w).astype(np.int64)  # tile [r, c]
                rel = ni * f["o_nstride"] + mi * f["o_mstride"] + np.arange(n)
                mask = (ni * n + np.arange(n)) < f["n_valid"]
                tbase = f["t_base"] + mi * f["t_mstride"] + ni * n
                if op in ("FWD_RELU", "FWD_ERR"):
                    s = clamp(_div(acc, f["sc_mult"], f["sc_shift"]), -127, 127)
                    if op == "FWD_RELU":
                        inner = np.where(s < 0, tdiv(np.maximum(s, -127), self.alpha), s)
                        h = np.where(mask, wrap8(inner - RELU_MEAN[self.alpha]), 0)
                        region = np.where((s == 127) | (s == -128), REGION_SAT,
                                          np.where(s < 0, REGION_NEG, REGION_PASS))
                        self.mem["AG"][f["o_base"] + rel] = h
                        self.mem["RG"][f["a_base"] + rel] = region
                        self.mem["AF"][tbase + np.arange(n)] = h.T
                    else:
                        y = self.mem["Y"][f["a_base"] + rel]
                        e = np.where(mask, wrap8(s - y), 0)
                        self.mem["E"][f["o_base"] + rel] = e
                        self.mem["AF"][tbase + np.arange(n)] = e.T
                        for r in range(n):
                            for c in range(n):
                                if mask[c]:
                                    cls, v = ni * n + c, int(s[r, c])
                                    if r not in best or v > best[r][1]:
                                        best[r] = (cls, v)
                            if ni == f["nt"] - 1:
                                self.mem["PRED"][mi * n + r, 0] = best.pop(r)[0]
                elif op == "BACKERR":
                    region = self.mem["RG"][f["a_base"] + rel]
                    d = np.where(region == REGION_PASS, acc,
                                 np.where(region == REGION_NEG, tdiv(acc, self.alpha), tdiv(acc, 2**31 - 1)))
                    self.mem["D"][f["o_base"] + rel] = d
                elif op == "GRAD":
                    wold = self.mem["WF"][f["o_base"] + rel]
                    u = _div(acc, f["lr_mult"], f["lr_shift"])
                    if f["dc_en"]:
                        u = wrap32(u + _div(wold, f["dc_mult"], f["dc_shift"])).astype(np.int64)
                    wnew = self._store_weight(wrap32(wold - u).astype(np.int64))
                    self.mem["WF"][f["o_base"] + rel] = wnew
                    if f["twrite"]:
                        self.mem["WT"][tbase + np.arange(n)] = wnew.T
                else:  # pragma: no cover - END is never executed
                    raise ValueError(f"cannot execute {op}")

    def lane_bits(self, mem: str) -> int:
        """Lane width of a memory."""
        return self.p.lane_bits[mem]

    def _store_weight(self, w: np.ndarray) -> np.ndarray:
        """What a ``weight_width``-bit weight memory keeps of an int32 weight (two's-complement wrap)."""
        bits = self.p.weight_width
        if bits == 32:
            return w
        self.weight_overflow |= bool(np.any((w < -(1 << (bits - 1))) | (w >= 1 << (bits - 1))))
        return ((w + (1 << (bits - 1))) % (1 << bits)) - (1 << (bits - 1))

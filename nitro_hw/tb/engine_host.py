"""Host side of the training engine's command protocol, driven through cocotbext-axi.

Used inside cocotb testbenches; see :mod:`nitro_hw.hw.engine.core` for the protocol.
"""

from __future__ import annotations

import logging

import numpy as np

from ..compiler.layout import (
    col_layout,
    lanes_to_bytes,
    row_layout,
    row_unlayout,
    wf_layout,
    wf_unlayout,
    words_to_lanes,
    wt_layout,
)
from ..compiler.program import MEM_IDS, Program
from ..hw.engine.boundary import CMD_CLEAR, CMD_READ, CMD_RUN, CMD_WRITE, CSR_ADDR

__all__ = ["EngineHost"]


class EngineHost:
    """Drive a :class:`~nitro_hw.hw.engine.TrainingEngine` DUT over its AXI-Stream ports.

    Parameters
    ----------
    dut : cocotb handle
        The engine top level (ports ``clk``, ``rst``, ``s_axis_*``, ``m_axis_*``).
    program : Program
        The compiled program (memory map, layouts).
    """

    def __init__(self, dut, program: Program):
        from cocotbext.axi import AxiStreamBus, AxiStreamSink, AxiStreamSource

        self.dut = dut
        self.prog = program
        self.n = program.n
        self.word_bytes = program.word_bits // 8
        # one "byte" per beat: cocotbext-axi then moves a whole word per beat as one int instead
        # of reading and shifting the bus value once per 8-bit lane (32 times for an 8x8 array)
        self.source = AxiStreamSource(AxiStreamBus.from_prefix(dut, "s_axis"), dut.clk, dut.rst, byte_lanes=1)
        self.sink = AxiStreamSink(AxiStreamBus.from_prefix(dut, "m_axis"), dut.clk, dut.rst, byte_lanes=1)
        for obj in (self.source, self.sink):
            obj.log.setLevel(logging.WARNING)

    def random_backpressure(self, seed: int = 0, idle: float = 0.3) -> None:
        """Random idle cycles on ``s_axis`` and random ``tready`` drops on ``m_axis``."""
        import itertools
        import random

        rnd = random.Random(seed)
        self.source.set_pause_generator(rnd.random() < idle for _ in itertools.count())
        rnd2 = random.Random(seed + 1)
        self.sink.set_pause_generator(rnd2.random() < idle for _ in itertools.count())

    # ------------------------------------------------------------------ raw commands
    @staticmethod
    def header(op: int, mem: int, addr: int, count: int, mode: int = 0) -> int:
        """The header beat of a command (see :mod:`nitro_hw.hw.engine.core`)."""
        return op | (mem << 4) | (addr << 8) | (count << 32) | (mode << 56)

    async def command(self, op: int, mem: int = 0, addr: int = 0, count: int = 0, mode: int = 0) -> None:
        """Send a command without data beats and wait until the engine has taken it."""
        await self.source.send([self.header(op, mem, addr, count, mode)])
        await self.source.wait()

    async def write(self, mem: str, addr: int, payload: bytes) -> None:
        """Write whole words (``len(payload)`` a multiple of the word size) to ``mem`` from ``addr``.

        Returns when the last beat has been transferred.
        """
        wb = self.word_bytes
        count = len(payload) // wb
        if count * wb != len(payload) or count == 0:
            raise ValueError(f"write: payload of {len(payload)} bytes is not a whole number of words")
        words = [int.from_bytes(payload[i:i + wb], "little") for i in range(0, len(payload), wb)]
        await self.source.send([self.header(CMD_WRITE, MEM_IDS[mem], addr, count), *words])
        await self.source.wait()

    async def read(self, mem: str, addr: int, count: int) -> bytes:
        """Read ``count`` words of ``mem`` from ``addr`` (raw little-endian words)."""
        await self.source.send([self.header(CMD_READ, MEM_IDS[mem], addr, count)])
        frame = await self.sink.recv()
        if len(frame.tdata) != count:
            raise RuntimeError(f"read {mem}[{addr}:+{count}]: the engine sent {len(frame.tdata)} words")
        return b"".join(int(w).to_bytes(self.word_bytes, "little") for w in frame.tdata)

    async def run(self, train: bool = True) -> dict:
        """Run a training step (or an inference batch) and return the status beat."""
        entry = self.prog.train_entry if train else self.prog.infer_entry
        await self.source.send([self.header(CMD_RUN, 0, entry, 0, 0 if train else 1)])
        frame = await self.sink.recv()
        v = int(frame.tdata[0])
        return {"cycles": v & 0xFFFFFFFF, "step": (v >> 32) & 0xFFFFFFFF, "flags": (v >> 64) & 0xFF,
                "mac_steps": (v >> 72) & 0xFFFFFFFF}

    async def clear(self) -> None:
        """Clear the sticky flags and the step counter."""
        await self.command(CMD_CLEAR)

    # ------------------------------------------------------------------ tensors
    def _lanes_bytes(self, lanes: np.ndarray, mem: str) -> bytes:
        return lanes_to_bytes(lanes, self.prog.lane_bits[mem], self.word_bytes)

    async def load_program(self) -> None:
        """Write the program memory (one 128-bit word per beat)."""
        words = self.prog.program_words()
        payload = b"".join(w.to_bytes(self.word_bytes, "little") for w in words)
        await self.write("PROG", 0, payload)

    async def write_weights(self, params: dict[str, np.ndarray]) -> None:
        """Write every layer's weights (golden parameter names) in both layouts where kept."""
        bits = self.prog.weight_width
        for name, layer in self.prog.layers.items():
            w = np.asarray(params[name])
            if w.shape != (layer.out_features, layer.in_features):
                raise ValueError(f"weights {name}: expected shape {(layer.out_features, layer.in_features)}, "
                                 f"got {w.shape}")
            if np.any((w < -(1 << (bits - 1))) | (w >= 1 << (bits - 1))):
                raise ValueError(f"weights {name}: values outside the engine's {bits}-bit weight memory "
                                 f"(min {w.min()}, max {w.max()}); use weight_width=32")
            t = self.prog.tensors[layer.wf]
            await self.write("WF", t.base, self._lanes_bytes(wf_layout(w.astype(np.int64), self.n), "WF"))
            if layer.wt:
                t = self.prog.tensors[layer.wt]
                await self.write("WT", t.base, self._lanes_bytes(wt_layout(w.astype(np.int64), self.n), "WT"))

    async def read_weights(self) -> dict[str, np.ndarray]:
        """Read every layer's weights back from WF (int32 ``[out, in]``)."""
        out = {}
        for name, layer in self.prog.layers.items():
            t = self.prog.tensors[layer.wf]
            raw = await self.read("WF", t.base, t.words)
            lanes = words_to_lanes(raw, t.words, self.n, self.prog.weight_width, self.word_bytes)
            out[name] = wf_unlayout(lanes, layer.out_features, layer.in_features, self.n).astype(np.int32)
        return out

    async def read_weights_t(self, name: str) -> np.ndarray:
        """Read the transposed copy (WT) of a head's weights back as ``[out, in]``."""
        layer = self.prog.layers[name]
        t = self.prog.tensors[layer.wt]
        raw = await self.read("WT", t.base, t.words)
        lanes = words_to_lanes(raw, t.words, self.n, self.prog.weight_width, self.word_bytes)
        return wf_unlayout(lanes, layer.in_features, layer.out_features, self.n).T.astype(np.int32)

    async def write_batch(self, x: np.ndarray, y: np.ndarray | None = None, train: bool = True) -> None:
        """Write a batch ``x[B, F]`` (both layouts when training) and targets ``y[B, K]``."""
        x = np.asarray(x).reshape(x.shape[0], -1)
        await self.write("AF", self.prog.tensors["x.col"].base,
                         self._lanes_bytes(col_layout(x, self.n), "AF"))
        if train:
            await self.write("AG", self.prog.tensors["x.row"].base,
                             self._lanes_bytes(row_layout(x, self.n), "AG"))
            await self.write("Y", self.prog.tensors["y"].base, self._lanes_bytes(row_layout(y, self.n), "Y"))

    async def read_row_tensor(self, name: str, mem: str, lane_bits: int, features: int) -> np.ndarray:
        """Read a row-layout tensor ``[B, features]`` back."""
        t = self.prog.tensors[name]
        raw = await self.read(mem, t.base, t.words)
        lanes = words_to_lanes(raw, t.words, self.n, lane_bits, self.word_bytes)
        return row_unlayout(lanes, self.prog.batch, features, self.n)

    async def read_predictions(self) -> np.ndarray:
        """Argmax predictions of the last run (int64 ``[B]``)."""
        t = self.prog.tensors["pred"]
        raw = await self.read("PRED", t.base, t.words)
        return words_to_lanes(raw, t.words, 1, 8, self.word_bytes, signed=False)[:, 0].astype(np.int64)

    async def read_phase_cycles(self) -> list[int]:
        """Cycles spent in each instruction of the last run (index = instruction)."""
        n = len(self.prog.instructions)
        raw = await self.read("CSR", CSR_ADDR["phase_cycles"], n)
        return [int.from_bytes(raw[i * self.word_bytes:i * self.word_bytes + 4], "little") for i in range(n)]

"""cocotb helpers for Amaranth ``lib.stream`` ports (``<name>__valid/ready/payload``).

A :class:`StreamDriver` pushes payloads with random idle cycles, a
:class:`StreamSink` accepts them with random back-pressure, and
:class:`InOrderChecker` compares what came out with what a golden model predicts.
All randomness comes from a seeded :class:`random.Random`.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Iterable

import cocotb
from cocotb.triggers import ReadOnly, RisingEdge


def _port(dut, name: str, field: str):
    return getattr(dut, f"{name}__{field}")


def to_signed(value: int, width: int) -> int:
    """Interpret the low ``width`` bits of ``value`` as two's complement."""
    value &= (1 << width) - 1
    return value - (1 << width) if value >> (width - 1) else value


def pack(fields: Iterable[tuple[int, int]]) -> int:
    """Pack ``(value, width)`` pairs, first field in the least significant bits."""
    word, offset = 0, 0
    for value, width in fields:
        word |= (int(value) & ((1 << width) - 1)) << offset
        offset += width
    return word


def unpack(word: int, widths: Iterable[tuple[int, bool]]) -> list[int]:
    """Split ``word`` into fields of ``(width, signed)``, least significant first."""
    out, offset = [], 0
    for width, is_signed in widths:
        raw = (word >> offset) & ((1 << width) - 1)
        out.append(to_signed(raw, width) if is_signed else raw)
        offset += width
    return out


class StreamDriver:
    """Drive payloads into an input stream ``<name>__*`` of ``dut``.

    Parameters
    ----------
    dut, name
        The design and the stream's port prefix.
    clk
        The clock signal.
    rng : random.Random
        Source of idle cycles.
    idle_prob : float
        Probability of holding ``valid`` low for a cycle between payloads.
    """

    def __init__(self, dut, name: str, clk, rng: random.Random, idle_prob: float = 0.0):
        self.valid = _port(dut, name, "valid")
        self.ready = _port(dut, name, "ready")
        self.payload = _port(dut, name, "payload")
        self.clk, self.rng, self.idle_prob = clk, rng, idle_prob
        self.valid.value = 0

    async def send(self, payloads: Iterable[int]) -> None:
        """Send every payload (raw integers, negative allowed), in order."""
        for p in payloads:
            while self.rng.random() < self.idle_prob:
                self.valid.value = 0
                await RisingEdge(self.clk)
            self.valid.value = 1
            self.payload.value = int(p) & ((1 << len(self.payload)) - 1)
            while True:
                await ReadOnly()  # sample ready before the edge that would transfer
                accepted = bool(int(self.ready.value))
                await RisingEdge(self.clk)
                if accepted:
                    break
        self.valid.value = 0


class StreamSink:
    """Accept payloads from an output stream ``<name>__*`` with random back-pressure.

    ``decode`` turns the raw payload integer into the value recorded (default: raw).
    """

    def __init__(self, dut, name: str, clk, rng: random.Random, stall_prob: float = 0.0,
                 decode: Callable[[int], object] | None = None):
        self.valid = _port(dut, name, "valid")
        self.ready = _port(dut, name, "ready")
        self.payload = _port(dut, name, "payload")
        self.clk, self.rng, self.stall_prob = clk, rng, stall_prob
        self.decode = decode or (lambda raw: raw)
        self.received: list = []
        self.ready.value = 0
        self._task = None

    def start(self) -> None:
        """Start accepting (idempotent)."""
        if self._task is None:
            self._task = cocotb.start_soon(self._run())

    def stop(self) -> None:
        """Stop accepting; ``ready`` goes low."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
        self.ready.value = 0

    async def _run(self) -> None:
        while True:
            ready = self.rng.random() >= self.stall_prob
            self.ready.value = int(ready)
            await ReadOnly()  # sample valid/payload before the transferring edge
            taken = ready and bool(int(self.valid.value))
            raw = int(self.payload.value) if taken else None
            await RisingEdge(self.clk)
            if taken:
                self.received.append(self.decode(raw))

    async def wait_for(self, count: int, timeout_cycles: int) -> list:
        """Wait until ``count`` payloads arrived; raise after ``timeout_cycles``."""
        for _ in range(timeout_cycles):
            if len(self.received) >= count:
                return self.received
            await RisingEdge(self.clk)
        raise TimeoutError(f"stream sink got {len(self.received)} of {count} payloads "
                           f"within {timeout_cycles} cycles")


class InOrderChecker:
    """Compare received values against expected ones in order; collect mismatches."""

    def __init__(self, name: str):
        self.name = name
        self.expected: deque = deque()
        self.checked = 0
        self.errors: list[str] = []

    def expect(self, value) -> None:
        self.expected.append(value)

    def check_all(self, received: list) -> None:
        """Check the whole received sequence; raise AssertionError on any difference."""
        exp = list(self.expected)
        if len(received) != len(exp):
            self.errors.append(f"{self.name}: got {len(received)} values, expected {len(exp)}")
        for k, (g, e) in enumerate(zip(received, exp, strict=False)):
            if g != e:
                self.errors.append(f"{self.name}[{k}]: got {g}, expected {e}")
        self.checked = min(len(received), len(exp))
        if self.errors:
            shown = "\n  ".join(self.errors[:10])
            raise AssertionError(f"{len(self.errors)} mismatches:\n  {shown}")

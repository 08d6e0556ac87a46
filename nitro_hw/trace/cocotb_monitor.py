"""A cocotb monitor on a trace port that records beats into a :class:`HardwareRecorder`."""

from __future__ import annotations

import cocotb
from cocotb.triggers import ReadOnly, RisingEdge

from .format import TraceError
from .hw_recorder import HardwareRecorder
from .port import TracePortSpec


class TracePortMonitor:
    """Watch the trace port of ``dut`` and feed every transferred beat to ``recorder``.

    A beat transfers on a rising edge of ``spec.clock`` when valid (and ready) were high
    in the settled state before that edge (sampled in ``ReadOnly``), as for any stream.

    Parameters
    ----------
    dut
        The cocotb handle of the top level.
    spec : TracePortSpec
        Signal names and field positions.
    recorder : HardwareRecorder
        Destination of the beats.
    """

    def __init__(self, dut, spec: TracePortSpec, recorder: HardwareRecorder) -> None:
        self.spec, self.recorder = spec, recorder
        self.clk = getattr(dut, spec.clock)
        self.valid = getattr(dut, spec.valid)
        self.ready = getattr(dut, spec.ready) if spec.ready else None
        self.sig = {s: getattr(dut, s) for s in spec.field_signals()}
        self.beats = 0
        self._task = None

    def start(self) -> None:
        """Start monitoring (idempotent)."""
        if self._task is None:
            self._task = cocotb.start_soon(self._run())

    def stop(self) -> None:
        """Stop monitoring (beats after this are not recorded)."""
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def close(self) -> None:
        """Stop and close the recorder (raises if a tensor is half-received)."""
        self.stop()
        self.recorder.close()

    async def _run(self) -> None:
        while True:
            await ReadOnly()
            taken = self.valid.value.is_resolvable and int(self.valid.value) == 1 and (
                self.ready is None or (self.ready.value.is_resolvable and int(self.ready.value) == 1))
            raw = None
            if taken:
                raw = {}
                for s, h in self.sig.items():
                    v = h.value
                    if not v.is_resolvable:
                        raise TraceError(f"trace port: {s} has unknown bits ({v}) on beat {self.beats}")
                    raw[s] = int(v)
            await RisingEdge(self.clk)
            if raw is not None:
                tag, lanes, step, index = self.spec.decode(raw)
                self.recorder.add_beat(tag, lanes, step, index)
                self.beats += 1

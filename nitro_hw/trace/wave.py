"""Extract trace-port beats from a VCD or FST wave file written by any simulator (via pywellen).

A beat transfers on a rising clock edge when ``valid`` (and ``ready``, if the port has it)
were 1 just before the edge; the fields are sampled at the same instant (the last value
change strictly before the edge), which is what the registers of the design saw.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .format import TraceError
from .hw_recorder import HardwareRecorder, RowTensor, TagMap
from .port import TracePortSpec
from .writer import TraceWriter


@dataclass(frozen=True)
class Beat:
    """One transfer on the trace port."""

    time: int
    tag: int
    lanes: tuple[int, ...]
    step: int | None = None
    index: int | None = None


class _Sampled:
    """A signal's value changes, sampled just before given times."""

    def __init__(self, var: Any, path: Path) -> None:
        tv = list(var.tv)
        self.name = var.full_name
        self.times = np.array([t for t, _ in tv], dtype=np.int64)
        self.values = [v for _, v in tv]

    def before(self, times: np.ndarray) -> list:
        idx = np.searchsorted(self.times, times, side="left") - 1
        return [self.values[i] if i >= 0 else None for i in idx]


def _known(v: Any) -> int | None:
    return v if isinstance(v, int) else None


def _find_vars(wave: Any, spec: TracePortSpec, path: Path) -> dict[str, Any]:
    wanted = set(spec.signals())
    found: dict[str, list[Any]] = {n: [] for n in wanted}
    for var in wave.all_vars():
        name = var.name
        if name in wanted:
            if spec.scope is None or var.full_name == f"{spec.scope}.{name}":
                found[name].append(var)
    out = {}
    for name, vars_ in found.items():
        if not vars_:
            where = f" in scope {spec.scope!r}" if spec.scope else ""
            raise TraceError(f"{path}: signal {name!r} not found{where}")
        out[name] = min(vars_, key=lambda v: (v.full_name.count("."), v.full_name))
    return out


def read_wave_beats(path: str | Path, spec: TracePortSpec) -> Iterator[Beat]:
    """Every beat transferred on the trace port described by ``spec``, in time order.

    Parameters
    ----------
    path : str or Path
        A ``.vcd`` or ``.fst`` file.
    spec : TracePortSpec
        Signal names and field positions.

    Raises
    ------
    TraceError
        Unreadable file, missing signals, or X/Z on a field of a transferred beat.
    """
    import pywellen

    path = Path(path)
    if not path.is_file():
        raise TraceError(f"{path}: wave file not found")
    try:
        wave = pywellen.Waveform(str(path))
    except Exception as exc:  # noqa: BLE001 - pywellen raises its own error types
        raise TraceError(f"{path}: not a readable VCD/FST wave file: {exc}") from exc
    vars_ = _find_vars(wave, spec, path)
    try:
        sampled = {n: _Sampled(v, path) for n, v in vars_.items()}
    except Exception as exc:  # noqa: BLE001
        raise TraceError(f"{path}: cannot load signal values: {exc}") from exc
    clk = sampled[spec.clock]
    levels = [_known(v) for v in clk.values]
    edges = np.array([clk.times[i] for i in range(1, len(levels)) if levels[i] == 1 and levels[i - 1] == 0],
                     dtype=np.int64)
    if edges.size == 0:
        return
    valid = sampled[spec.valid].before(edges)
    ready = sampled[spec.ready].before(edges) if spec.ready else [1] * len(edges)
    hits = np.array([v == 1 and r == 1 for v, r in zip(valid, ready, strict=True)], dtype=bool)
    times = edges[hits]
    if times.size == 0:
        return
    fields = {s: sampled[s].before(times) for s in spec.field_signals()}
    for i, t in enumerate(times):
        raw = {}
        for s, vals in fields.items():
            v = vals[i]
            if not isinstance(v, int):
                raise TraceError(f"{path}: {sampled[s].name} is {v!r} (unknown bits) on a trace beat "
                                 f"at time {t}")
            raw[s] = v
        tag, lanes, step, index = spec.decode(raw)
        yield Beat(int(t), tag, tuple(lanes), step, index)


def wave_to_trace(path: str | Path, spec: TracePortSpec, tag_map: TagMap, out: str | Path, *,
                  meta: dict[str, Any] | None = None, chunk_steps: int = 64, overwrite: bool = False,
                  step_start_tag: int | None = None, row_tensors: dict[int, RowTensor] | None = None) -> Path:
    """Decode the trace port of a wave file into a trace directory ``out``.

    ``tag_map``, ``step_start_tag`` and ``row_tensors`` are as for :class:`HardwareRecorder`.

    Returns
    -------
    Path
        ``out``.
    """
    m = {"source": "wave", "wave": str(path), "port": spec.to_dict(), "tag_map": tag_map.to_dict()}
    m.update(meta or {})
    writer = TraceWriter(out, m, chunk_steps=chunk_steps, overwrite=overwrite)
    rec = HardwareRecorder(writer, tag_map, spec.lanes, spec.lane_width, step_start_tag, row_tensors)
    try:
        for beat in read_wave_beats(path, spec):
            rec.add_beat(beat.tag, beat.lanes, beat.step, beat.index)
    except BaseException:
        writer.__exit__(RuntimeError, None, None)
        raise
    rec.close()
    return Path(out)

"""Record traces from hardware: a tag map, and beats of a trace port assembled into tensors.

A hardware trace port emits *beats* ``(tag, lanes)`` (optionally with a ``step`` field).
The :class:`TagMap` says which tensor each tag carries (block, phase, name, dtype, shape).
A tensor of ``n`` elements with ``L`` lanes takes ``ceil(n / L)`` consecutive beats of its
tag, elements in row-major order, lane 0 first; lanes past ``n`` in the last beat are
padding and ignored. Beats of different tags may interleave (one tensor per tag at a
time). Lane values are ``lane_width``-bit two's complement for signed dtypes and raw
bits for unsigned ones.

Without a ``step`` field, steps are counted: the tag of the first tensor ever seen starts
step 0, and every later start of a tensor with that tag starts the next step.

A port that writes tensors back as memory rows (beats ``(tag, index, lanes)``, in any row
order, as the training engine does) is decoded with :class:`RowTensor` entries: the rows
``base .. base + rows - 1`` of a tag are collected and turned into the tensor by the
layout's inverse (``unlayout``), which the program compiler knows.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .format import ALLOWED_DTYPES, TraceError, check_name
from .writer import TraceWriter

TAGMAP_FORMAT = "nitro-hw-tagmap"
TAGMAP_VERSION = 1


@dataclass(frozen=True)
class TraceTensor:
    """What one tag carries.

    Attributes
    ----------
    block, phase, name : str
        The record's names (as in the golden trace hook).
    dtype : str
        Integer dtype of the tensor (``int8``, ``int32``, ...).
    shape : tuple of int
        Tensor shape.
    """

    block: str
    phase: str
    name: str
    dtype: str
    shape: tuple[int, ...]

    def __post_init__(self) -> None:
        for what in ("block", "phase", "name"):
            check_name(getattr(self, what), what)
        if self.dtype not in ALLOWED_DTYPES:
            raise TraceError(f"dtype must be one of {', '.join(ALLOWED_DTYPES)}, got {self.dtype!r}")
        shape = tuple(int(s) for s in self.shape)
        if any(s < 0 for s in shape):
            raise TraceError(f"shape must hold non-negative sizes, got {self.shape!r}")
        object.__setattr__(self, "shape", shape)

    @property
    def size(self) -> int:
        """Number of elements."""
        return int(np.prod(self.shape, dtype=np.int64))


class TagMap(Mapping[int, TraceTensor]):
    """Mapping ``tag -> TraceTensor``; JSON round trip with :meth:`to_dict` / :meth:`from_dict`.

    Parameters
    ----------
    tags : mapping of int to TraceTensor or dict
        Tags (non-negative ints) and their tensors.
    """

    def __init__(self, tags: Mapping[int, TraceTensor | Mapping[str, Any]]) -> None:
        self._tags: dict[int, TraceTensor] = {}
        for tag, t in tags.items():
            try:
                tag_i = int(tag)
            except (TypeError, ValueError):
                raise TraceError(f"tag map: tag {tag!r} is not an integer") from None
            if tag_i < 0:
                raise TraceError(f"tag map: tag {tag_i} is negative")
            if not isinstance(t, TraceTensor):
                try:
                    t = TraceTensor(t["block"], t["phase"], t["name"], t["dtype"], tuple(t["shape"]))
                except (KeyError, TypeError) as exc:
                    raise TraceError(f"tag map: tag {tag_i} entry {t!r:.80} is malformed ({exc!r})") from None
            self._tags[tag_i] = t

    def __getitem__(self, tag: int) -> TraceTensor:
        return self._tags[tag]

    def __iter__(self):
        return iter(self._tags)

    def __len__(self) -> int:
        return len(self._tags)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {"format": TAGMAP_FORMAT, "format_version": TAGMAP_VERSION,
                "tags": {str(k): {"block": t.block, "phase": t.phase, "name": t.name, "dtype": t.dtype,
                                  "shape": list(t.shape)} for k, t in sorted(self._tags.items())}}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TagMap:
        """Inverse of :meth:`to_dict`."""
        if not isinstance(d, Mapping) or d.get("format") != TAGMAP_FORMAT:
            got = d.get("format") if isinstance(d, Mapping) else d
            raise TraceError(f"not a nitro-hw tag map (format {got!r})")
        if d.get("format_version") != TAGMAP_VERSION:
            raise TraceError(f"tag map format_version {d.get('format_version')!r}, expected {TAGMAP_VERSION}")
        return cls(d.get("tags", {}))

    @classmethod
    def load(cls, path: str | Path) -> TagMap:
        """Read a tag map JSON file (errors name the file)."""
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (OSError, json.JSONDecodeError, TraceError) as exc:
            raise TraceError(f"{path}: {exc}") from exc

    @classmethod
    def from_records(cls, records: Iterable[tuple[str, str, str, np.ndarray]]) -> TagMap:
        """Number the distinct ``(block, phase, name)`` of ``records`` in order of first appearance."""
        tags: dict[int, TraceTensor] = {}
        seen: dict[tuple[str, str, str], int] = {}
        for block, phase, name, arr in records:
            k = (block, phase, name)
            if k not in seen:
                seen[k] = len(seen)
                tags[seen[k]] = TraceTensor(block, phase, name, str(arr.dtype), tuple(arr.shape))
        return cls(tags)


@dataclass(frozen=True)
class RowTensor:
    """A tensor that a trace port delivers as addressed memory rows.

    Attributes
    ----------
    tensor : TraceTensor
        Names, dtype and shape of the decoded tensor.
    base : int
        Index (word address) of the first row.
    rows : int
        Number of rows; the tensor is complete when every index in ``[base, base + rows)`` arrived.
    unlayout : callable
        ``unlayout(lanes)`` with ``lanes`` an int64 array ``[rows, lanes]`` (row ``i`` = index
        ``base + i``, values already sign-interpreted) returns the tensor (``tensor.shape``).
    """

    tensor: TraceTensor
    base: int
    rows: int
    unlayout: Callable[[np.ndarray], np.ndarray]

    def __post_init__(self) -> None:
        if self.base < 0 or self.rows <= 0:
            t = self.tensor
            raise TraceError(f"RowTensor {t.block}/{t.phase}/{t.name}: base must be >= 0 and rows > 0, "
                             f"got {self.base}, {self.rows}")


def lanes_to_values(raw: Sequence[int], lane_width: int, dtype: str) -> list[int]:
    """Interpret raw lane bits: two's complement for signed dtypes, unsigned otherwise."""
    mask = (1 << lane_width) - 1
    signed = np.dtype(dtype).kind == "i"
    out = []
    for v in raw:
        v = int(v) & mask
        if signed and v >> (lane_width - 1):
            v -= 1 << lane_width
        out.append(v)
    return out


def values_to_array(values: list[int], t: TraceTensor) -> np.ndarray:
    """The tensor of ``t`` from its values; values outside ``t.dtype`` keep an int64 array
    (so that compare reports the dtype and the values instead of silently wrapping)."""
    info = np.iinfo(t.dtype)
    if all(info.min <= v <= info.max for v in values):
        return np.array(values, dtype=t.dtype).reshape(t.shape)
    return np.array(values, dtype=np.int64).reshape(t.shape)


class HardwareRecorder:
    """Assemble trace-port beats (or whole decoded tensors) into a trace.

    Parameters
    ----------
    writer : TraceWriter
        Destination.
    tag_map : TagMap
        What each tag carries.
    lanes : int
        Values per beat.
    lane_width : int
        Bits per lane.
    step_start_tag : int, optional
        Tag whose tensors start a new step when beats carry no step (default: the first tag seen).
    row_tensors : mapping of int to RowTensor, optional
        Tags delivered as addressed rows (beats with an index); they need no ``tag_map`` entry.
    """

    def __init__(self, writer: TraceWriter, tag_map: TagMap, lanes: int = 1, lane_width: int = 32,
                 step_start_tag: int | None = None,
                 row_tensors: Mapping[int, RowTensor] | None = None) -> None:
        if lanes <= 0 or lane_width <= 0:
            raise TraceError(f"lanes and lane_width must be positive, got {lanes}, {lane_width}")
        self.writer, self.tag_map = writer, tag_map
        self.lanes, self.lane_width = lanes, lane_width
        self.step_start_tag = step_start_tag
        self.beats = 0
        self.tensors = 0
        self._step = -1
        self._partial: dict[int, tuple[int, list[int]]] = {}  # tag -> (step, values so far)
        self.row_tensors = dict(row_tensors or {})
        self._rows: dict[int, tuple[int, dict[int, list[int]]]] = {}  # tag -> (step, {row: lanes})

    def add_record(self, step: int, block: str, phase: str, name: str, array: np.ndarray) -> None:
        """Record a decoded tensor directly."""
        self.writer.add(step, block, phase, name, array)
        self.tensors += 1

    def add_tensor(self, step: int, tag: int, values: Sequence[int] | np.ndarray) -> None:
        """Record a whole decoded tensor of ``tag`` (flat values in row-major order, or shaped)."""
        t = self._lookup(tag, step)
        vals = [int(v) for v in np.asarray(values).reshape(-1)]
        if len(vals) != t.size:
            raise TraceError(f"tag {tag} ({t.block}/{t.phase}/{t.name}) at step {step}: {len(vals)} values, "
                             f"the tag map says {t.size}")
        self.add_record(step, t.block, t.phase, t.name, values_to_array(vals, t))

    def _start(self, tag: int, step: int | None) -> int:
        if step is None:
            if self.step_start_tag is None:
                self.step_start_tag = tag
            if tag == self.step_start_tag:
                self._step += 1
            step = max(self._step, 0)
        return int(step)

    def add_beat(self, tag: int, lanes: Sequence[int], step: int | None = None,
                 index: int | None = None) -> None:
        """Take one beat: ``lanes`` raw lane values (``self.lanes`` of them), and its row ``index``
        for tags in ``row_tensors``.

        Raises
        ------
        TraceError
            On an unknown tag, a wrong number of lanes or a row index outside the tensor.
        """
        if len(lanes) != self.lanes:
            raise TraceError(f"beat {self.beats}: {len(lanes)} lanes, expected {self.lanes}")
        tag = int(tag)
        self.beats += 1
        if tag in self.row_tensors:
            self._add_row(tag, lanes, step, index)
            return
        if tag not in self._partial:  # first beat of a tensor
            step = self._start(tag, step) if step is None else int(step)
            t = self._lookup(tag, step)
            self._partial[tag] = (step, [])
        else:
            t = self.tag_map[tag]
        st, vals = self._partial[tag]
        if step is not None and int(step) != st:
            raise TraceError(f"beat {self.beats - 1}: tag {tag} ({t.block}/{t.phase}/{t.name}) started at "
                             f"step {st} but a later beat says step {step}")
        need = t.size - len(vals)
        vals.extend(lanes_to_values(lanes[:need], self.lane_width, t.dtype))
        if len(vals) >= t.size:
            del self._partial[tag]
            self.add_record(st, t.block, t.phase, t.name, values_to_array(vals, t))

    def _add_row(self, tag: int, lanes: Sequence[int], step: int | None, index: int | None) -> None:
        rt = self.row_tensors[tag]
        t = rt.tensor
        what = f"tag {tag} ({t.block}/{t.phase}/{t.name})"
        if index is None:
            raise TraceError(f"beat {self.beats - 1}: {what} is delivered as rows but the beat has no index")
        row = int(index) - rt.base
        if not 0 <= row < rt.rows:
            raise TraceError(f"beat {self.beats - 1}: {what} row index {index} outside "
                             f"[{rt.base}, {rt.base + rt.rows})")
        if tag not in self._rows:
            self._rows[tag] = (self._start(tag, step) if step is None else int(step), {})
        st, rows = self._rows[tag]
        rows[row] = lanes_to_values(lanes, self.lane_width, t.dtype)
        if len(rows) == rt.rows:
            del self._rows[tag]
            lanes_arr = np.array([rows[i] for i in range(rt.rows)], dtype=object)
            try:
                lanes_arr = lanes_arr.astype(np.int64)
            except OverflowError:
                pass
            arr = np.asarray(rt.unlayout(lanes_arr))
            if arr.shape != t.shape:
                raise TraceError(f"{what}: unlayout returned shape {arr.shape}, the tensor is {t.shape}")
            values = [int(v) for v in arr.reshape(-1)]
            self.add_record(st, t.block, t.phase, t.name, values_to_array(values, t))

    def close(self) -> None:
        """Check that no tensor is half-received, then close the writer.

        Raises
        ------
        TraceError
            When beats of some tensor are missing (the writer is still closed).
        """
        pending = [(tag, self.tag_map[tag], st, f"{len(v)} of {self.tag_map[tag].size}")
                   for tag, (st, v) in self._partial.items()]
        pending += [(tag, self.row_tensors[tag].tensor, st, f"{len(r)} of {self.row_tensors[tag].rows} rows")
                    for tag, (st, r) in self._rows.items()]
        self._partial.clear()
        self._rows.clear()
        self.writer.close()
        if pending:
            desc = ", ".join(f"tag {tag} ({t.block}/{t.phase}/{t.name}, step {st}: {n})"
                             for tag, t, st, n in pending)
            raise TraceError(f"{self.writer.path}: trace port stopped in the middle of tensors: {desc}")

    def _lookup(self, tag: int, step: int) -> TraceTensor:
        try:
            return self.tag_map[int(tag)]
        except KeyError:
            raise TraceError(f"step {step}: tag {tag} is not in the tag map "
                             f"(beat {self.beats - 1})") from None


def tensor_beats(arr: np.ndarray, lanes: int, lane_width: int) -> list[list[int]]:
    """Split a tensor into beats of ``lanes`` raw lane values (the inverse of the recorder).

    Negative values become ``lane_width``-bit two's complement; the last beat is zero-padded.
    """
    mask = (1 << lane_width) - 1
    flat = [int(v) & mask for v in np.asarray(arr).reshape(-1)]
    flat += [0] * (-len(flat) % lanes)
    return [flat[i:i + lanes] for i in range(0, len(flat), lanes)]

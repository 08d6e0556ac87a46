"""Reading traces: index validation, chunk integrity checks, iteration by step."""

from __future__ import annotations

import hashlib
import json
import math
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .format import (
    ALLOWED_DTYPES,
    FORMAT_NAME,
    FORMAT_VERSION,
    HEADER_KEY,
    INDEX_FILE,
    RECORDS_KEY,
    VALUES_PREFIX,
    RecordKey,
    TraceError,
    index_path,
)

Record = tuple[RecordKey, np.ndarray]


@dataclass(frozen=True)
class ChunkInfo:
    """One entry of ``index.json``'s ``chunks`` list."""

    file: str
    steps: tuple[int, ...]
    records: int
    bytes: int
    sha256: str


def _load_index(path: Path) -> dict[str, Any]:
    ipath = index_path(path)
    if not ipath.exists():
        if Path(path).is_file():
            raise TraceError(f"{path}: not a trace directory (expected a directory holding {INDEX_FILE})")
        raise TraceError(f"{ipath}: trace index not found")
    try:
        index = json.loads(ipath.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TraceError(f"{ipath}: trace index is not valid JSON (truncated or corrupted?): {exc}") from exc
    if not isinstance(index, dict) or index.get("format") != FORMAT_NAME:
        got = index.get("format") if isinstance(index, dict) else type(index).__name__
        raise TraceError(f"{ipath}: not a nitro-hw trace index (format {got!r}, expected {FORMAT_NAME!r})")
    version = index.get("format_version")
    if version != FORMAT_VERSION:
        raise TraceError(f"{ipath}: trace format_version {version!r}, this nitro_hw reads {FORMAT_VERSION}")
    for field, typ in (("complete", bool), ("meta", dict), ("chunks", list)):
        if not isinstance(index.get(field), typ):
            raise TraceError(f"{ipath}: field {field!r} missing or not a {typ.__name__}")
    return index


def _chunk_info(ipath: Path, i: int, c: Any) -> ChunkInfo:
    try:
        info = ChunkInfo(str(c["file"]), tuple(int(s) for s in c["steps"]), int(c["records"]),
                         int(c["bytes"]), str(c["sha256"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise TraceError(f"{ipath}: chunk entry {i} is malformed ({exc!r})") from exc
    if "/" in info.file or "\\" in info.file or info.file.startswith("."):
        raise TraceError(f"{ipath}: chunk entry {i} names an unsafe file {info.file!r}")
    if not info.steps or list(info.steps) != sorted(set(info.steps)):
        raise TraceError(f"{ipath}: chunk entry {i} ({info.file}) has no steps or unordered steps")
    return info


class Trace:
    """A trace directory opened for reading (chunks are loaded lazily, one at a time).

    Parameters
    ----------
    path : str or Path
        Trace directory or its ``index.json``.
    verify : bool
        Check each chunk's size and SHA-256 against the index when it is loaded.

    Attributes
    ----------
    path : Path
        The trace directory.
    meta : dict
        Run description written by the recorder.
    complete : bool
        False when the writer never finished (the chunks listed are still valid).
    chunks : list of ChunkInfo
    steps : list of int
        Every step in the trace, increasing.

    Raises
    ------
    TraceError
        Missing, malformed or foreign index; the message names the file.
    """

    def __init__(self, path: str | Path, verify: bool = True) -> None:
        ipath = index_path(path)
        self.path = ipath.parent
        index = _load_index(Path(path))
        self.meta: dict[str, Any] = index["meta"]
        self.complete: bool = index["complete"]
        self.chunks = [_chunk_info(ipath, i, c) for i, c in enumerate(index["chunks"])]
        self.steps: list[int] = [s for c in self.chunks for s in c.steps]
        if self.steps != sorted(set(self.steps)):
            raise TraceError(f"{ipath}: chunks overlap or are out of step order")
        self.num_records = sum(c.records for c in self.chunks)
        self.verify = verify

    def __repr__(self) -> str:
        return (f"Trace({str(self.path)!r}, steps={len(self.steps)}, records={self.num_records}, "
                f"complete={self.complete})")

    # ------------------------------------------------------------------ chunks
    def load_chunk(self, i: int) -> list[Record]:
        """All records of chunk ``i`` in execution order.

        Raises
        ------
        TraceError
            Missing, truncated, altered or inconsistent chunk file (named in the message).
        """
        info = self.chunks[i]
        fpath = self.path / info.file
        data = self._read_chunk_bytes(i, self.verify)
        return _parse_chunk(fpath, data, info, i)

    def verify_chunk(self, i: int) -> None:
        """Check chunk ``i``'s size and SHA-256 against the index without decoding it.

        Raises
        ------
        TraceError
            Missing, truncated or altered chunk file.
        """
        self._read_chunk_bytes(i, True)

    def _read_chunk_bytes(self, i: int, verify: bool) -> bytes:
        info = self.chunks[i]
        fpath = self.path / info.file
        if not fpath.is_file():
            raise TraceError(f"{fpath}: chunk file listed in {INDEX_FILE} is missing")
        data = fpath.read_bytes()
        if verify:
            if len(data) != info.bytes:
                raise TraceError(f"{fpath}: chunk has {len(data)} bytes, the index says {info.bytes} "
                                 "(truncated or overwritten)")
            if hashlib.sha256(data).hexdigest() != info.sha256:
                raise TraceError(f"{fpath}: chunk SHA-256 differs from the index (corrupted or altered)")
        return data

    def iter_chunks(self, prefetch: bool = True) -> Iterator[list[Record]]:
        """Records chunk by chunk; with ``prefetch`` the next chunk is read and decompressed in a
        background thread while the current one is used (zlib and SHA-256 release the GIL)."""
        if not prefetch or len(self.chunks) < 2:
            for i in range(len(self.chunks)):
                yield self.load_chunk(i)
            return
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="trace-prefetch") as pool:
            nxt = pool.submit(self.load_chunk, 0)
            for i in range(len(self.chunks)):
                cur = nxt.result()
                if i + 1 < len(self.chunks):
                    nxt = pool.submit(self.load_chunk, i + 1)
                yield cur

    def iter_steps(self) -> Iterator[tuple[int, list[Record]]]:
        """``(step, records)`` for every step, in order."""
        for records in self.iter_chunks():
            cur: list[Record] = []
            step = None
            for key, arr in records:
                if key.step != step and cur:
                    yield step, cur
                    cur = []
                step = key.step
                cur.append((key, arr))
            if cur:
                yield step, cur

    def records(self) -> Iterator[Record]:
        """Every record in order."""
        for records in self.iter_chunks():
            yield from records

    def step_records(self, step: int) -> list[Record]:
        """The records of one step (loads only its chunk)."""
        for i, c in enumerate(self.chunks):
            if step in c.steps:
                return [r for r in self.load_chunk(i) if r[0].step == step]
        raise TraceError(f"{self.path}: step {step} is not in the trace (steps {_span(self.steps)})")

    def last_weights(self, step: int | None = None) -> dict[str, tuple[RecordKey, np.ndarray]]:
        """The last ``weights`` tensor of each block/phase at ``step`` (default: the last step),
        keyed by the golden parameter name (``block0.encoder``, ``block0.head``, ``output``)."""
        if not self.steps:
            raise TraceError(f"{self.path}: the trace holds no steps")
        step = self.steps[-1] if step is None else step
        out: dict[str, tuple[RecordKey, np.ndarray]] = {}
        for key, arr in self.step_records(step):
            if key.name == "weights":
                out[param_name(key)] = (key, arr)
        return out


def param_name(key: RecordKey) -> str:
    """Golden parameter name of a ``weights`` record (``output``, ``<block>.encoder``, ``<block>.head``)."""
    if key.phase == "output_update":
        return key.block
    if key.phase == "encoder_update":
        return f"{key.block}.encoder"
    if key.phase == "head_update":
        return f"{key.block}.head"
    return f"{key.block}.{key.phase}"


def _span(steps: list[int]) -> str:
    return f"{steps[0]}..{steps[-1]}" if steps else "none"


def _parse_chunk(fpath: Path, data: bytes, info: ChunkInfo, number: int) -> list[Record]:
    import io

    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as exc:
        raise TraceError(f"{fpath}: not a readable .npz chunk (truncated or corrupted?): {exc}") from exc
    try:
        header = json.loads(str(arrays.pop(HEADER_KEY)))
        table = json.loads(str(arrays.pop(RECORDS_KEY)))
    except KeyError as exc:
        raise TraceError(f"{fpath}: chunk lacks {exc.args[0]}: not a nitro-hw trace chunk") from exc
    except json.JSONDecodeError as exc:
        raise TraceError(f"{fpath}: chunk header is not valid JSON: {exc}") from exc
    if (not isinstance(header, dict) or header.get("format") != FORMAT_NAME
            or header.get("format_version") != FORMAT_VERSION):
        raise TraceError(f"{fpath}: chunk header {header!r:.120} is not {FORMAT_NAME} v{FORMAT_VERSION}")
    if header.get("chunk") != number or tuple(header.get("steps", ())) != info.steps:
        raise TraceError(f"{fpath}: chunk header (chunk {header.get('chunk')}) does not match its index "
                         f"entry {number}: chunk files were swapped or mixed between traces")
    if not isinstance(table, list) or len(table) != info.records:
        raise TraceError(f"{fpath}: record table has {len(table) if isinstance(table, list) else '?'} "
                         f"entries, the index says {info.records}")
    values = {k[len(VALUES_PREFIX):]: v for k, v in arrays.items() if k.startswith(VALUES_PREFIX)}
    for dt, v in values.items():
        if dt not in ALLOWED_DTYPES or str(v.dtype) != dt or v.ndim != 1:
            raise TraceError(f"{fpath}: value array {VALUES_PREFIX}{dt} is {v.dtype} with {v.ndim} dims")
    out: list[Record] = []
    for row in table:
        try:
            step, block, phase, name, occ, dtype, shape, offset = row
            key = RecordKey(int(step), str(block), str(phase), str(name), int(occ))
            shape = tuple(int(n) for n in shape)
            offset = int(offset)
        except (TypeError, ValueError) as exc:
            raise TraceError(f"{fpath}: malformed record entry {row!r:.120}") from exc
        if key.step not in info.steps:
            raise TraceError(f"{fpath}: record {key.label()} outside the chunk's steps")
        size = math.prod(shape)
        pool = values.get(dtype)
        if pool is None or offset < 0 or any(n < 0 for n in shape) or offset + size > pool.shape[0]:
            raise TraceError(f"{fpath}: record {key.label()} ({dtype}{list(shape)} at {offset}) lies outside "
                             f"the stored {dtype} values")
        out.append((key, pool[offset:offset + size].reshape(shape)))
    return out


def open_trace(path: str | Path, verify: bool = True) -> Trace:
    """Open a trace directory (see :class:`Trace`)."""
    return Trace(path, verify=verify)

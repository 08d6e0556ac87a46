"""Streaming trace writer: one ``.npz`` chunk per ``chunk_steps`` steps, index rewritten atomically."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ..fileio import atomic_write_bytes, atomic_write_json
from .format import (
    CHUNK_PATTERN,
    FORMAT_NAME,
    FORMAT_VERSION,
    HEADER_KEY,
    INDEX_FILE,
    RECORDS_KEY,
    VALUES_PREFIX,
    RecordKey,
    TraceError,
    check_array,
    check_name,
)

DEFAULT_CHUNK_STEPS = 64
DEFAULT_MAX_CHUNK_BYTES = 256 << 20


_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed member timestamps: the same records give the same bytes


def write_npz(fileobj, arrays: dict[str, np.ndarray], compress: bool) -> None:
    """Write an ``.npz`` (readable by ``numpy.load``) with deterministic bytes.

    Unlike ``np.savez_compressed`` it uses deflate level 1 (several times faster, files a
    little larger) and fixed member timestamps.
    """
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(fileobj, "w", compression=method, allowZip64=True) as zf:
        for name, arr in arrays.items():
            info = zipfile.ZipInfo(name + ".npy", date_time=_ZIP_EPOCH)
            info.compress_type = method
            if compress:  # public attribute since Python 3.13, private before
                setattr(info, "compress_level" if hasattr(info, "compress_level") else "_compresslevel", 1)
            with zf.open(info, "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asanyarray(arr), allow_pickle=False)


class TraceWriter:
    """Write a trace directory record by record, holding at most one chunk in memory.

    Records must arrive in execution order with non-decreasing ``step``. A chunk is
    written (atomically, then listed in ``index.json``, also atomically) once it holds
    ``chunk_steps`` steps or ``max_chunk_bytes`` bytes and the next step starts; a step is
    never split across chunks. :meth:`close` writes the last chunk and marks the index
    ``complete``. A crash leaves a readable trace of every chunk written so far.

    Parameters
    ----------
    path : str or Path
        Trace directory; created. It must not already hold a trace unless ``overwrite``.
    meta : dict, optional
        JSON-able description of the run (source, model config, seed, ...), stored in the index.
    chunk_steps : int
        Steps per chunk file.
    compress : bool
        Deflate the chunk files (default) or store them uncompressed.
    overwrite : bool
        Replace an existing trace directory.
    max_chunk_bytes : int
        Flush a chunk early (at a step boundary) when its arrays exceed this size.

    Examples
    --------
    >>> with TraceWriter(tmp / "run", meta={"source": "golden"}) as w:   # doctest: +SKIP
    ...     w.add(0, "block0", "forward", "z", z)
    """

    def __init__(self, path: str | Path, meta: dict[str, Any] | None = None, *,
                 chunk_steps: int = DEFAULT_CHUNK_STEPS, compress: bool = True, overwrite: bool = False,
                 max_chunk_bytes: int = DEFAULT_MAX_CHUNK_BYTES) -> None:
        if not isinstance(chunk_steps, int) or chunk_steps <= 0:
            raise TraceError(f"chunk_steps must be a positive int, got {chunk_steps!r}")
        if max_chunk_bytes <= 0:
            raise TraceError(f"max_chunk_bytes must be positive, got {max_chunk_bytes!r}")
        self.path = Path(path)
        meta = dict(meta or {})
        try:
            json.dumps(meta)
        except TypeError as exc:
            raise TraceError(f"meta must be JSON-serialisable: {exc}") from exc
        if self.path.exists():
            if not self.path.is_dir():
                raise TraceError(f"{self.path}: exists and is not a directory")
            if any(self.path.iterdir()):
                if not overwrite:
                    raise TraceError(f"{self.path}: directory is not empty "
                                     "(pass overwrite=True to replace it)")
                if not (self.path / INDEX_FILE).is_file():
                    raise TraceError(f"{self.path}: not empty and not a trace; refusing to delete it")
                shutil.rmtree(self.path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.meta = meta
        self.chunk_steps = chunk_steps
        self.compress = compress
        self.max_chunk_bytes = max_chunk_bytes
        self._chunks: list[dict[str, Any]] = []
        self._buf: list[tuple[RecordKey, np.ndarray]] = []
        self._buf_steps: list[int] = []
        self._buf_bytes = 0
        self._step: int | None = None
        self._seen: dict[tuple[str, str, str], int] = {}
        self._closed = False
        self._write_index(complete=False)

    # ------------------------------------------------------------------ writing
    def add(self, step: int, block: str, phase: str, name: str, value: np.ndarray) -> RecordKey:
        """Record one tensor (copied). Returns its key.

        Raises
        ------
        TraceError
            On a closed writer, a decreasing step, a bad name or a non-integer array.
        """
        if self._closed:
            raise TraceError(f"{self.path}: trace writer is closed")
        if isinstance(step, bool) or not isinstance(step, int | np.integer) or step < 0:
            raise TraceError(f"step must be a non-negative int, got {step!r}")
        step = int(step)
        check_name(block, "block")
        check_name(phase, "phase")
        check_name(name, "name")
        arr = check_array(value, f"step {step} {block}/{phase}/{name}")
        if self._step is None or step != self._step:
            if self._step is not None and step < self._step:
                raise TraceError(f"{self.path}: step {step} after step {self._step}: steps must not decrease")
            if len(self._buf_steps) >= self.chunk_steps or self._buf_bytes >= self.max_chunk_bytes:
                self._flush()
            self._step = step
            self._buf_steps.append(step)
            self._seen = {}
        occ = self._seen.get((block, phase, name), 0)
        self._seen[(block, phase, name)] = occ + 1
        key = RecordKey(step, block, phase, name, occ)
        self._buf.append((key, arr))
        self._buf_bytes += arr.nbytes
        return key

    def close(self) -> None:
        """Write the last chunk and mark the trace complete (idempotent)."""
        if self._closed:
            return
        self._flush()
        self._closed = True
        self._write_index(complete=True)

    def __enter__(self) -> TraceWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:  # keep what was flushed; the index stays "complete": false
            self._closed = True

    # ------------------------------------------------------------------ internals
    def _flush(self) -> None:
        if not self._buf:
            return
        number = len(self._chunks)
        fname = CHUNK_PATTERN.format(number)
        # one flat array per dtype holding every record's values back to back (few npz members
        # make reading fast); the record table gives each record's dtype, shape and offset
        records, parts, sizes = [], {}, {}
        for k, a in self._buf:
            dt = str(a.dtype)
            off = sizes.get(dt, 0)
            records.append([k.step, k.block, k.phase, k.name, k.occurrence, dt, list(a.shape), off])
            parts.setdefault(dt, []).append(a.reshape(-1))
            sizes[dt] = off + a.size
        header = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "chunk": number,
                  "steps": self._buf_steps}
        arrays = {HEADER_KEY: np.array(json.dumps(header)), RECORDS_KEY: np.array(json.dumps(records))}
        for dt, p in parts.items():
            arrays[VALUES_PREFIX + dt] = np.concatenate(p)
        bio = io.BytesIO()
        write_npz(bio, arrays, self.compress)
        atomic_write_bytes(self.path / fname, lambda f: f.write(bio.getbuffer()))
        self._chunks.append({
            "file": fname, "first_step": self._buf_steps[0], "last_step": self._buf_steps[-1],
            "steps": list(self._buf_steps), "records": len(self._buf),
            "bytes": bio.getbuffer().nbytes, "sha256": hashlib.sha256(bio.getbuffer()).hexdigest(),
        })
        self._buf, self._buf_steps, self._buf_bytes = [], [], 0
        self._write_index(complete=False)

    def _write_index(self, complete: bool) -> None:
        atomic_write_json(self.path / INDEX_FILE, {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "complete": complete,
            "meta": self.meta,
            "chunk_steps": self.chunk_steps,
            "steps": sum(len(c["steps"]) for c in self._chunks),
            "records": sum(c["records"] for c in self._chunks),
            "chunks": self._chunks,
        })

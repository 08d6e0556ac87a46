"""The nitro-hw trace format (version 1): names, keys, validation and the on-disk layout.

A trace is a directory::

    <trace>/index.json            header + list of complete chunks (rewritten atomically)
    <trace>/chunk-000000.npz      records of a run of consecutive steps
    <trace>/chunk-000001.npz      ...

``index.json`` is the single source of truth: a chunk file not listed there (a run that
crashed while writing it) is ignored, and every listed chunk carries its SHA-256, so a
truncated or altered chunk is detected with an error naming the file. The full format is
documented in ``golden/README.md``.

A *record* is one integer tensor, identified by a :class:`RecordKey`
``(step, block, phase, name, occurrence)``; ``occurrence`` counts repeats of the same
``(block, phase, name)`` within one step (a CNN in reference-compat mode updates its
classifier blocks twice per step, so the second pass has ``occurrence == 1``).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FORMAT_NAME = "nitro-hw-trace"
FORMAT_VERSION = 1
INDEX_FILE = "index.json"
CHUNK_PATTERN = "chunk-{:06d}.npz"
RECORDS_KEY = "__records__"  # JSON list of records, in execution order
HEADER_KEY = "__header__"  # JSON {format, format_version, chunk, steps}
VALUES_PREFIX = "values_"  # values_<dtype>: every record of that dtype, flattened, back to back

ALLOWED_DTYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")


class TraceError(Exception):
    """A trace is missing, truncated, corrupt, of another format or used wrongly.

    The message always names the file (or the parameter) at fault.
    """


@dataclass(frozen=True, order=True)
class RecordKey:
    """Identity of one traced tensor.

    Attributes
    ----------
    step : int
        Training step (0-based, as counted by the recorder).
    block : str
        ``block<i>``, ``conv<i>`` or ``output``.
    phase : str
        ``forward``, ``head``, ``head_update``, ``encoder_update``, ``output_update``.
    name : str
        Tensor name within the phase (``z``, ``weights``, ...).
    occurrence : int
        0 for the first ``(block, phase, name)`` of the step, 1 for a repeat, ...
    """

    step: int
    block: str
    phase: str
    name: str
    occurrence: int = 0

    def label(self) -> str:
        """``step 3 block0/forward/z`` (with ``#1`` for a repeated tensor)."""
        return f"step {self.step} {self.path()}"

    def path(self) -> str:
        """``block0/forward/z`` (``#<occurrence>`` appended when non-zero)."""
        suffix = f"#{self.occurrence}" if self.occurrence else ""
        return f"{self.block}/{self.phase}/{self.name}{suffix}"


def check_name(value: object, what: str) -> str:
    """Validate a block / phase / tensor name (letters, digits, ``_`` and ``.``)."""
    if not isinstance(value, str) or not _NAME_RE.match(value):
        raise TraceError(f"{what} must be a name of letters, digits, '_' or '.', got {value!r}")
    return value


def check_array(value: object, what: str) -> np.ndarray:
    """An integer ndarray of an allowed dtype (copied, C-contiguous, native byte order)."""
    if not isinstance(value, np.ndarray):
        raise TraceError(f"{what}: traced values must be numpy integer arrays, got {type(value).__name__}")
    if value.dtype.name not in ALLOWED_DTYPES:
        raise TraceError(f"{what}: dtype {value.dtype} is not an allowed integer dtype "
                         f"({', '.join(ALLOWED_DTYPES)})")
    return np.array(value, dtype=value.dtype.newbyteorder("="), order="C", copy=True)


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def index_path(path: str | Path) -> Path:
    """``<trace>/index.json`` for a trace directory (or the index file itself)."""
    p = Path(path)
    return p if p.name == INDEX_FILE else p / INDEX_FILE

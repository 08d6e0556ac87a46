"""Compare two traces (or a trace and a golden checkpoint) and find the first divergence.

Trace ``a`` is the reference ("expected"), ``b`` the one under test ("got"). Records are
matched by ``(step, block, phase, name, occurrence)``; the first divergence is the first
record, in ``a``'s execution order, whose dtype, shape or values differ, or that ``b``
lacks (records and steps only ``b`` has are reported after ``a``'s records of that step).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .format import INDEX_FILE, RecordKey, TraceError
from .reader import Record, Trace

KINDS = ("value", "dtype", "shape", "missing", "extra", "missing_step", "extra_step")


@dataclass(frozen=True)
class Divergence:
    """One tensor (or step) where ``b`` differs from ``a``.

    Attributes
    ----------
    kind : str
        ``value`` (same dtype and shape, different values), ``dtype``, ``shape``, ``missing``
        (only in a), ``extra`` (only in b), ``missing_step`` / ``extra_step``.
    step, block, phase, name, occurrence
        Where (block/phase/name are empty for a whole step).
    index : tuple of int or None
        First differing element (row-major order) for ``value`` and ``dtype``.
    expected, got : int or None
        Values of ``a`` and ``b`` at ``index``.
    count : int
        Number of differing elements (``value``/``dtype``), else 0.
    size : int
        Elements in ``a``'s tensor.
    detail : str
        Extra information (dtypes, shapes, parameter name).
    """

    kind: str
    step: int | None
    block: str = ""
    phase: str = ""
    name: str = ""
    occurrence: int = 0
    index: tuple[int, ...] | None = None
    expected: int | None = None
    got: int | None = None
    count: int = 0
    size: int = 0
    detail: str = ""

    @property
    def where(self) -> str:
        """``step 3 block0/forward/z``."""
        if not self.block:
            return f"step {self.step}"
        occ = f"#{self.occurrence}" if self.occurrence else ""
        return f"step {self.step} {self.block}/{self.phase}/{self.name}{occ}"

    def describe(self) -> str:
        """One-line human description."""
        if self.kind == "value":
            return (f"{self.where} index {list(self.index or ())}: expected {self.expected}, got {self.got} "
                    f"({self.count} of {self.size} elements differ)")
        if self.kind == "dtype":
            s = f"{self.where}: dtype differs ({self.detail})"
            if self.count:
                s += (f"; index {list(self.index or ())}: expected {self.expected}, got {self.got} "
                      f"({self.count} of {self.size} elements differ)")
            return s
        if self.kind == "shape":
            return f"{self.where}: shape differs ({self.detail})"
        if self.kind == "missing":
            return f"{self.where}: missing in b{' (' + self.detail + ')' if self.detail else ''}"
        if self.kind == "extra":
            return f"{self.where}: only in b{' (' + self.detail + ')' if self.detail else ''}"
        if self.kind == "missing_step":
            return f"{self.where}: step missing in b"
        return f"{self.where}: step only in b"

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (``where`` and ``message`` added)."""
        d = asdict(self)
        d["index"] = list(self.index) if self.index is not None else None
        d["where"] = self.where
        d["message"] = self.describe()
        return d


@dataclass
class CompareResult:
    """Outcome of a comparison.

    Attributes
    ----------
    a, b : str
        The inputs.
    mode : str
        ``trace`` (trace vs trace), ``checkpoint`` (weights vs a checkpoint's parameters).
    steps_compared, tensors_compared, elements_compared : int
    divergences : list of Divergence
        In order; only the first unless ``all`` was requested.
    complete : bool
        False when the comparison stopped at the first divergence.
    skipped : int
        Tensors of ``a`` that ``b`` lacks, not counted as divergences (``subset`` mode).
    notes : list of str
        Remarks that do not make the inputs differ (an unfinished trace, ...).
    """

    a: str
    b: str
    mode: str
    steps_compared: int = 0
    tensors_compared: int = 0
    elements_compared: int = 0
    divergences: list[Divergence] = field(default_factory=list)
    complete: bool = True
    notes: list[str] = field(default_factory=list)
    skipped: int = 0

    @property
    def identical(self) -> bool:
        """True when no divergence was found."""
        return not self.divergences

    @property
    def first(self) -> Divergence | None:
        """The first divergence, if any."""
        return self.divergences[0] if self.divergences else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary."""
        return {"a": self.a, "b": self.b, "mode": self.mode, "identical": self.identical,
                "steps_compared": self.steps_compared, "tensors_compared": self.tensors_compared,
                "elements_compared": self.elements_compared,
                "first_divergence": self.first.to_dict() if self.first else None,
                "divergences": [d.to_dict() for d in self.divergences],
                "stopped_at_first": not self.complete, "skipped_missing": self.skipped, "notes": self.notes}


def compare_arrays(key: RecordKey, a: np.ndarray, b: np.ndarray, detail: str = "") -> Divergence | None:
    """The divergence between two tensors at ``key`` (None when equal in dtype, shape and values)."""
    if a.shape != b.shape:
        return Divergence("shape", key.step, key.block, key.phase, key.name, key.occurrence, size=a.size,
                          detail=f"expected {list(a.shape)}, got {list(b.shape)}" + _sep(detail))
    same_dtype = a.dtype == b.dtype
    if same_dtype and np.array_equal(a, b):
        return None
    if same_dtype:
        neq = a != b
    else:
        neq = _wide(a) != _wide(b)
    count = int(np.count_nonzero(neq))
    kind = "value" if same_dtype else "dtype"
    if count == 0:
        return Divergence("dtype", key.step, key.block, key.phase, key.name, key.occurrence, size=a.size,
                          detail=f"expected {a.dtype}, got {b.dtype}; values equal" + _sep(detail))
    flat = int(np.flatnonzero(neq)[0])
    idx = tuple(int(i) for i in np.unravel_index(flat, a.shape)) if a.ndim else ()
    dt = "" if same_dtype else f"expected {a.dtype}, got {b.dtype}"
    return Divergence(kind, key.step, key.block, key.phase, key.name, key.occurrence, idx,
                      int(a.reshape(-1)[flat]), int(b.reshape(-1)[flat]), count, a.size,
                      dt + (_sep(detail) if dt else detail))


def _sep(detail: str) -> str:
    return f"; {detail}" if detail else ""


def _wide(x: np.ndarray) -> np.ndarray:
    return x.astype(object) if x.dtype == np.uint64 else x.astype(np.int64)


def _match_key(k: RecordKey) -> tuple[str, str, str, int]:
    return (k.block, k.phase, k.name, k.occurrence)


def compare_step(step: int, ra: list[Record], rb: list[Record], stop_first: bool,
                 result: CompareResult, subset: bool = False) -> None:
    """Compare the records of one step, appending divergences to ``result``.

    With ``subset``, records of ``a`` that ``b`` lacks are counted in ``result.skipped``
    instead of being divergences.
    """
    mb = {_match_key(k): (k, v) for k, v in rb}
    seen = set()
    for ka, va in ra:
        mk = _match_key(ka)
        if mk not in mb:
            if subset:
                result.skipped += 1
                continue
            result.divergences.append(Divergence("missing", step, ka.block, ka.phase, ka.name,
                                                 ka.occurrence, size=va.size))
        else:
            seen.add(mk)
            d = compare_arrays(ka, va, mb[mk][1])
            result.tensors_compared += 1
            result.elements_compared += va.size
            if d is not None:
                result.divergences.append(d)
        if stop_first and result.divergences:
            return
    for kb, vb in rb:
        if _match_key(kb) not in seen:
            result.divergences.append(Divergence("extra", step, kb.block, kb.phase, kb.name, kb.occurrence,
                                                 size=vb.size))
            if stop_first:
                return


def _merge_steps(ta: Trace, tb: Trace) -> Iterator[tuple[int, list[Record] | None, list[Record] | None]]:
    ia, ib = ta.iter_steps(), tb.iter_steps()
    na, nb = next(ia, None), next(ib, None)
    while na is not None or nb is not None:
        if nb is None or (na is not None and na[0] < nb[0]):
            yield na[0], na[1], None
            na = next(ia, None)
        elif na is None or nb[0] < na[0]:
            yield nb[0], None, nb[1]
            nb = next(ib, None)
        else:
            yield na[0], na[1], nb[1]
            na, nb = next(ia, None), next(ib, None)


def compare_traces(a: str | Path | Trace, b: str | Path | Trace, *, all_divergences: bool = False,
                   verify: bool = True, subset: bool = False) -> CompareResult:
    """Compare trace ``b`` against reference trace ``a``.

    Parameters
    ----------
    a, b : path or Trace
        Trace directories (or opened traces).
    all_divergences : bool
        Find every differing tensor (default: stop at the first).
    verify : bool
        Check chunk checksums while reading.
    subset : bool
        ``b`` observes only some tensors (a hardware trace port): tensors of ``a`` missing in ``b``
        are skipped (counted in ``skipped``), everything ``b`` has must match.

    Returns
    -------
    CompareResult

    Raises
    ------
    TraceError
        An input is missing, corrupted or not a trace.
    """
    ta = a if isinstance(a, Trace) else Trace(a, verify=verify)
    tb = b if isinstance(b, Trace) else Trace(b, verify=verify)
    result = CompareResult(str(ta.path), str(tb.path), "trace")
    for t, label in ((ta, "a"), (tb, "b")):
        if not t.complete:
            result.notes.append(f"trace {label} ({t.path}) was not closed by its writer (run interrupted?)")
    stop_first = not all_divergences
    if len(ta.chunks) == len(tb.chunks) and all(
            x.sha256 == y.sha256 and x.steps == y.steps for x, y in zip(ta.chunks, tb.chunks, strict=True)):
        # byte-identical chunk files (size and SHA-256 checked) hold identical records
        if verify:
            for i in range(len(ta.chunks)):
                ta.verify_chunk(i)
                tb.verify_chunk(i)
        result.tensors_compared = ta.num_records
        result.steps_compared = len(ta.steps)
        result.notes.append("chunk files are byte-identical (SHA-256): records not decoded one by one")
        return result
    for step, ra, rb in _merge_steps(ta, tb):
        if ra is None:
            result.divergences.append(Divergence("extra_step", step))
        elif rb is None:
            result.divergences.append(Divergence("missing_step", step))
        else:
            result.steps_compared += 1
            compare_step(step, ra, rb, stop_first, result, subset)
        if stop_first and result.divergences:
            result.complete = False
            break
    return result


def load_checkpoint_params(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Parameters and metadata of a golden checkpoint ``.npz`` (errors as :class:`TraceError`)."""
    from ..golden.checkpoint import CheckpointError, load_checkpoint

    try:
        ck = load_checkpoint(path)
    except CheckpointError as exc:
        raise TraceError(str(exc)) from exc
    return ck.parameters, {"epoch": ck.epoch, "model": ck.meta.get("model")}


def compare_trace_checkpoint(trace: str | Path | Trace, ckpt: str | Path, *, step: int | None = None,
                             all_divergences: bool = False, trace_is_a: bool = True,
                             verify: bool = True) -> CompareResult:
    """Compare a trace's weights at ``step`` (default: its last step) with a checkpoint's parameters.

    The ``weights`` records map to parameter names as ``output_update`` -> ``output``,
    ``head_update`` -> ``<block>.head``, ``encoder_update`` -> ``<block>.encoder`` (the last
    occurrence wins). ``trace_is_a`` says which side is the reference.
    """
    t = trace if isinstance(trace, Trace) else Trace(trace, verify=verify)
    params, info = load_checkpoint_params(ckpt)
    weights = t.last_weights(step)
    result = CompareResult(str(t.path) if trace_is_a else str(ckpt), str(ckpt) if trace_is_a else str(t.path),
                           "checkpoint", steps_compared=1)
    result.notes.append(f"weights of trace step {step if step is not None else t.steps[-1]} vs checkpoint "
                        f"after epoch {info['epoch']}")
    stop_first = not all_divergences
    names = list(weights) + [n for n in params if n not in weights]
    for n in names:
        if n in weights and n in params:
            key, w = weights[n]
            pa, pb = (w, params[n]) if trace_is_a else (params[n], w)
            d = compare_arrays(key, pa, pb, detail=f"parameter {n}")
            result.tensors_compared += 1
            result.elements_compared += w.size
        elif n in weights:
            key, w = weights[n]
            d = Divergence("missing" if trace_is_a else "extra", key.step, key.block, key.phase,
                           key.name, key.occurrence, size=w.size,
                           detail=f"no parameter {n} in the checkpoint")
        else:
            kind = "extra" if trace_is_a else "missing"
            d = Divergence(kind, step if step is not None else t.steps[-1], n, "", "weights",
                           size=params[n].size, detail=f"parameter {n} has no weights record in the trace")
        if d is not None:
            result.divergences.append(d)
            if stop_first:
                result.complete = False
                break
    return result


def input_kind(path: str | Path) -> str:
    """``trace`` for a trace directory (or its index.json), ``checkpoint`` for an ``.npz`` file.

    Raises
    ------
    TraceError
        The path does not exist or is neither.
    """
    p = Path(path)
    if p.is_dir() or p.name == INDEX_FILE:
        return "trace"
    if p.is_file() and p.suffix == ".npz":
        return "checkpoint"
    if not p.exists():
        raise TraceError(f"{p}: no such trace directory or checkpoint file")
    raise TraceError(f"{p}: expected a trace directory (holding {INDEX_FILE}) or a checkpoint .npz")


def compare_paths(a: str | Path, b: str | Path, *, all_divergences: bool = False, step: int | None = None,
                  verify: bool = True, subset: bool = False) -> CompareResult:
    """Compare two inputs, each a trace directory or a golden checkpoint ``.npz``.

    ``subset`` (two traces only) skips the tensors of ``a`` that ``b`` does not record.
    """
    ka, kb = input_kind(a), input_kind(b)
    if ka == "trace" and kb == "trace":
        if step is not None:
            raise TraceError("--step applies only when one input is a checkpoint")
        return compare_traces(a, b, all_divergences=all_divergences, verify=verify, subset=subset)
    if subset:
        raise TraceError("--subset applies only to two traces")
    if ka == "trace":
        return compare_trace_checkpoint(a, b, step=step, all_divergences=all_divergences, verify=verify)
    if kb == "trace":
        return compare_trace_checkpoint(b, a, step=step, all_divergences=all_divergences, trace_is_a=False,
                                        verify=verify)
    pa, _ = load_checkpoint_params(a)
    pb, _ = load_checkpoint_params(b)
    result = CompareResult(str(a), str(b), "checkpoint")
    for n in list(pa) + [n for n in pb if n not in pa]:
        key = RecordKey(0, n, "", "weights")
        if n not in pb or n not in pa:
            d = Divergence("missing" if n not in pb else "extra", None, n, "", "weights",
                           detail=f"parameter {n}")
        else:
            d = compare_arrays(key, pa[n], pb[n], detail=f"parameter {n}")
            d = d if d is None else Divergence(**{**asdict(d), "step": None})
            result.tensors_compared += 1
            result.elements_compared += pa[n].size
        if d is not None:
            result.divergences.append(d)
            if not all_divergences:
                result.complete = False
                break
    return result


def format_result(r: CompareResult, limit: int = 50) -> str:
    """Human-readable report of a comparison."""
    lines = []
    if r.identical:
        elements = f", {r.elements_compared} elements" if r.elements_compared else ""
        lines.append(f"identical: {r.steps_compared} steps, {r.tensors_compared} tensors{elements} "
                     f"compared ({r.mode})")
    else:
        f = r.first
        lines.append(f"DIFFER ({r.mode}): first divergence at {f.where}")
        lines.append(f"  {f.describe()}")
        if len(r.divergences) > 1:
            lines.append(f"  {len(r.divergences)} differing tensors/steps:")
            for d in r.divergences[:limit]:
                lines.append(f"    {d.describe()}")
            if len(r.divergences) > limit:
                lines.append(f"    ... {len(r.divergences) - limit} more (use --json for all)")
        elif not r.complete:
            lines.append("  (stopped at the first divergence; --all lists every differing tensor)")
    if r.skipped:
        lines.append(f"note: {r.skipped} tensors of a are not recorded in b (--subset) and were skipped")
    for n in r.notes:
        lines.append(f"note: {n}")
    lines.append(f"a: {r.a}")
    lines.append(f"b: {r.b}")
    return "\n".join(lines)

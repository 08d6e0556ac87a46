"""Trace format: exact round trip, streaming chunks, and clear errors on bad or damaged files."""

import json
import shutil

import numpy as np
import pytest

from nitro_hw.cli import main
from nitro_hw.trace import TraceError, TraceWriter, open_trace
from nitro_hw.trace.format import INDEX_FILE, RecordKey
from nitro_hw.trace.golden_recorder import GoldenRecorder


def _synthetic(rng: np.random.RandomState, steps: int):
    """(step, block, phase, name, array) records with every dtype, extremes, 0-d and empty arrays."""
    recs = []
    for step in range(steps):
        for dtype in ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"):
            info = np.iinfo(dtype)
            a = rng.randint(0, 256, size=(3, 5)).astype(dtype)
            a[0, 0], a[0, 1] = info.min, info.max
            recs.append((step, "block0", "forward", f"t_{dtype}", a))
        recs.append((step, "output", "output_update", "scalar", np.array(-(2**31), dtype=np.int32)))
        recs.append((step, "output", "output_update", "empty", np.zeros((0, 4), dtype=np.int8)))
        recs.append((step, "block0", "head", "y_hat", rng.randint(-127, 128, (4, 10)).astype(np.int8)))
        recs.append((step, "block0", "head", "y_hat", rng.randint(-127, 128, (4, 10)).astype(np.int8)))
    return recs


def _write(path, recs, **kw):
    with TraceWriter(path, {"source": "test"}, **kw) as w:
        for r in recs:
            w.add(*r)
    return path


def test_round_trip_is_exact_with_dtypes_and_order(tmp_path):
    recs = _synthetic(np.random.RandomState(0), 5)
    _write(tmp_path / "t", recs, chunk_steps=2)
    t = open_trace(tmp_path / "t")
    assert t.complete and t.steps == [0, 1, 2, 3, 4] and len(t.chunks) == 3
    assert t.meta == {"source": "test"}
    got = list(t.records())
    assert len(got) == len(recs)
    for (step, block, phase, name, arr), (key, val) in zip(recs, got, strict=True):
        assert (key.step, key.block, key.phase, key.name) == (step, block, phase, name)
        assert val.dtype == arr.dtype and val.shape == arr.shape and np.array_equal(val, arr)
    # a repeated (block, phase, name) in one step gets occurrence 1
    occ = [k.occurrence for k, _ in got if k.step == 0 and k.name == "y_hat"]
    assert occ == [0, 1]
    assert [k for k, _ in t.step_records(3)][0] == RecordKey(3, "block0", "forward", "t_int8", 0)


def test_values_are_copied_on_add(tmp_path):
    a = np.arange(6, dtype=np.int32)
    with TraceWriter(tmp_path / "t") as w:
        w.add(0, "b", "p", "w", a)
        a[:] = 99  # the golden model may update arrays in place later
    (key, val), = open_trace(tmp_path / "t").records()
    assert np.array_equal(val, np.arange(6, dtype=np.int32))


def test_streaming_writes_chunks_before_close(tmp_path):
    w = TraceWriter(tmp_path / "t", chunk_steps=2)
    for step in range(5):
        w.add(step, "block0", "forward", "z", np.full(4, step, dtype=np.int32))
    # steps 0-1 and 2-3 are on disk, step 4 is still buffered; the index says "not complete"
    t = open_trace(tmp_path / "t")
    assert not t.complete and t.steps == [0, 1, 2, 3]
    assert len(w._buf) == 1
    w.close()
    t = open_trace(tmp_path / "t")
    assert t.complete and t.steps == [0, 1, 2, 3, 4]


def test_writer_exception_keeps_flushed_chunks(tmp_path):
    with pytest.raises(RuntimeError):
        with TraceWriter(tmp_path / "t", chunk_steps=1) as w:
            w.add(0, "b", "p", "z", np.zeros(2, np.int8))
            w.add(1, "b", "p", "z", np.zeros(2, np.int8))
            raise RuntimeError("simulation crashed")
    t = open_trace(tmp_path / "t")
    assert t.steps == [0] and not t.complete


@pytest.mark.parametrize("bad, match", [
    ((0, "b", "p", "z", np.zeros(2, np.float32)), "dtype float32"),
    ((0, "b", "p", "z", [1, 2]), "numpy integer arrays"),
    ((0, "b/x", "p", "z", np.zeros(2, np.int8)), "block must be a name"),
    ((0, "b", "p", "z#1", np.zeros(2, np.int8)), "name must be a name"),
    ((-1, "b", "p", "z", np.zeros(2, np.int8)), "step must be"),
    ((0, "b", "p", "z", np.zeros(2, bool)), "dtype bool"),
])
def test_bad_records_are_rejected(tmp_path, bad, match):
    with TraceWriter(tmp_path / "t") as w:
        with pytest.raises(TraceError, match=match):
            w.add(*bad)


def test_decreasing_step_and_closed_writer(tmp_path):
    w = TraceWriter(tmp_path / "t")
    w.add(3, "b", "p", "z", np.zeros(1, np.int8))
    with pytest.raises(TraceError, match="steps must not decrease"):
        w.add(2, "b", "p", "z", np.zeros(1, np.int8))
    w.close()
    with pytest.raises(TraceError, match="closed"):
        w.add(4, "b", "p", "z", np.zeros(1, np.int8))


def test_writer_refuses_to_clobber(tmp_path):
    _write(tmp_path / "t", [(0, "b", "p", "z", np.zeros(1, np.int8))])
    with pytest.raises(TraceError, match="not empty"):
        TraceWriter(tmp_path / "t")
    TraceWriter(tmp_path / "t", overwrite=True).close()
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "precious.txt").write_text("x")
    with pytest.raises(TraceError, match="not a trace"):
        TraceWriter(tmp_path / "other", overwrite=True)
    with pytest.raises(TraceError, match="JSON"):
        TraceWriter(tmp_path / "m", {"x": object()})


# ----------------------------------------------------------------------- damaged files
@pytest.fixture
def trace(tmp_path):
    return _write(tmp_path / "t", _synthetic(np.random.RandomState(1), 4), chunk_steps=2)


def _read_all(path, verify=True):
    t = open_trace(path, verify=verify)
    return list(t.records())


def test_truncated_chunk_names_the_file(trace):
    chunk = trace / "chunk-000001.npz"
    data = chunk.read_bytes()
    chunk.write_bytes(data[: len(data) // 2])
    with pytest.raises(TraceError, match=r"chunk-000001\.npz.*truncated"):
        _read_all(trace)
    with pytest.raises(TraceError, match=r"chunk-000001\.npz: not a readable \.npz"):
        _read_all(trace, verify=False)


def test_corrupted_chunk_names_the_file(trace):
    chunk = trace / "chunk-000000.npz"
    data = bytearray(chunk.read_bytes())
    data[len(data) // 2] ^= 0x01
    chunk.write_bytes(bytes(data))
    with pytest.raises(TraceError, match=r"chunk-000000\.npz: chunk SHA-256 differs"):
        _read_all(trace)


def test_missing_chunk_and_index(trace):
    (trace / "chunk-000001.npz").unlink()
    with pytest.raises(TraceError, match=r"chunk-000001\.npz: chunk file listed .* is missing"):
        _read_all(trace)
    (trace / INDEX_FILE).unlink()
    with pytest.raises(TraceError, match="index.json: trace index not found"):
        open_trace(trace)


def test_truncated_index(trace):
    text = (trace / INDEX_FILE).read_text()
    (trace / INDEX_FILE).write_text(text[: len(text) // 2])
    with pytest.raises(TraceError, match=r"index\.json: trace index is not valid JSON"):
        open_trace(trace)


@pytest.mark.parametrize("edit, match", [
    (lambda d: d.update(format_version=2), "format_version 2, this nitro_hw reads 1"),
    (lambda d: d.update(format="something-else"), "not a nitro-hw trace index"),
    (lambda d: d.pop("chunks"), "field 'chunks' missing"),
    (lambda d: d["chunks"][0].pop("sha256"), "chunk entry 0 is malformed"),
    (lambda d: d["chunks"][0].update(file="../x.npz"), "unsafe file"),
])
def test_foreign_or_mismatched_index(trace, edit, match):
    index = json.loads((trace / INDEX_FILE).read_text())
    edit(index)
    (trace / INDEX_FILE).write_text(json.dumps(index))
    with pytest.raises(TraceError, match=match):
        open_trace(trace)


def test_chunk_from_another_trace_is_detected(trace, tmp_path):
    other = _write(tmp_path / "o", _synthetic(np.random.RandomState(2), 4), chunk_steps=2)
    shutil.copy(other / "chunk-000000.npz", trace / "chunk-000001.npz")
    index = json.loads((trace / INDEX_FILE).read_text())
    c = trace / "chunk-000001.npz"
    index["chunks"][1].update(bytes=c.stat().st_size,
                              sha256=__import__("hashlib").sha256(c.read_bytes()).hexdigest())
    (trace / INDEX_FILE).write_text(json.dumps(index))
    with pytest.raises(TraceError, match=r"chunk-000001\.npz: chunk header .* does not match"):
        _read_all(trace)


def test_plain_file_and_npz_without_header(tmp_path):
    f = tmp_path / "x.txt"
    f.write_text("hello")
    with pytest.raises(TraceError, match="not a trace directory"):
        open_trace(f)


def test_cli_compare_reports_damage_without_traceback(trace, tmp_path, capsys):
    good = tmp_path / "good"
    shutil.copytree(trace, good)
    chunk = trace / "chunk-000000.npz"
    chunk.write_bytes(chunk.read_bytes()[:100])
    assert main(["compare", str(good), str(trace)]) == 2
    err = capsys.readouterr().err
    assert "chunk-000000.npz" in err and "Traceback" not in err
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    assert main(["compare", str(good), str(tmp_path / "junk.npz")]) == 2
    assert "junk.npz" in capsys.readouterr().err
    assert main(["compare", str(good), str(tmp_path / "nothing")]) == 2
    assert "nothing" in capsys.readouterr().err


def test_golden_recorder_with_synthetic_hook_calls(tmp_path):
    with TraceWriter(tmp_path / "t") as w:
        rec = GoldenRecorder(w)
        for step in range(3):
            hook = rec.hook(step)
            hook("block0", "forward", "z", np.full((2, 3), step, np.int32))
            hook("output", "output_update", "weights", np.full((10, 3), -step, np.int32))
    t = open_trace(tmp_path / "t")
    assert t.steps == [0, 1, 2] and rec.calls == 6
    w2 = t.last_weights()
    assert list(w2) == ["output"] and np.array_equal(w2["output"][1], np.full((10, 3), -2, np.int32))

"""Decoding the training engine's trace port (tag, word address, lanes) into golden-named tensors.

Rows are built from a golden trace with the program compiler's own layouts, shuffled, and fed
through a HardwareRecorder with the program's RowTensors; the result must equal the golden
tensors the engine writes back (compare in subset mode), and a one-LSB error in one lane of one
row must be located at its tensor element.
"""

import numpy as np
import pytest

from nitro_hw.compiler import compile_mlp
from nitro_hw.compiler.layout import row_layout, wf_layout
from nitro_hw.golden.zoo import get_config
from nitro_hw.trace import TraceWriter, compare_traces, open_trace
from nitro_hw.trace.engine_port import engine_row_tensors, engine_trace_port
from nitro_hw.trace.golden_recorder import record_golden_trace
from nitro_hw.trace.hw_recorder import HardwareRecorder, TagMap


@pytest.fixture(scope="module")
def golden(tmp_path_factory):
    return record_golden_trace("mlp-digits", tmp_path_factory.mktemp("g") / "t", steps=2, seed=1)


def _engine_beats(golden, program, rng, flip=None):
    """(tag, index, lanes) beats of every training-step row, in a random order within each tensor."""
    rows = engine_row_tensors(program)
    n = program.n
    beats = []
    for step, recs in open_trace(golden).iter_steps():
        by_name = {(k.block, k.phase, k.name): v for k, v in recs if k.occurrence == 0}
        for tag, rt in rows.items():
            t = rt.tensor
            arr = by_name[(t.block, t.phase, t.name)]
            lanes = wf_layout(arr, n) if t.name == "weights" else row_layout(arr, n)
            assert lanes.shape[0] == rt.rows
            lanes = lanes.astype(np.int64)
            if flip is not None and flip[0] == step and flip[1] == (t.block, t.phase, t.name):
                lanes[flip[2], flip[3]] ^= 1
            for r in rng.permutation(rt.rows):
                beats.append((step, tag, rt.base + int(r), [int(v) & 0xFFFFFFFF for v in lanes[r]]))
    return beats


def _record(path, program, beats):
    rec = HardwareRecorder(TraceWriter(path, {"source": "engine-model"}), TagMap({}), program.n, 32,
                           row_tensors=engine_row_tensors(program))
    for _, tag, index, lanes in beats:
        rec.add_beat(tag, lanes, index=index)  # no step field: steps counted from the first tag
    rec.close()
    return path


def test_engine_rows_decode_to_golden_tensors(golden, tmp_path):
    program = compile_mlp(get_config("mlp-digits"), n=8)
    rows = engine_row_tensors(program)
    names = {(t.tensor.block, t.tensor.phase, t.tensor.name) for t in rows.values()}
    assert ("block0", "forward", "h") in names and ("output", "output_update", "weights") in names
    out = _record(tmp_path / "hw", program, _engine_beats(golden, program, np.random.RandomState(0)))
    r = compare_traces(golden, out, subset=True)
    assert r.identical, r.first and r.first.describe()
    assert r.tensors_compared == 2 * len(rows) and r.skipped == 2 * 35 - r.tensors_compared
    assert not compare_traces(golden, out).identical  # without --subset the unobserved tensors are missing
    spec = engine_trace_port(program)
    assert (spec.valid, spec.tag.signal, spec.index.signal, spec.data.width) == (
        "trace_valid", "trace_tag", "trace_index", 8 * 32)


def test_engine_row_error_is_located(golden, tmp_path):
    program = compile_mlp(get_config("mlp-digits"), n=8)
    # word 5 of block0's encoder weights in the WF layout (O=32, I=64, N=8): ot = 0, i = 5; lane 3 -> W[3, 5]
    flip = (1, ("block0", "encoder_update", "weights"), 5, 3)
    out = _record(tmp_path / "hw", program, _engine_beats(golden, program, np.random.RandomState(1), flip))
    d = compare_traces(golden, out, subset=True).first
    assert (d.step, d.block, d.phase, d.name, d.index, d.count) == (
        1, "block0", "encoder_update", "weights", (3, 5), 1)
    assert d.got == d.expected ^ 1

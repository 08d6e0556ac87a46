"""Hardware-side recording without a simulator: tag maps, beat assembly, port specs, wave parsing."""

import numpy as np
import pytest

from nitro_hw.trace import TraceError, TraceWriter, compare_traces, open_trace
from nitro_hw.trace.hw_recorder import HardwareRecorder, RowTensor, TagMap, TraceTensor, tensor_beats
from nitro_hw.trace.port import FieldSpec, TracePortSpec, trace_payload_layout
from nitro_hw.trace.wave import read_wave_beats, wave_to_trace


def _tensors(rng):
    a = rng.randint(-128, 128, (2, 5)).astype(np.int8)
    a[0, :2] = (-128, 127)
    b = rng.randint(-(2**31), 2**31, (7,), dtype=np.int64).astype(np.int32)
    b[:2] = (-(2**31), 2**31 - 1)
    c = rng.randint(0, 256, (3,)).astype(np.uint8)
    c[0] = 255
    return [("block0", "forward", "h", a), ("block0", "head_update", "grad", b),
            ("output", "forward", "u", c)]


def _reference(path, steps):
    rng = np.random.RandomState(0)
    per_step = [_tensors(rng) for _ in range(steps)]
    with TraceWriter(path) as w:
        for s, recs in enumerate(per_step):
            for r in recs:
                w.add(s, *r)
    return per_step


@pytest.mark.parametrize("lanes, lane_width, with_step", [(3, 32, True), (1, 32, False), (4, 40, False)])
def test_beats_round_trip(tmp_path, lanes, lane_width, with_step):
    per_step = _reference(tmp_path / "ref", 3)
    tags = TagMap.from_records(per_step[0])
    rec = HardwareRecorder(TraceWriter(tmp_path / "hw"), tags, lanes, lane_width)
    inv = {(t.block, t.phase, t.name): k for k, t in tags.items()}
    for s, recs in enumerate(per_step):
        for b, p, n, arr in recs:
            for beat in tensor_beats(arr, lanes, lane_width):
                rec.add_beat(inv[(b, p, n)], beat, s if with_step else None)
    rec.close()
    r = compare_traces(tmp_path / "ref", tmp_path / "hw")
    assert r.identical and r.tensors_compared == 9


def test_interleaved_tags_and_whole_tensors(tmp_path):
    per_step = _reference(tmp_path / "ref", 1)
    tags = TagMap.from_records(per_step[0])
    rec = HardwareRecorder(TraceWriter(tmp_path / "hw"), tags, lanes=2, lane_width=32)
    beats0 = tensor_beats(per_step[0][0][3], 2, 32)  # 5 beats
    beats1 = tensor_beats(per_step[0][1][3], 2, 32)  # 4 beats
    # tag 1 starts after tag 0 (tag 0 starts the step), and their beats interleave
    rec.add_beat(0, beats0[0])
    for i in range(4):
        rec.add_beat(1, beats1[i])
        rec.add_beat(0, beats0[i + 1])
    rec.add_tensor(0, 2, per_step[0][2][3])
    rec.close()
    got = [(k.path(), v) for k, v in open_trace(tmp_path / "hw").records()]
    assert [p for p, _ in got] == ["block0/head_update/grad", "block0/forward/h", "output/forward/u"]
    assert compare_traces(tmp_path / "ref", tmp_path / "hw", all_divergences=True).identical


def test_value_outside_dtype_is_kept_and_reported(tmp_path):
    tags = TagMap({0: TraceTensor("block0", "forward", "h", "int8", (2,))})
    rec = HardwareRecorder(TraceWriter(tmp_path / "hw"), tags, lanes=2, lane_width=32)
    rec.add_beat(0, [5, 300])  # 300 does not fit int8: a hardware bug must stay visible
    rec.close()
    with TraceWriter(tmp_path / "ref") as w:
        w.add(0, "block0", "forward", "h", np.array([5, 44], np.int8))
    d = compare_traces(tmp_path / "ref", tmp_path / "hw").first
    assert d.kind == "dtype" and d.index == (1,) and (d.expected, d.got) == (44, 300)


def test_recorder_errors(tmp_path):
    tags = TagMap({3: TraceTensor("block0", "forward", "z", "int32", (3,))})
    rec = HardwareRecorder(TraceWriter(tmp_path / "a"), tags, lanes=2)
    with pytest.raises(TraceError, match="tag 9 is not in the tag map"):
        rec.add_beat(9, [0, 0])
    with pytest.raises(TraceError, match="3 lanes, expected 2"):
        rec.add_beat(3, [0, 0, 0])
    rec.add_beat(3, [1, 2])
    with pytest.raises(TraceError, match=r"middle of tensors: tag 3 \(block0/forward/z, step 0: 2 of 3\)"):
        rec.close()
    with pytest.raises(TraceError, match="4 values, the tag map says 3"):
        HardwareRecorder(TraceWriter(tmp_path / "b"), tags).add_tensor(0, 3, [1, 2, 3, 4])


def test_tag_map_json(tmp_path):
    tags = TagMap({0: TraceTensor("block0", "forward", "x", "int8", (64, 64)),
                   7: {"block": "output", "phase": "output_update", "name": "weights", "dtype": "int32",
                       "shape": [10, 16]}})
    again = TagMap.from_dict(tags.to_dict())
    assert dict(again) == dict(tags) and again[7].size == 160
    (tmp_path / "t.json").write_text("{")
    with pytest.raises(TraceError, match=r"t\.json"):
        TagMap.load(tmp_path / "t.json")
    with pytest.raises(TraceError, match="dtype must be"):
        TraceTensor("b", "p", "n", "float32", (1,))
    with pytest.raises(TraceError, match="malformed"):
        TagMap({1: {"block": "b"}})
    with pytest.raises(TraceError, match="not a nitro-hw tag map"):
        TagMap.from_dict({"tags": {}})


def test_port_spec_from_layout_and_manifest():
    spec = TracePortSpec.from_layout("trace", tag_width=6, lanes=4, lane_width=32, step_width=8)
    assert spec.tag == FieldSpec("trace__payload", 0, 6)
    assert spec.step == FieldSpec("trace__payload", 6, 8)
    assert spec.data == FieldSpec("trace__payload", 14, 128)
    assert TracePortSpec.from_dict(spec.to_dict()) == spec
    assert trace_payload_layout(6, 4, 32, 8).size == 142
    ports = [{"name": n, "width": w, "dir": "out", "signed": False}
             for n, w in (("clk", 1), ("trace__valid", 1), ("trace__payload", 142), ("trace__ready", 1))]
    manifest = {"designs": {"eng": {"ports": ports}}}
    assert TracePortSpec.from_manifest(manifest, "eng", tag_width=6, step_width=8) == spec
    with pytest.raises(TraceError, match="no design 'x'"):
        TracePortSpec.from_manifest(manifest, "x")
    with pytest.raises(TraceError, match="trace__payload is 142 bits"):
        TracePortSpec.from_manifest(manifest, "eng", tag_width=8)
    with pytest.raises(TraceError, match="no port 'dbg__valid'"):
        TracePortSpec.from_manifest(manifest, "eng", "dbg")
    with pytest.raises(TraceError, match="data field is"):
        TracePortSpec("clk", "v", None, FieldSpec("p", 0, 4), FieldSpec("p", 4, 10), 2, 8)


VCD = """$timescale 1ns $end
$scope module top $end
$var wire 1 ! clk $end
$var wire 1 " v $end
$var wire 12 # p $end
$scope module inner $end
$var wire 1 $ clk $end
$upscope $end
$upscope $end
$enddefinitions $end
#0
0!
0"
b0 #
0$
#5
1!
#10
0!
1"
b000001000010 #
#15
1!
1"
b000011000011 #
#20
0!
#25
1!
0"
{last}
#30
0!
"""


def _spec():
    # p = [tag:4 | data: 2 lanes x 4 bits], no ready
    return TracePortSpec("clk", "v", None, FieldSpec("p", 0, 4), FieldSpec("p", 4, 8), 2, 4)


def test_wave_reader_samples_before_the_edge(tmp_path):
    f = tmp_path / "w.vcd"
    f.write_text(VCD.format(last="b111111111111 #"))
    beats = list(read_wave_beats(f, _spec()))
    # edge 15 sees what was set at 10; edge 25 sees what was set at 15 (valid drops at 25 itself)
    assert [(b.time, b.tag, b.lanes) for b in beats] == [(15, 2, (4, 0)), (25, 3, (12, 0))]
    tags = TagMap({2: TraceTensor("b", "p", "x", "int8", (1,)), 3: TraceTensor("b", "p", "y", "uint8", (2,))})
    out = wave_to_trace(f, _spec(), tags, tmp_path / "t")
    (k0, a0), (k1, a1) = open_trace(out).records()
    assert (k0.path(), a0.tolist(), k1.path(), a1.tolist()) == ("b/p/x", [4], "b/p/y", [12, 0])


def test_wave_reader_errors(tmp_path):
    f = tmp_path / "w.vcd"
    f.write_text(VCD.format(last="").replace("b000011000011 #", "bx #"))
    with pytest.raises(TraceError, match=r"w\.vcd: top\.p is .*unknown bits.* time 25"):
        list(read_wave_beats(f, _spec()))
    bad = TracePortSpec("clk", "valid_missing", None, FieldSpec("p", 0, 4), FieldSpec("p", 4, 8), 2, 4)
    with pytest.raises(TraceError, match="signal 'valid_missing' not found"):
        list(read_wave_beats(f, bad))
    junk = tmp_path / "junk.fst"
    junk.write_bytes(b"\x00garbage" * 10)
    with pytest.raises(TraceError, match=r"junk\.fst: not a readable"):
        list(read_wave_beats(junk, _spec()))
    with pytest.raises(TraceError, match="wave file not found"):
        list(read_wave_beats(tmp_path / "none.vcd", _spec()))


def _blocked(w: np.ndarray, n: int) -> np.ndarray:
    """A stand-in memory layout: ``W[O, I]`` as rows of ``n`` lanes, lane c = W[ot*n + c, i]."""
    o, i = w.shape
    return w.reshape(o // n, n, i).transpose(0, 2, 1).reshape(-1, n)


def _unblocked(lanes: np.ndarray, o: int, i: int, n: int) -> np.ndarray:
    return lanes.reshape(o // n, i, n).transpose(0, 2, 1).reshape(o, i)


def test_addressed_rows_in_any_order(tmp_path):
    """A port that writes tensors back as memory rows (tag, index, lanes), like the engine's."""
    rng = np.random.RandomState(4)
    n = 4
    w = [rng.randint(-(2**31), 2**31, (8, 3), dtype=np.int64).astype(np.int32) for _ in range(2)]
    h = [rng.randint(-128, 128, (4, 4)).astype(np.int8) for _ in range(2)]
    rows = {5: RowTensor(TraceTensor("block0", "encoder_update", "weights", "int32", (8, 3)), 100, 6,
                         lambda lanes: _unblocked(lanes, 8, 3, n)),
            2: RowTensor(TraceTensor("block0", "forward", "h", "int8", (4, 4)), 0, 4, lambda lanes: lanes)}
    rec = HardwareRecorder(TraceWriter(tmp_path / "hw"), TagMap({}), lanes=n, lane_width=32, row_tensors=rows)
    with TraceWriter(tmp_path / "ref") as ref:
        for step in range(2):
            ref.add(step, "block0", "forward", "h", h[step])
            ref.add(step, "block0", "encoder_update", "weights", w[step])
            for r in rng.permutation(4):  # rows arrive in any order
                rec.add_beat(2, [int(v) & 0xFFFFFFFF for v in h[step][r]], index=int(r))
            blocked = _blocked(w[step], n)
            for r in rng.permutation(6):
                rec.add_beat(5, [int(v) & 0xFFFFFFFF for v in blocked[r]], index=100 + int(r))
    rec.close()
    r = compare_traces(tmp_path / "ref", tmp_path / "hw")
    assert r.identical, r.first and r.first.describe()

    rec = HardwareRecorder(TraceWriter(tmp_path / "bad"), TagMap({}), lanes=n, row_tensors=rows)
    with pytest.raises(TraceError, match=r"row index 110 outside \[100, 106\)"):
        rec.add_beat(5, [0] * n, index=110)
    with pytest.raises(TraceError, match="has no index"):
        rec.add_beat(5, [0] * n)
    rec.add_beat(5, [0] * n, index=100)
    with pytest.raises(TraceError, match=r"weights, step 0: 1 of 6 rows"):
        rec.close()


def test_flat_port_from_manifest():
    ports = [{"name": n, "width": w, "dir": "out", "signed": False} for n, w in
             (("clk", 1), ("trace_valid", 1), ("trace_tag", 8), ("trace_index", 16), ("trace_data", 256))]
    manifest = {"designs": {"engine": {"ports": ports}}}
    spec = TracePortSpec.from_manifest(manifest, "engine", "trace")
    assert spec == TracePortSpec.flat("trace", tag_width=8, lanes=8, lane_width=32, index_width=16)
    assert spec.ready is None and spec.index == FieldSpec("trace_index", 0, 16)
    assert spec.decode({"trace_tag": 3, "trace_index": 7, "trace_data": (5 << 32) | 9}) == (
        3, [9, 5, 0, 0, 0, 0, 0, 0], None, 7)
    with pytest.raises(TraceError, match="not a multiple of lane_width 24"):
        TracePortSpec.from_manifest(manifest, "engine", "trace", lane_width=24)


FLAT_VCD = """$timescale 1ns $end
$scope module TOP $end
$var wire 1 ! clk $end
$var wire 1 " t_valid $end
$var wire 2 # t_tag $end
$var wire 2 $ t_index $end
$var wire 8 % t_data $end
$upscope $end
$enddefinitions $end
#0
0!
0"
b0 #
b0 $
b0 %
#5
1!
1"
b1 #
b1 $
b11111111 %
#10
0!
#15
1!
b0 $
b00000001 %
#20
0!
#25
1!
0"
#30
0!
"""


def test_wave_reader_flat_port_with_index(tmp_path):
    f = tmp_path / "flat.vcd"
    f.write_text(FLAT_VCD)
    spec = TracePortSpec.flat("t", tag_width=2, lanes=2, lane_width=4, index_width=2)
    beats = list(read_wave_beats(f, spec))
    assert [(b.time, b.tag, b.index, b.lanes) for b in beats] == [(15, 1, 1, (15, 15)), (25, 1, 0, (1, 0))]
    rows = {1: RowTensor(TraceTensor("b", "p", "w", "int8", (2, 2)), 0, 2, lambda lanes: lanes)}
    out = wave_to_trace(f, spec, TagMap({}), tmp_path / "t", row_tensors=rows)
    (key, arr), = open_trace(out).records()
    assert key.path() == "b/p/w" and arr.dtype == np.int8 and arr.tolist() == [[1, 0], [-1, -1]]


def test_cli_compares_a_wave_file(tmp_path, capsys):
    import json

    from nitro_hw.cli import main

    f = tmp_path / "w.vcd"
    f.write_text(VCD.format(last="b111111111111 #"))
    tags = TagMap({2: TraceTensor("b", "p", "x", "int8", (1,)), 3: TraceTensor("b", "p", "y", "uint8", (2,))})
    (tmp_path / "port.json").write_text(json.dumps(_spec().to_dict()))
    (tmp_path / "tags.json").write_text(json.dumps(tags.to_dict()))
    with TraceWriter(tmp_path / "ref") as w:
        w.add(0, "b", "p", "x", np.array([4], np.int8))
        w.add(0, "b", "p", "y", np.array([12, 1], np.uint8))
    args = ["compare", str(tmp_path / "ref"), str(f), "--port", str(tmp_path / "port.json"),
            "--tag-map", str(tmp_path / "tags.json")]
    assert main(args + ["--save-trace", str(tmp_path / "decoded")]) == 1
    assert "step 0 b/p/y index [1]: expected 1, got 0" in capsys.readouterr().out
    assert open_trace(tmp_path / "decoded").meta["source"] == "wave"
    assert main(args[:3]) == 2
    assert "needs --port and --tag-map" in capsys.readouterr().err

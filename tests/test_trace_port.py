"""Trace capture from simulation: cocotb monitor and wave files (FST from Icarus, VCD from Verilator).

A reference trace (int8/int32 tensors with extreme values, sizes that do not fill the last
beat) is driven through TracePortDemo's trace port; the trace recorded by the live cocotb
monitor and the trace extracted from the wave file must both equal the reference.
"""

import json

import numpy as np
import pytest
from amaranth.back import verilog

from nitro_hw.rtl_export import design_ports
from nitro_hw.tb.runner import env_params, run_cocotb
from nitro_hw.trace import TraceWriter, compare_traces, format_result, open_trace
from nitro_hw.trace.hw_recorder import TagMap
from nitro_hw.trace.port import TracePortSpec
from nitro_hw.trace.port_demo import TracePortDemo
from nitro_hw.trace.wave import read_wave_beats, wave_to_trace

TOP = "nitro_trace_port_demo"


def _reference(path, steps=3):
    rng = np.random.RandomState(11)
    recs = []
    for _ in range(steps):
        x = rng.randint(-128, 128, (3, 5)).astype(np.int8)
        x[0, :2] = (-128, 127)
        z = rng.randint(-(2**31), 2**31, (2, 7), dtype=np.int64).astype(np.int32)
        z[0, :2] = (-(2**31), 2**31 - 1)
        recs += [("block0", "forward", "x", x), ("block0", "forward", "z", z),
                 ("output", "output_update", "e", rng.randint(-128, 128, (1, 10)).astype(np.int8)),
                 ("output", "output_update", "weights", rng.randint(-999, 999, (4,)).astype(np.int32)),
                 ("block0", "head", "e", rng.randint(-128, 128, (2, 1)).astype(np.int8))]
    with TraceWriter(path, {"source": "reference"}) as w:
        n = len(recs) // steps
        for i, (b, p, nm, a) in enumerate(recs):
            w.add(i // n, b, p, nm, a)
    return path, TagMap.from_records(recs[: len(recs) // steps])


@pytest.mark.parametrize("sim, step_width", [("icarus", 8), ("verilator", 0)])
def test_trace_port_capture(sim, step_width, tmp_path):
    layout = {"tag_width": 6, "lanes": 4, "lane_width": 32, "step_width": step_width}
    ref, tags = _reference(tmp_path / "reference")
    demo = TracePortDemo(**layout)
    (tmp_path / f"{TOP}.v").write_text(verilog.convert(demo, name=TOP, emit_src=False))
    manifest = {"format_version": 1, "designs": {"trace_port_demo": {"ports": design_ports(demo)}}}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))

    params = {"reference": str(ref), "out": str(tmp_path / "monitor"), "tag_map": tags.to_dict(),
              "layout": layout, "seed": 5}
    res = run_cocotb(tmp_path / f"{TOP}.v", TOP, "test_trace_port", sim=sim, waves=True,
                     extra_env=env_params(params))
    assert res.tests == 1 and res.failed == 0
    assert res.waves is not None and res.waves.suffix == (".fst" if sim == "icarus" else ".vcd")

    # live cocotb monitor
    r = compare_traces(ref, tmp_path / "monitor")
    assert r.identical, format_result(r)
    assert open_trace(tmp_path / "monitor").meta["source"] == "cocotb"

    # wave file, with the port described from the manifest's port list
    spec = TracePortSpec.from_manifest(tmp_path / "manifest.json", "trace_port_demo", "trace", **layout)
    n_beats = sum(1 for _ in read_wave_beats(res.waves, spec))
    expected_beats = sum(-(-a.size // 4) for _, a in open_trace(ref).records())
    assert n_beats == expected_beats
    out = wave_to_trace(res.waves, spec, tags, tmp_path / "wave")
    r = compare_traces(ref, out)
    assert r.identical, format_result(r)
    assert r.tensors_compared == 15

"""The real training engine's trace port: live cocotb capture and FST extraction vs the golden trace.

Two training steps of mlp-digits on the 8x8 engine, once under Icarus and once under Verilator.
The traces recorded by the monitor in both runs, the one extracted from the Icarus FST wave file
(port described from the engine's port list) and the golden trace must all be identical for every
tensor the engine writes back.
"""

import numpy as np
import pytest

from nitro_hw.compiler import compile_mlp
from nitro_hw.golden.zoo import get_config
from nitro_hw.rtl_export import design_ports
from nitro_hw.tb.cosim import export_engine
from nitro_hw.tb.runner import env_params, run_cocotb
from nitro_hw.trace import compare_traces, format_result, open_trace
from nitro_hw.trace.engine_port import engine_row_tensors, engine_trace_port
from nitro_hw.trace.hw_recorder import TagMap
from nitro_hw.trace.port import TracePortSpec
from nitro_hw.trace.wave import wave_to_trace


@pytest.mark.slow
def test_engine_trace_port_matches_golden(tmp_path):
    """Icarus live capture, Verilator live capture, Icarus FST extraction and golden: all identical."""
    from nitro_hw.hw.engine import TrainingEngine

    steps = 2
    prog = compile_mlp(get_config("mlp-digits"), n=8)
    vpath = export_engine(prog, tmp_path / "rtl")
    runs = {}
    for sim in ("icarus", "verilator"):
        params = {"model": "mlp-digits", "n": 8, "steps": steps, "seed": 3,
                  "golden_out": str(tmp_path / f"golden-{sim}"), "hw_out": str(tmp_path / f"hw-{sim}")}
        runs[sim] = run_cocotb(vpath, "nitro_engine", "test_trace_engine", sim=sim, waves=(sim == "icarus"),
                               run_id=f"trace_engine_{sim}", extra_env=env_params(params))
        assert runs[sim].tests == 1

    rows = engine_row_tensors(prog)
    golden = tmp_path / "golden-icarus"
    r = compare_traces(golden, tmp_path / "golden-verilator", all_divergences=True)
    assert r.identical, format_result(r)  # the same golden steps in both runs
    for sim in ("icarus", "verilator"):
        r = compare_traces(golden, tmp_path / f"hw-{sim}", subset=True, all_divergences=True)
        assert r.identical, format_result(r)
        assert r.tensors_compared == steps * len(rows)
    r = compare_traces(tmp_path / "hw-icarus", tmp_path / "hw-verilator", all_divergences=True)
    assert r.identical and r.tensors_compared == steps * len(rows), format_result(r)
    assert {k.path() for k, _ in open_trace(tmp_path / "hw-icarus").records()} >= {
        "block0/forward/h", "block1/encoder_update/d_s", "output/output_update/weights"}

    engine = TrainingEngine(prog.n, prog.depths, weight_width=prog.weight_width)
    manifest = {"designs": {"engine": {"ports": design_ports(engine)}}}
    spec = TracePortSpec.from_manifest(manifest, "engine", "trace")
    assert spec == engine_trace_port(prog)
    wave = wave_to_trace(runs["icarus"].waves, spec, TagMap({}), tmp_path / "wave", row_tensors=rows)
    r = compare_traces(tmp_path / "hw-icarus", wave, all_divergences=True)
    assert r.identical, format_result(r)
    r = compare_traces(golden, wave, subset=True, all_divergences=True)
    assert r.identical, format_result(r)
    w = open_trace(wave).last_weights()
    assert w["block0.encoder"][1].dtype == np.int32 and w["block0.encoder"][1].shape == (32, 64)

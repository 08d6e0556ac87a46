"""The real training engine's trace port: live cocotb capture and FST extraction vs the golden trace.

Two training steps of mlp-digits on the 8x8 engine under Icarus. The trace recorded by the
monitor and the one extracted from the wave file (port described from the engine's port list)
must equal each other and, for every tensor the engine writes back, the golden trace.
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
    from nitro_hw.hw.engine import TrainingEngine

    steps = 2
    prog = compile_mlp(get_config("mlp-digits"), n=8)
    vpath = export_engine(prog, tmp_path / "rtl")
    params = {"model": "mlp-digits", "n": 8, "steps": steps, "seed": 3,
              "golden_out": str(tmp_path / "golden"), "hw_out": str(tmp_path / "hw")}
    res = run_cocotb(vpath, "nitro_engine", "test_trace_engine", sim="icarus", waves=True,
                     extra_env=env_params(params))
    assert res.tests == 1

    rows = engine_row_tensors(prog)
    r = compare_traces(tmp_path / "golden", tmp_path / "hw", subset=True, all_divergences=True)
    assert r.identical, format_result(r)
    assert r.tensors_compared == steps * len(rows)
    assert {k.path() for k, _ in open_trace(tmp_path / "hw").records()} >= {
        "block0/forward/h", "block1/encoder_update/d_s", "output/output_update/weights"}

    manifest = {"designs": {"engine": {"ports": design_ports(TrainingEngine(prog.n, prog.depths))}}}
    spec = TracePortSpec.from_manifest(manifest, "engine", "trace")
    assert spec == engine_trace_port(prog)
    wave = wave_to_trace(res.waves, spec, TagMap({}), tmp_path / "wave", row_tensors=rows)
    r = compare_traces(tmp_path / "hw", wave, all_divergences=True)
    assert r.identical, format_result(r)
    w = open_trace(wave).last_weights()
    assert w["block0.encoder"][1].dtype == np.int32 and w["block0.encoder"][1].shape == (32, 64)

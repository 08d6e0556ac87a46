"""Co-simulation of the serial engine (one MAC, one divider; the iCE40 build) against the golden trainer.

The same checks as ``test_engine_cosim.py``: every weight after every step, the on-chip
intermediate tensors, the inference-mode predictions, and the cycle model per phase (exact).
"""

import json

import pytest

from nitro_hw.cli import main
from nitro_hw.tb.cosim import cosim


def _check_clean(s: dict, steps: int) -> None:
    assert s["steps"] == steps
    assert s["mismatched_steps"] == 0, s["first_divergence"] or s.get("first_tensor_mismatch")
    assert s["flags"] == 0  # no weight overflowed its 16 bits, no SGD wrap
    assert s["prediction_mismatches"] == 0
    assert s["test_samples"] > 0
    assert s["engine_test_acc"] == s["golden_test_acc"]
    assert s["phase_cycles"]
    for ph in s["phase_cycles"]:
        assert ph["measured"] == ph["estimated"], ph  # the serial cycle model is exact
    assert s["cycles_per_step"] == s["estimated_cycles_per_step"]


@pytest.mark.slow
def test_serial_cosim_verilator_on_the_spram_model_with_backpressure(tmp_path):
    # the iCE40 form that nitro-hw synth builds (AF, AG and D on SB_SPRAM256KA instances, on the
    # behavioural model sim/models/SB_SPRAM256KA.v), the model's batch of 64, random stream stalls
    # (the engine writes a beat's lanes while AXI-Stream holds it, taking it with the last lane)
    s = cosim("mlp-digits", steps=3, sim="verilator", n=4, out=tmp_path, eval_batches=1, progress=False,
              engine="serial", spram_model=True, backpressure=True)
    _check_clean(s, 3)
    assert (s["engine"], s["spram_model"], s["array"]) == ("serial", True, "4x4")
    assert s["collision_check"] is None  # single-port memories: no read/write collision to poison
    text = (tmp_path / "rtl" / "nitro_engine.v").read_text()
    assert text.count("SB_SPRAM256KA ") == 4  # AF, AG: one each; D (32 bits): two
    assert s["mac_utilization"] <= 1.0  # one MAC per cycle


@pytest.mark.slow
def test_serial_cosim_icarus_batch_16(tmp_path):
    # Icarus runs the serial engine at about 30 k cycles per second: a batch of 16 (226 k cycles a
    # step) keeps this to a minute; exactly the RTL of the FPGA build (generic memories)
    s = cosim("mlp-digits", steps=1, sim="icarus", n=4, batch=16, out=tmp_path, eval_batches=1,
              progress=False, engine="serial")
    _check_clean(s, 1)
    assert s["batch"] == 16


@pytest.mark.slow
def test_serial_trace_port_reset_and_checker_self_test(tmp_path):
    # step 0: every trace record equals the golden tensor it names; step 1: reset half-way, restore,
    # rerun; step 2: a flipped weight bit must be reported at exactly that step, layer and index
    inject = {"step": 2, "layer": "block0.encoder", "index": [7, 9], "bit": 2}
    s = cosim("mlp-digits", steps=3, sim="verilator", n=4, out=tmp_path, eval_batches=1, progress=False,
              engine="serial", trace_step=0, reset_step=1, inject=inject)
    t = s["trace"]
    assert t["mismatches"] == 0, t["first_mismatch"]
    assert t["records"] == t["expected_records"] > 0
    assert s["mismatched_steps"] == 1
    d = s["first_divergence"]
    assert (d["step"], d["layer"], d["index"], d["phase"]) == (2, "block0.encoder", [7, 9], "encoder_update")
    assert d["got"] == d["expected"] ^ (1 << 2)


@pytest.mark.slow
def test_serial_cosim_8x8_tiles_32_bit_weights(tmp_path):
    # another tile size (8 lanes per word: the lane addressing, the host's 8-piece words) and
    # 32-bit weight memories (WF/WT 32 bits wide: the second MAC pass is 0 for them too)
    s = cosim("mlp-digits", steps=2, sim="verilator", n=8, batch=32, out=tmp_path, eval_batches=1,
              progress=False, engine="serial", weight_width=32)
    _check_clean(s, 2)
    assert (s["array"], s["weight_width"], s["batch"]) == ("8x8", 32, 32)


@pytest.mark.slow
def test_serial_cosim_cli(tmp_path, capsys):
    rc = main(["cosim", "--engine", "serial", "--steps", "2", "--sim", "verilator", "--eval-batches", "1",
               "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "serial engine, 4x4 tiles" in out and "mismatched steps: 0" in out
    s = json.loads((tmp_path / "cosim.json").read_text())
    assert (s["engine"], s["array"]) == ("serial", "4x4")
    _check_clean(s, 2)


def test_serial_cosim_rejects_bad_combinations(tmp_path, capsys):
    assert main(["cosim", "--engine", "serial", "--dsp", "MULT18X18D", "--steps", "1",
                 "--out", str(tmp_path)]) == 2
    assert "array engine" in capsys.readouterr().err
    assert main(["cosim", "--spram-model", "--steps", "1", "--out", str(tmp_path)]) == 2
    assert "serial engine" in capsys.readouterr().err
    assert main(["cosim", "--engine", "serial", "--array", "6x6", "--batch", "48", "--steps", "1",
                 "--out", str(tmp_path)]) == 2
    assert "4, 8, 16 or 32" in capsys.readouterr().err
    with pytest.raises(ValueError, match="engine"):
        cosim("mlp-digits", steps=1, engine="systolic", out=tmp_path)

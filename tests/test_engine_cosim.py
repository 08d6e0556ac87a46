"""Co-simulation of the training engine against the golden trainer (cocotb, Icarus and Verilator).

Every run compares all weights after every step bit for bit, the on-chip intermediate tensors
(h of every block, the last head error, the last d_s), and the engine's inference-mode
predictions against the golden model's; per-phase cycles are checked against the analytic model.
"""

import json

import pytest

from nitro_hw.cli import main
from nitro_hw.tb.cosim import cosim

COSIM_KEYS = {"simulator", "model", "array", "steps", "mismatched_steps", "first_divergence",
              "cycles_per_step", "estimated_cycles_per_step", "mac_utilization", "gemm_utilization",
              "sim_cycles_per_second",
              "engine_test_acc", "golden_test_acc"}


def _check_clean(s: dict, steps: int) -> None:
    assert s["steps"] == steps
    assert s["mismatched_steps"] == 0, s["first_divergence"] or s.get("first_tensor_mismatch")
    assert s["first_divergence"] is None
    assert s["flags"] & 0b1000 == 0  # the MAC array never refused a k-step
    assert s["prediction_mismatches"] == 0
    assert s["test_samples"] > 0
    assert s["engine_test_acc"] == s["golden_test_acc"]
    for ph in s["phase_cycles"]:
        assert ph["measured"] == ph["estimated"], ph  # the cycle model is exact
    assert s["cycles_per_step"] == s["estimated_cycles_per_step"]


@pytest.mark.slow
def test_cosim_cli_mlp_digits_verilator_20_steps(tmp_path, capsys):
    # the README's first command: nitro-hw cosim on digits, the whole test set in inference mode
    rc = main(["cosim", "--model", "mlp-digits", "--dataset", "digits", "--steps", "20", "--sim", "verilator",
               "--array", "8x8", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "mismatched steps: 0" in out
    s = json.loads((tmp_path / "cosim.json").read_text())
    assert COSIM_KEYS <= set(s)
    assert (s["simulator"], s["model"], s["array"]) == ("verilator", "mlp-digits", "8x8")
    assert s["collision_check"] is True  # no colliding block-RAM read was consumed
    _check_clean(s, 20)
    assert s["test_samples"] == 256  # floor(297 / 64) full test batches


def test_cosim_cli_rejects_bad_arguments(tmp_path, capsys):
    assert main(["cosim", "--array", "8x4", "--steps", "1", "--out", str(tmp_path)]) == 2
    assert "--array" in capsys.readouterr().err
    assert main(["cosim", "--model", "cnn-digits", "--steps", "1", "--out", str(tmp_path)]) == 2
    assert "MLP" in capsys.readouterr().err


@pytest.mark.slow
def test_cosim_mlp_digits_icarus_4_steps(tmp_path):
    # The model's own batch of 64 on exactly the RTL that synthesis builds (the other
    # co-simulations poison colliding reads). Icarus runs the engine at about 280 cycles per
    # second (8572 cycles a step: ~2.5 minutes); Verilator runs the 20-step training above.
    s = cosim("mlp-digits", steps=4, sim="icarus", n=8, out=tmp_path, eval_batches=1, progress=False,
              collision_check=False)
    _check_clean(s, 4)
    assert s["batch"] == 64 and s["collision_check"] is False


@pytest.mark.slow
def test_cosim_ecp5_multipliers_verilator(tmp_path):
    # the ECP5 form that nitro-hw synth --target ecp5-* builds: all 105 multipliers are MULT18X18D
    # instances with their own registers (behavioural model sim/models/MULT18X18D.v), with random
    # stream stalls so the dividers' clock enables are exercised
    s = cosim("mlp-digits", steps=3, sim="verilator", n=8, out=tmp_path, eval_batches=1, progress=False,
              hard_multiplier="MULT18X18D", backpressure=True)
    _check_clean(s, 3)
    assert s["hard_multiplier"] == "MULT18X18D"
    text = (tmp_path / "rtl" / "nitro_engine.v").read_text()
    # 64 MACs, 8 lanes x 16-bit SgdUpdate 5 (its gradient divider also scales), the instruction
    # decode's mt * nt
    assert text.count("MULT18X18D #(") == 8 * 8 + 8 * 5 + 1
    # and the 27 block-RAM slices of at least MIN_INSTANCE_BITS bits are DP16KD instances with
    # their output registers (behavioural model sim/models/DP16KD.v; Yosys infers the 4 smaller)
    assert text.count("DP16KD #(") == 27


@pytest.mark.slow
def test_cosim_mlp1_shape_verilator_2_steps(tmp_path):
    # MLP1 784-100-50-10, batch 64, 8x8 array, on synthetic int8 data (MNIST is not on the machine)
    s = cosim("mlp1", dataset="random", steps=2, sim="verilator", n=8, out=tmp_path, eval_batches=1,
              progress=False)
    _check_clean(s, 2)
    assert s["gemm_utilization"] >= 0.90
    assert s["mac_utilization"] >= 0.75


@pytest.mark.slow
def test_trace_port_reset_backpressure_and_checker_self_test(tmp_path):
    # step 0: every trace-port record (tag, word, lanes) equals the golden trace tensor it names;
    # step 1: reset half-way through the step, restore the weights, rerun: still bit-exact;
    # step 2: one bit of one weight word is flipped in the engine's memory after the step: the
    # comparison must report exactly that step, layer, index (a checker that cannot fail proves
    # nothing). All AXI-Stream traffic runs with random idle cycles and random tready.
    inject = {"step": 2, "layer": "block1.encoder", "index": [3, 5], "bit": 4}
    s = cosim("mlp-digits", steps=3, sim="verilator", n=8, out=tmp_path, eval_batches=1, progress=False,
              trace_step=0, reset_step=1, backpressure=True, inject=inject)
    t = s["trace"]
    assert t["mismatches"] == 0, t["first_mismatch"]
    assert t["records"] == t["expected_records"] > 0
    assert s["reset_step"] == 1
    assert s["mismatched_steps"] == 1
    d = s["first_divergence"]
    assert (d["step"], d["layer"], d["index"], d["phase"]) == (2, "block1.encoder", [3, 5], "encoder_update")
    assert d["got"] == d["expected"] ^ (1 << 4)
    assert s["first_tensor_mismatch"] is None

"""The ECP5 form of the units (MULT18X18D instances with their own registers) under cocotb.

``nitro-hw synth --target ecp5-*`` synthesizes this form, so it runs the same cocotb
testbenches against the golden model as the generic Verilog of ``rtl/``, with the behavioural
model ``sim/models/MULT18X18D.v`` for the primitive.
"""

import re

import pytest
from amaranth.back import verilog

from nitro_hw.fileio import atomic_write_text
from nitro_hw.hw.catalog import Design, get_design
from nitro_hw.hw.hard_multiplier import (
    ECP5,
    HardMultiplierPlatform,
    hard_multiplier_of,
    platform_for,
    simulation_model,
)
from nitro_hw.hw.mac_array import MacArray
from nitro_hw.rtl_export import to_verilog
from nitro_hw.tb.runner import REPO_ROOT, env_params, run_cocotb

MODEL = simulation_model("MULT18X18D")

# design -> cocotb tests in its testbench
UNITS = {"divider": 3, "scaler": 3, "sgd_update": 4, "sgd_update16": 4}


def _instances(text: str) -> int:
    return len(re.findall(r"^\s*MULT18X18D\s", text, flags=re.M))


def _run(design: Design, sim: str, tmp_path, **extra):
    text, component = to_verilog(design, ECP5)
    atomic_write_text(tmp_path / f"{design.name}.v", text)
    params = {**design.params, **extra}
    if getattr(component, "latency", None) is not None and "latency" not in params:
        params["latency"] = component.latency
    res = run_cocotb([tmp_path / f"{design.name}.v", MODEL], design.top, design.testbench, sim=sim,
                     extra_env=env_params(params))
    return text, component, res


@pytest.mark.parametrize("sim", ["icarus", "verilator"])
@pytest.mark.parametrize("name", sorted(UNITS))
def test_unit_on_mult18x18d(name, sim, tmp_path):
    text, component, res = _run(get_design(name), sim, tmp_path)
    assert _instances(text) == component.dsp18 > 0  # every multiplier is an instance
    assert res.tests == UNITS[name] and res.failed == 0


@pytest.mark.parametrize("sim", ["icarus", "verilator"])
@pytest.mark.parametrize("wide_width", [32, 16])
def test_mac_array_on_mult18x18d(wide_width, sim, tmp_path):
    params = {"rows": 4, "cols": 4, "narrow_width": 8, "wide_width": wide_width, "acc_width": 32}
    design = Design(f"mac_array_4x4_w{wide_width}", MacArray, params, testbench="test_mac_array")
    text, component, res = _run(design, sim, tmp_path)
    assert _instances(text) == component.multipliers == 16
    assert res.tests == 2 and res.failed == 0


def test_generic_form_has_no_instances():
    text, _ = to_verilog(get_design("scaler"))
    assert _instances(text) == 0 and "MULT18X18D" not in text


def test_model_refuses_what_it_does_not_model(tmp_path):
    """The model stops on a configuration it does not describe (here: no input registers)."""
    from amaranth.hdl import Instance, Module, Signal

    m = Module()
    p = Signal(36)
    m.submodules.dsp = Instance("MULT18X18D", p_REG_OUTPUT_CLK="CLK0", i_CLK0=Signal(),
                                **{f"o_P{k}": p[k] for k in range(36)})
    text = verilog.convert(m, name="top", ports=[p], emit_src=False)
    atomic_write_text(tmp_path / "top.v", text)
    import shutil
    import subprocess

    iverilog = shutil.which("iverilog")
    assert iverilog, "iverilog is required (./nitro.sh setup installs it)"
    subprocess.run([iverilog, "-o", str(tmp_path / "a.out"), "-s", "top", str(tmp_path / "top.v"),
                    str(MODEL)], check=True)
    out = subprocess.run(["vvp", str(tmp_path / "a.out")], capture_output=True, text=True, check=True).stdout
    assert "only A/B/output registers on CLK0/CE0 are modelled" in out


def test_unknown_hard_multiplier_is_an_error():
    with pytest.raises(ValueError, match="unsupported hard multiplier 'DSP48E1'"):
        hard_multiplier_of(HardMultiplierPlatform("DSP48E1"))
    with pytest.raises(ValueError, match="unsupported hard multiplier 'DSP48E1'"):
        platform_for("DSP48E1")
    assert hard_multiplier_of(None) is None and hard_multiplier_of(ECP5) == "MULT18X18D"
    assert platform_for(None) is None and platform_for("generic") is None
    assert platform_for("MULT18X18D") == ECP5
    assert MODEL == REPO_ROOT / "sim" / "models" / "MULT18X18D.v" and MODEL.is_file()

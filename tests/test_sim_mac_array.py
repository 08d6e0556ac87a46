"""MacArray generated Verilog under cocotb, on Icarus and on Verilator.

A 4x4 array keeps each run short; the catalog's 8x8 designs share the same generator.
"""

import pytest

from nitro_hw.fileio import atomic_write_text
from nitro_hw.hw.catalog import Design
from nitro_hw.hw.mac_array import MacArray
from nitro_hw.rtl_export import to_verilog
from nitro_hw.tb.runner import env_params, run_cocotb


@pytest.mark.parametrize("wide_width", [32, 16])
@pytest.mark.parametrize("sim", ["icarus", "verilator"])
def test_mac_array_cocotb(sim, wide_width, tmp_path):
    params = {"rows": 4, "cols": 4, "narrow_width": 8, "wide_width": wide_width, "acc_width": 32}
    design = Design(f"mac_array_4x4_w{wide_width}", MacArray, params, testbench="test_mac_array")
    text, _ = to_verilog(design)
    atomic_write_text(tmp_path / "mac_array.v", text)
    res = run_cocotb(tmp_path / "mac_array.v", design.top, design.testbench, sim=sim,
                     extra_env=env_params(params))
    assert res.tests == 2 and res.failed == 0


@pytest.mark.parametrize("sim", ["icarus", "verilator"])
@pytest.mark.parametrize("name", ["mac_array", "mac_array_w16"])
def test_catalog_mac_array(name, sim):
    """The committed 8x8 Verilog of the catalog, on both simulators."""
    from pathlib import Path

    from nitro_hw.hw.catalog import get_design

    design = get_design(name)
    rtl = Path(__file__).resolve().parents[1] / "rtl" / f"{name}.v"
    res = run_cocotb(rtl, design.top, design.testbench, sim=sim, extra_env=env_params(design.params))
    assert res.tests == 2 and res.failed == 0

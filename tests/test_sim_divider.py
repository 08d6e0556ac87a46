"""TruncatingDivider generated Verilog under cocotb, on Icarus and on Verilator."""

import pytest

from nitro_hw.hw.catalog import get_design
from nitro_hw.rtl_export import export
from nitro_hw.tb.runner import env_params, run_cocotb


@pytest.mark.parametrize("sim", ["icarus", "verilator"])
def test_divider_cocotb(sim, tmp_path):
    design = get_design("divider")
    manifest = export(tmp_path, [design.name])
    params = {**design.params, "latency": manifest["designs"][design.name]["latency"]}
    res = run_cocotb(tmp_path / "divider.v", design.top, design.testbench, sim=sim,
                     extra_env=env_params(params))
    assert res.tests == 3 and res.failed == 0

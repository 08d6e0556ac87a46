"""SgdUpdate generated Verilog (32-bit and 16-bit weights) under cocotb, on Icarus and on Verilator."""

import pytest

from nitro_hw.hw.catalog import get_design
from nitro_hw.rtl_export import export
from nitro_hw.tb.runner import env_params, run_cocotb


@pytest.mark.parametrize("name", ["sgd_update", "sgd_update16"])
@pytest.mark.parametrize("sim", ["icarus", "verilator"])
def test_sgd_update_cocotb(sim, name, tmp_path):
    design = get_design(name)
    manifest = export(tmp_path, [design.name])
    params = {**design.params, "latency": manifest["designs"][design.name]["latency"]}
    res = run_cocotb(tmp_path / f"{name}.v", design.top, design.testbench, sim=sim,
                     extra_env=env_params(params))
    assert res.tests == 4 and res.failed == 0

"""ErrorUnit generated Verilog under cocotb, on Icarus and on Verilator."""

import pytest

from nitro_hw.hw.catalog import get_design
from nitro_hw.rtl_export import export
from nitro_hw.tb.runner import env_params, run_cocotb


@pytest.mark.parametrize("sim", ["icarus", "verilator"])
def test_error_unit_cocotb(sim, tmp_path):
    design = get_design("error_unit")
    export(tmp_path, [design.name])
    res = run_cocotb(tmp_path / "error_unit.v", design.top, design.testbench, sim=sim,
                     extra_env=env_params(design.params))
    assert res.tests == 1 and res.failed == 0

"""MaxPoolArgmax / MaxPoolRoute generated Verilog under cocotb, on Icarus and on Verilator."""

import pytest

from nitro_hw.hw.catalog import get_design
from nitro_hw.rtl_export import export
from nitro_hw.tb.runner import env_params, run_cocotb


@pytest.mark.parametrize("name,kind", [("maxpool_2x2", "argmax"), ("maxpool_route_2x2", "route")])
@pytest.mark.parametrize("sim", ["icarus", "verilator"])
def test_maxpool_cocotb(sim, name, kind, tmp_path):
    design = get_design(name)
    export(tmp_path, [design.name])
    res = run_cocotb(tmp_path / f"{name}.v", design.top, design.testbench, sim=sim,
                     extra_env=env_params({**design.params, "kind": kind}))
    assert res.tests == 1 and res.failed == 0

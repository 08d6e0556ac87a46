"""NitroRelu / NitroReluBackward generated Verilog under cocotb, on Icarus and on Verilator."""

import pytest

from nitro_hw.fileio import atomic_write_text
from nitro_hw.hw.catalog import Design, get_design
from nitro_hw.hw.nitro_relu import NitroRelu, NitroReluBackward
from nitro_hw.rtl_export import to_verilog
from nitro_hw.tb.runner import env_params, run_cocotb


def _design(name: str, alpha: int) -> Design:
    if alpha == 4:
        return get_design(name)
    factory = NitroRelu if name == "nitro_relu" else NitroReluBackward
    return Design(f"{name}_a{alpha}", factory, {"alpha": alpha}, testbench="test_nitro_relu")


@pytest.mark.parametrize("alpha", [4, 3])
@pytest.mark.parametrize("name", ["nitro_relu", "nitro_relu_backward"])
@pytest.mark.parametrize("sim", ["icarus", "verilator"])
def test_nitro_relu_cocotb(sim, name, alpha, tmp_path):
    design = _design(name, alpha)
    text, _ = to_verilog(design)
    atomic_write_text(tmp_path / "dut.v", text)
    res = run_cocotb(tmp_path / "dut.v", design.top, design.testbench, sim=sim,
                     extra_env=env_params(design.params))
    assert res.tests == 2 and res.failed == 0

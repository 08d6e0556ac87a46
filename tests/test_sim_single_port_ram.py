"""SinglePortRam's iCE40 form (SB_SPRAM256KA grid) under cocotb, on the behavioural SPRAM model."""

import pytest
from amaranth.back import verilog

from nitro_hw.hw.hard_multiplier import MODELS_DIR
from nitro_hw.hw.single_port_ram import ICE40, SinglePortRam
from nitro_hw.tb.runner import env_params, run_cocotb


@pytest.mark.parametrize("width, depth", [(20, 20000), (8, 7936)])  # 2 x 2 blocks (two rows); one block
def test_spram_grid_cocotb(width, depth, tmp_path):
    path = tmp_path / "spram_top.v"
    ram = SinglePortRam(width, depth, spram=True)
    path.write_text(verilog.convert(ram, name="spram_top", platform=ICE40))
    res = run_cocotb([path, MODELS_DIR / "SB_SPRAM256KA.v"], "spram_top", "test_single_port_ram",
                     sim="icarus", run_id=f"spram_{width}x{depth}",
                     extra_env=env_params({"width": width, "depth": depth}))
    assert res.tests == 1 and res.failed == 0

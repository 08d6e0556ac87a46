"""BankedMemory under cocotb: the generic form and the ECP5 form (DP16KD instances, behavioural model)."""

import re
import shutil
import subprocess

import pytest
from amaranth.back import verilog
from amaranth.hdl import Module, Signal

from nitro_hw.fileio import atomic_write_text
from nitro_hw.hw.block_ram import BLOCK_RAMS, block_ram_of, registered_slice
from nitro_hw.hw.engine.banked_memory import BankedMemory
from nitro_hw.hw.hard_multiplier import ECP5, HardMultiplierPlatform, simulation_model, simulation_models
from nitro_hw.tb.runner import REPO_ROOT, env_params, run_cocotb

MODEL = simulation_model("DP16KD")
# 48-bit words (slices of 36 and 12 bits) over three 512-word banks, the last one 76 words: the
# 36 x 512, 12 x 512 and 36 x 76 slices are DP16KD instances, the 12 x 76 one (912 bits) is not
WIDTH, DEPTH, INSTANCES = 48, 1100, 5


def _instances(text: str) -> int:
    return len(re.findall(r"^\s*DP16KD\s", text, flags=re.M))


@pytest.mark.parametrize("sim", ["icarus", "verilator"])
@pytest.mark.parametrize("form", ["generic", "ecp5"])
@pytest.mark.parametrize("poison", [False, True])
def test_banked_memory_cocotb(form, poison, sim, tmp_path):
    platform = ECP5 if form == "ecp5" else None
    mem = BankedMemory(WIDTH, DEPTH, poison_collisions=poison)
    text = verilog.convert(mem, name="banked_top", platform=platform)
    assert _instances(text) == (INSTANCES if platform else 0)
    path = tmp_path / "banked_top.v"
    atomic_write_text(path, text)
    res = run_cocotb([path, *simulation_models(platform)], "banked_top", "test_banked_memory", sim=sim,
                     run_id=f"banked_{form}_{int(poison)}_{sim}",
                     extra_env=env_params({"width": WIDTH, "depth": DEPTH, "poison": poison}))
    assert res.tests == 1 and res.failed == 0


def test_model_refuses_what_it_does_not_model(tmp_path):
    """The model stops on a configuration it does not describe (here: no output register)."""
    from amaranth.hdl import Instance

    m = Module()
    q = Signal(18)
    m.submodules.ram = Instance("DP16KD", p_DATA_WIDTH_A=36, p_DATA_WIDTH_B=36, p_REGMODE_A="NOREG",
                                p_REGMODE_B="NOREG", i_CLKA=Signal(),
                                **{f"o_DOA{k}": q[k] for k in range(18)})
    atomic_write_text(tmp_path / "top.v", verilog.convert(m, name="top", ports=[q], emit_src=False))
    iverilog = shutil.which("iverilog")
    assert iverilog, "iverilog is required (./nitro.sh setup installs it)"
    subprocess.run([iverilog, "-o", str(tmp_path / "a.out"), "-s", "top", str(tmp_path / "top.v"),
                    str(MODEL)], check=True)
    out = subprocess.run(["vvp", str(tmp_path / "a.out")], capture_output=True, text=True, check=True).stdout
    assert "only 512 x 36 pseudo-dual-port with OUTREG on both ports is modelled" in out


def test_small_slices_and_other_platforms_stay_memories():
    """Slices under MIN_INSTANCE_BITS, and platforms without a block RAM, keep Amaranth memories."""
    cases = [(ECP5, 256, 4, False), (ECP5, 512, 4, True), (ECP5, 64, 36, True), (ECP5, 56, 36, False),
             (None, 512, 36, False), (HardMultiplierPlatform("MULT18X18D"), 512, 36, False)]
    for platform, words, width, instance in cases:
        m = Module()
        ports = [Signal(9, name="ra"), Signal(9, name="wa"), Signal(width, name="wd"), Signal(name="we")]
        q = registered_slice(m, platform, "s", words=words, width=width, r_addr=ports[0], w_addr=ports[1],
                             w_data=ports[2], w_en=ports[3])
        text = verilog.convert(m, name="top", ports=[*ports, q], platform=platform, emit_src=False)
        assert (_instances(text) == 1) is instance, (platform, words, width)


def test_block_ram_names():
    assert BLOCK_RAMS == ("DP16KD",) and block_ram_of(ECP5) == "DP16KD" and block_ram_of(None) is None
    with pytest.raises(ValueError, match="unsupported block RAM 'EBR'"):
        block_ram_of(HardMultiplierPlatform("MULT18X18D", "EBR"))
    assert simulation_models(ECP5) == [REPO_ROOT / "sim" / "models" / "MULT18X18D.v", MODEL]
    assert simulation_models(None) == [] and MODEL.is_file()

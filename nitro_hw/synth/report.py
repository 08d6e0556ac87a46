"""The synthesis report: resources and Fmax from Yosys and nextpnr, as versioned JSON."""

from __future__ import annotations

import json
from pathlib import Path

from ..fileio import atomic_write_text
from .targets import Target

REPORT_VERSION = 1
REPORT_NAME = "report.json"


def clock_name(net: str) -> str:
    """Clock net as the design names it (nextpnr appends ``$SB_IO_IN_$glb_clk`` and the like)."""
    return net.split("$", 1)[0] or net


def yosys_cells(stat: dict, top: str) -> dict[str, int]:
    """Cell counts by type of module ``top`` from Yosys ``stat -json`` output."""
    modules = stat.get("modules", {})
    mod = modules.get("\\" + top) or modules.get(top) or stat.get("design")
    if mod is None:
        raise ValueError(f"yosys statistics: module {top!r} not found")
    return {k: int(v) for k, v in mod.get("num_cells_by_type", {}).items() if not k.startswith("$")}


def summarize(target: Target, cells: dict[str, int], npr: dict) -> tuple[dict, dict, dict]:
    """Reduce the tools' outputs to ``(resources, utilization, fmax_mhz)``.

    Parameters
    ----------
    target : Target
        Names the cell types of each resource class.
    cells : dict
        Yosys cell counts after ``synth_*`` (:func:`yosys_cells`).
    npr : dict
        nextpnr ``--report`` JSON (``fmax``, ``utilization``).

    Returns
    -------
    resources : dict
        ``lut4``, ``logic_cells``, ``ff``, ``carry``, ``dsp``, ``bram`` (and ``spram`` /
        ``lutram`` where the family has them): used counts.
    utilization : dict
        nextpnr cell type -> ``[used, available]``; every type that is used plus the
        target's logic/FF/DSP/block-RAM types even when unused.
    fmax_mhz : dict
        Achieved Fmax per clock, in MHz.
    """
    util = npr.get("utilization", {})
    keep = {t for types in target.cells.values() for t in types if t in util}
    utilization = {k: [int(v["used"]), int(v["available"])] for k, v in sorted(util.items())
                   if v.get("used", 0) > 0 or k in keep}

    def npr_used(cls: str) -> int:
        return sum(int(util.get(t, {}).get("used", 0)) for t in target.cells.get(cls, []))

    def ys(cls: str) -> int:
        return sum(cells.get(t, 0) for t in target.yosys_cells.get(cls, []))

    resources = {
        "lut4": ys("lut4"),
        "logic_cells": npr_used("logic"),
        "ff": npr_used("ff") if "ff" in target.cells else ys("ff"),
        "carry": ys("carry"),
        "dsp": npr_used("dsp"),
        "bram": npr_used("bram"),
    }
    for extra in ("spram", "lutram"):
        if extra in target.cells:
            resources[extra] = npr_used(extra)
    fmax = {clock_name(k): round(float(v["achieved"]), 2) for k, v in sorted(npr.get("fmax", {}).items())}
    return resources, utilization, fmax


def summarize_yosys(target: Target, cells: dict[str, int]) -> tuple[dict, dict]:
    """``(resources, utilization)`` from Yosys cell counts alone (a run without nextpnr).

    ``logic_cells`` is None (only placement packs LUTs and carries into logic cells);
    ``utilization`` covers flip-flops (ECP5), DSPs and block RAMs, against the device's
    capacity.
    """
    def ys(cls: str) -> int:
        return sum(cells.get(t, 0) for t in target.yosys_cells.get(cls, []))

    resources = {"lut4": ys("lut4"), "logic_cells": None, "ff": ys("ff"), "carry": ys("carry"),
                 "dsp": ys("dsp"), "bram": ys("bram")}
    if "spram" in target.cells:
        resources["spram"] = ys("spram")
    utilization = {}
    for cls in ("ff", "dsp", "bram", "spram"):
        for cell in target.cells.get(cls, []):
            if cell in target.capacity:
                utilization[cell] = [resources[cls], target.capacity[cell]]
    return resources, dict(sorted(utilization.items()))


def critical_path(npr: dict) -> dict | None:
    """Start, end, logic levels and delay (ns) of nextpnr's worst path, or None."""
    paths = npr.get("critical_paths") or []
    if not paths:
        return None
    worst = max(paths, key=lambda p: sum(s.get("delay", 0.0) for s in p.get("path", [])))
    steps = worst.get("path", [])
    if not steps:
        return None
    return {
        "clock": f"{worst.get('from', '?')} -> {worst.get('to', '?')}",
        "from": steps[0]["from"].get("cell"),
        "to": steps[-1]["to"].get("cell"),
        "logic_levels": sum(1 for s in steps if s.get("type") == "logic"),
        "delay_ns": round(sum(s.get("delay", 0.0) for s in steps), 3),
    }


def write_report(report: dict, path: Path) -> Path:
    """Write ``report`` as indented JSON, atomically."""
    atomic_write_text(Path(path), json.dumps(report, indent=2, sort_keys=True) + "\n")
    return Path(path)


def load_report(path: Path) -> dict:
    """Read a report written by :func:`write_report`, checking its format version.

    Raises
    ------
    ValueError
        If the file is not a synthesis report of a supported version.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("format_version") != REPORT_VERSION:
        raise ValueError(f"{path}: not a synthesis report of format_version {REPORT_VERSION}")
    for key in ("target", "design", "fmax_mhz", "utilization", "resources", "tools"):
        if key not in data:
            raise ValueError(f"{path}: field {key!r} missing")
    return data

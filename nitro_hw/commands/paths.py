"""``nitro-hw paths DIR/placed.json``: rank a placed design's paths by start and end register.

For timing closure between place-and-route runs: ``nitro-hw synth --no-route --out DIR`` keeps
nextpnr's placed netlist as ``DIR/placed.json`` (ECP5 targets); this command estimates every
register-to-register path of it (model in :mod:`nitro_hw.synth.paths`) and lists the worst
groups. The estimates rank paths; they run above nextpnr's own post-placement figure.

Exit status: 0 listed, 2 bad input (missing, unreadable or unplaced netlist).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

NAME = "paths"
HELP = "rank the register-to-register paths of a placed netlist (synth --no-route --out DIR)"


def register(p) -> None:
    p.add_argument("placed", help="placed netlist: DIR/placed.json of nitro-hw synth --no-route --out DIR")
    p.add_argument("--top", type=int, default=30, help="groups to list (default: 30)")
    p.add_argument("--threshold", type=float, default=14.0, metavar="NS",
                   help="count the paths of each group estimated above NS nanoseconds (default: 14)")
    p.add_argument("--coarse", action="store_true",
                   help="merge the groups of registers whose names differ only in digits (lanes, rows)")
    p.add_argument("--json", action="store_true", help="print the groups as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..synth.paths import rank_paths

    if args.top < 1:
        print("nitro-hw paths: --top must be at least 1", file=sys.stderr)
        return 2
    try:
        groups = rank_paths(Path(args.placed), args.threshold, args.coarse)
    except (OSError, json.JSONDecodeError, ValueError, KeyError) as exc:
        print(f"nitro-hw paths: {args.placed}: {exc}", file=sys.stderr)
        return 2
    shown = groups[:args.top]
    if args.json:
        print(json.dumps([g.as_dict() for g in shown], indent=2))
        return 0
    over = sum(g.over_threshold for g in groups)
    print(f"{sum(g.endpoints for g in groups)} path ends in {len(groups)} groups; "
          f"{over} estimated above {args.threshold:g} ns")
    print(f"{'worst ns':>8}  {'over/ends':>11}  start -> end")
    for g in shown:
        print(f"{g.worst_ns:8.2f}  {g.over_threshold:>5}/{g.endpoints:<5}  {g.start} -> {g.end}")
    return 0

"""``nitro-hw report``: PNG plots of a training run, a co-simulation or a trace divergence.

``nitro-hw report DIR`` renders what DIR holds: ``metrics.jsonl`` of ``nitro-hw train``
(accuracy, lr_inv and int32 wrap counts per epoch: ``training.png``) and ``cosim.json`` of
``nitro-hw cosim`` (cycles per step and per phase: ``cosim_steps.png``, ``cosim_phases.png``).
``nitro-hw report --compare A B --out DIR`` draws one heat map of ``B - A`` per differing
tensor of two traces (``diff-*.png``). Needs matplotlib: ``pip install 'nitro_hw[plot]'``.

Exit status: 0 plots written, 2 bad input (nothing to plot, unreadable file, no matplotlib).
"""

from __future__ import annotations

import sys
from pathlib import Path

NAME = "report"
HELP = "render plots from a train/cosim output directory, or heat maps of a trace divergence"


def register(p) -> None:
    p.add_argument("dir", nargs="?", default=None, help="a nitro-hw train or cosim output directory")
    p.add_argument("--compare", nargs=2, metavar=("A", "B"), default=None,
                   help="two trace directories: heat maps of the tensors where B differs from A")
    p.add_argument("--out", default=None, help="where the PNG files go (default: DIR)")
    p.add_argument("--limit", type=int, default=8, help="--compare: most tensors plotted (default 8)")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..plots import PlotError, plot_cosim, plot_divergences, plot_training
    from ..trace.format import TraceError

    if args.dir is None and args.compare is None:
        print("nitro-hw report: give a run directory or --compare A B", file=sys.stderr)
        return 2
    written: list[Path] = []
    try:
        if args.dir is not None:
            d = Path(args.dir)
            if not d.is_dir():
                raise PlotError(f"{d}: not a directory")
            found = False
            if (d / "metrics.jsonl").exists():
                written += plot_training(d, args.out)
                found = True
            if (d / "cosim.json").exists():
                written += plot_cosim(d, args.out)
                found = True
            if not found:
                raise PlotError(f"{d}: neither metrics.jsonl (nitro-hw train) "
                                "nor cosim.json (nitro-hw cosim)")
        if args.compare is not None:
            out = args.out or args.dir
            if out is None:
                raise PlotError("--compare needs --out DIR")
            paths = plot_divergences(*args.compare, out, limit=args.limit)
            if not paths:
                print(f"{args.compare[1]}: no tensor values differ from {args.compare[0]}; no heat map")
            written += paths
    except (PlotError, TraceError) as exc:
        print(f"nitro-hw report: {exc}", file=sys.stderr)
        return 2
    for p in written:
        print(f"written: {p}")
    return 0

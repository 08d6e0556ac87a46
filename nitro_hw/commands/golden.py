"""``nitro-hw golden``: record the committed golden reference traces.

Writes ``<out>/<model>-seed<seed>-<steps>steps/`` for each model: the first training steps
of the golden trainer on its default data set (format: ``golden/README.md``). The test
suite regenerates them and fails when the committed ones are stale.
"""

from __future__ import annotations

import sys
from pathlib import Path

NAME = "golden"
HELP = "record the golden reference traces (the first steps of the small digits models)"

# (model, steps): kept small so that golden/ stays well under 2 MB
DEFAULT_TRACES = (("mlp-digits", 8), ("cnn-digits", 2))
DEFAULT_SEED = 42


def trace_dir_name(model: str, seed: int, steps: int) -> str:
    """Directory name of a golden trace."""
    return f"{model}-seed{seed}-{steps}steps"


def register(p) -> None:
    p.add_argument("--out", default="golden", help="output directory (default: golden)")
    p.add_argument("--model", action="append", default=None,
                   help="zoo model to record (repeatable; default: " +
                        ", ".join(m for m, _ in DEFAULT_TRACES) + ")")
    p.add_argument("--steps", type=int, default=None,
                   help="training steps per trace (default: " +
                        ", ".join(f"{m} {s}" for m, s in DEFAULT_TRACES) + ")")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"RNG seed (default {DEFAULT_SEED})")
    p.set_defaults(func=run)


def record_all(out: Path, models: list[tuple[str, int]], seed: int = DEFAULT_SEED) -> list[Path]:
    """Record one golden trace per ``(model, steps)`` under ``out`` (existing ones are replaced)."""
    from ..trace.golden_recorder import record_golden_trace

    paths = []
    for model, steps in models:
        path = Path(out) / trace_dir_name(model, seed, steps)
        record_golden_trace(model, path, steps=steps, seed=seed, overwrite=True)
        paths.append(path)
    return paths


def run(args) -> int:
    from ..trace.format import TraceError
    from ..trace.reader import open_trace

    defaults = dict(DEFAULT_TRACES)
    names = args.model or [m for m, _ in DEFAULT_TRACES]
    if args.steps is not None and args.steps <= 0:
        print(f"nitro-hw golden: --steps must be positive, got {args.steps}", file=sys.stderr)
        return 2
    models = [(m, args.steps or defaults.get(m, 4)) for m in names]
    try:
        paths = record_all(Path(args.out), models, args.seed)
    except TraceError as exc:
        print(f"nitro-hw golden: {exc}", file=sys.stderr)
        return 2
    for p in paths:
        t = open_trace(p)
        size = sum(c.bytes for c in t.chunks)
        print(f"{p}: {len(t.steps)} steps, {t.num_records} tensors, {size / 1024:.0f} KiB")
    return 0

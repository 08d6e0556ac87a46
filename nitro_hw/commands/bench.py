"""``nitro-hw bench NAME [-- ARGS]``: run a benchmark script of ``benchmarks/``.

Each benchmark prints its figures and writes ``benchmarks/results/<name>.json``:
``golden`` (golden trainer steps per second), ``engine`` (engine cycles per step,
utilization, projected throughput; co-simulated on Verilator), ``trace`` (trace record,
read and compare throughput), ``synth`` (synthesis of the large designs; takes long).
Arguments after ``--`` go to the script (``nitro-hw bench golden -- --quick``).
The scripts live in the source checkout, not in an installed wheel.
"""

from __future__ import annotations

import subprocess
import sys

NAME = "bench"
HELP = "run a benchmark script (golden, engine, trace, synth) and write its JSON results"


def _bench_dir():
    from ..tb.runner import REPO_ROOT

    return REPO_ROOT / "benchmarks"


def _available() -> list[str]:
    return sorted(p.stem.removeprefix("bench_") for p in _bench_dir().glob("bench_*.py"))


def register(p) -> None:
    p.add_argument("name", nargs="?", default=None, help="benchmark to run (--list shows them)")
    p.add_argument("args", nargs="*", help="arguments for the script (after --)")
    p.add_argument("--list", action="store_true", help="list the benchmarks")
    p.set_defaults(func=run)


def run(args) -> int:
    names = _available()
    if not names:
        print(f"nitro-hw bench: no benchmark scripts in {_bench_dir()} (they live in the source checkout)",
              file=sys.stderr)
        return 2
    if args.list or args.name is None:
        print("\n".join(names))
        return 0 if args.list else 2
    if args.name not in names:
        print(f"nitro-hw bench: unknown benchmark {args.name!r}; available: {', '.join(names)}",
              file=sys.stderr)
        return 2
    script = _bench_dir() / f"bench_{args.name}.py"
    return subprocess.call([sys.executable, str(script), *args.args])

"""``nitro-hw compare A B``: compare two traces (or a trace and a golden checkpoint).

A is the reference ("expected"), B the one under test ("got"). Each is a trace directory
(see ``golden/README.md``) or a golden checkpoint ``.npz``; a trace is compared with a
checkpoint through its ``weights`` records at its last step (or ``--step``). B may also be a
VCD/FST wave file written by any simulator: its trace port is decoded with ``--port``
(a TracePortSpec JSON) and ``--tag-map`` (a tag map JSON) first.

Exit status: 0 identical, 1 different, 2 bad input (missing, corrupted or foreign file).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

NAME = "compare"
HELP = "compare two traces (or a trace and a checkpoint) and report the first divergence"
WAVE_SUFFIXES = (".vcd", ".fst")


def register(p) -> None:
    p.add_argument("a", help="reference trace directory or checkpoint .npz (expected)")
    p.add_argument("b", help="trace directory, checkpoint .npz or .vcd/.fst wave file under test (got)")
    p.add_argument("--all", action="store_true", help="list every differing tensor, not only the first")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--step", type=int, default=None,
                   help="with a checkpoint: the trace step whose weights are compared (default: last)")
    p.add_argument("--subset", action="store_true",
                   help="B records only some tensors (a hardware trace port): skip the tensors of A it lacks")
    p.add_argument("--no-verify", action="store_true", help="skip the chunk SHA-256 checks (faster)")
    p.add_argument("--port", default=None, help="wave B: trace port description (TracePortSpec JSON file)")
    p.add_argument("--tag-map", default=None, help="wave B: tag map JSON file")
    p.add_argument("--save-trace", default=None, help="wave B: keep the decoded trace in this directory")
    p.set_defaults(func=run)


def _wave_to_trace(args, out: Path) -> Path:
    from ..trace.format import TraceError
    from ..trace.hw_recorder import TagMap
    from ..trace.port import TracePortSpec
    from ..trace.wave import wave_to_trace

    if not args.port or not args.tag_map:
        raise TraceError(f"{args.b}: a wave file needs --port and --tag-map")
    try:
        spec = TracePortSpec.from_dict(json.loads(Path(args.port).read_text()))
    except (OSError, json.JSONDecodeError) as exc:
        raise TraceError(f"{args.port}: cannot read the port description: {exc}") from exc
    tags = TagMap.load(args.tag_map)
    return wave_to_trace(args.b, spec, tags, out, overwrite=True)


def run(args) -> int:
    from ..trace.compare import compare_paths, format_result
    from ..trace.format import TraceError

    try:
        with tempfile.TemporaryDirectory(prefix="nitro-compare-") as tmp:
            b = args.b
            if Path(b).suffix.lower() in WAVE_SUFFIXES:
                out = Path(args.save_trace) if args.save_trace else Path(tmp) / "wave"
                b = str(_wave_to_trace(args, out))
            result = compare_paths(args.a, b, all_divergences=args.all, step=args.step,
                                   verify=not args.no_verify, subset=args.subset)
    except TraceError as exc:
        if args.json:
            print(json.dumps({"error": str(exc)}))
        print(f"nitro-hw compare: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(format_result(result))
    return 0 if result.identical else 1

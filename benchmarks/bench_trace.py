"""Trace throughput on mlp-digits: record, read and compare thousands of golden training steps.

Measures (on the golden trainer, seed 42):

- recording N steps with the golden trace hook (training included, and training alone);
- trace size on disk (compressed chunks) and per step;
- ``compare`` of two identical traces written with different chunking (full element-wise
  comparison, no byte-identical shortcut), with and without checksum verification;
- ``compare`` finding a one-LSB error injected in the last step (worst case for first divergence);
- ``compare`` of a trace with itself (byte-identical chunk shortcut).

Usage: ``.venv/bin/python benchmarks/bench_trace.py [--steps 2000]``; prints a table and writes
``benchmarks/results/trace.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nitro_hw.trace import TraceWriter, compare_traces, open_trace  # noqa: E402
from nitro_hw.trace.golden_recorder import record_golden_trace  # noqa: E402


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def _train_only(steps: int, seed: int) -> float:
    """Seconds for the same golden steps without a trace hook (baseline)."""
    from nitro_hw.golden.experiment import Experiment, RunSettings, config_for
    from nitro_hw.golden.models import build_model
    from nitro_hw.trace.golden_recorder import _StopRecording

    cfg, dataset = config_for("mlp-digits")
    count = {"n": 0}

    class Counting:
        def __init__(self, m):
            self.m = m

        def train_step(self, x, y, lr_inv, rng=None, trace=None):
            if count["n"] >= steps:
                raise _StopRecording
            count["n"] += 1
            return self.m.train_step(x, y, lr_inv, rng)

        def __getattr__(self, n):
            return getattr(self.m, n)

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        try:
            Experiment(cfg, RunSettings(dataset=dataset, epochs=10**6, seed=seed, stop_from_epoch=10**9), tmp,
                       builder=lambda c, r: Counting(build_model(c, r)), progress=False).run()
        except _StopRecording:
            pass
        return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "trace.json"))
    args = ap.parse_args(argv)
    n = args.steps
    res: dict = {"benchmark": "trace", "model": "mlp-digits", "steps": n, "seed": args.seed,
                 "python": platform.python_version(), "numpy": np.__version__, "machine": platform.machine()}
    with tempfile.TemporaryDirectory(prefix="bench-trace-") as tmp:
        tmp = Path(tmp)
        _, t_rec = _timed(lambda: record_golden_trace("mlp-digits", tmp / "a", steps=n, seed=args.seed))
        t_train = _train_only(n, args.seed)
        ta = open_trace(tmp / "a")
        size = sum(c.bytes for c in ta.chunks)
        res.update(record_s=t_rec, train_only_s=t_train, trace_overhead_s=t_rec - t_train,
                   trace_bytes=size, bytes_per_step=size / n, records=ta.num_records, chunks=len(ta.chunks))

        # the same records with another chunking: no shortcut, every element compared
        t0 = time.perf_counter()
        target = None
        with TraceWriter(tmp / "b", chunk_steps=50) as wb, TraceWriter(tmp / "c", chunk_steps=50) as wc:
            for k, v in ta.records():
                wb.add(k.step, k.block, k.phase, k.name, v)
                if k.step == n - 1 and k.path() == "block0/encoder_update/weights":
                    v = v.copy()
                    v[-1, -1] ^= 1
                    target = k
                wc.add(k.step, k.block, k.phase, k.name, v)
        res["rewrite_two_traces_s"] = time.perf_counter() - t0

        r, t = _timed(lambda: compare_traces(tmp / "a", tmp / "b"))
        assert r.identical and r.tensors_compared == ta.num_records
        res.update(compare_full_s=t, compare_full_ms_per_step=1000 * t / n,
                   elements_compared=r.elements_compared)
        r, t = _timed(lambda: compare_traces(tmp / "a", tmp / "b", verify=False))
        res["compare_full_noverify_s"] = t
        r, t = _timed(lambda: compare_traces(tmp / "a", tmp / "c"))
        d = r.first
        assert (d.step, d.block, d.phase, d.name) == (target.step, target.block, target.phase, target.name)
        res.update(compare_find_last_step_error_s=t, found=d.describe())
        r, t = _timed(lambda: compare_traces(tmp / "a", tmp / "a"))
        assert r.identical
        res["compare_self_bytes_identical_s"] = t

    print(f"trace benchmark: mlp-digits, {n} golden steps")
    rows = [
        ("record (train + trace)", f"{res['record_s']:.2f} s"),
        ("train only", f"{res['train_only_s']:.2f} s"),
        ("trace size", f"{res['trace_bytes'] / 2**20:.1f} MiB ({res['bytes_per_step'] / 1024:.1f} KiB/step, "
                       f"{res['chunks']} chunks)"),
        ("compare, all elements", f"{res['compare_full_s']:.2f} s "
                                  f"({res['compare_full_ms_per_step']:.2f} ms/step, "
                                  f"{res['elements_compared'] / 1e6:.0f} M elements)"),
        ("compare, no checksum", f"{res['compare_full_noverify_s']:.2f} s"),
        ("compare, LSB error in last step", f"{res['compare_find_last_step_error_s']:.2f} s"),
        ("compare, byte-identical chunks", f"{res['compare_self_bytes_identical_s']:.2f} s"),
    ]
    for k, v in rows:
        print(f"  {k:34s} {v}")
    print(f"  found: {res['found']}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2, sort_keys=True) + "\n")
    print(f"written {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

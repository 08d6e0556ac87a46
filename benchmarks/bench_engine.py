"""Training engine: cycles per training step, MAC utilization, analytic estimate, projected throughput.

For ``mlp-digits`` and ``mlp1`` at batch 64 on 8x8 and 16x16 arrays, and ``mlp-digits`` on the
serial engine (one MAC, the iCE40 UP5K build; 4x4 tiles): the cycle model's estimate and (unless
``--estimate-only``) the cycles measured by co-simulating training steps on Verilator (bit-exact
against the golden trainer; ``mlp1`` runs on synthetic data of its shape). Projected throughput
is given at 100 MHz for every case (comparable) and at the clock of the case's FPGA target
(``target_clock_hz``: 100 MHz for the array engine on the ECP5, the 24 MHz target of the UP5K
for the serial engine); it counts the step itself (batch loading over the stream and weight
read-back are not part of a training step in a deployed engine).

Prints a table and writes ``benchmarks/results/engine.json``.

Usage: ``.venv/bin/python benchmarks/bench_engine.py [--estimate-only] [--steps N]``
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from nitro_hw.compiler import compile_mlp
from nitro_hw.golden.zoo import get_config
from nitro_hw.tb.cosim import estimate_for

RESULTS = Path(__file__).resolve().parent / "results" / "engine.json"
CLOCK_HZ = 100e6
MNIST_BATCHES_PER_EPOCH = 937  # floor(60000 / 64)

#: (model, data set, array or tile size, engine)
CASES = [("mlp-digits", "digits", 8, "array"), ("mlp-digits", "digits", 16, "array"),
         ("mlp1", "random", 8, "array"), ("mlp1", "random", 16, "array"),
         ("mlp-digits", "digits", 4, "serial")]
#: Clock of each engine's FPGA target: the ECP5 target of the array engine, the UP5K's of the serial one.
TARGET_CLOCK_HZ = {"array": CLOCK_HZ, "serial": 24e6}


def run_case(model: str, dataset: str, n: int, steps: int, measure: bool, engine: str = "array") -> dict:
    cfg = get_config(model)
    prog = compile_mlp(cfg, batch=64, n=n)
    est = estimate_for(engine)(prog)
    row = {
        "model": model, "engine": engine, "array": f"{n}x{n}", "batch": 64,
        "estimated_cycles_per_step": est["total"],
        "estimated_mac_utilization": est["utilization"],
        "estimated_gemm_utilization": est["gemm_utilization"],
        "useful_macs_per_step": est["macs"],
        "phases": [{"name": p["name"], "estimated": p["cycles"]} for p in est["phases"]],
    }
    cycles = est["total"]
    if measure:
        from nitro_hw.tb.cosim import cosim

        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            s = cosim(model, dataset, steps, "verilator", n=n, out=tmp, eval_batches=1, progress=False,
                      run_id=f"bench_engine_{model}_{n}_{engine}", engine=engine)
            wall = time.perf_counter() - t0
        cycles = s["cycles_per_step"]
        row.update({
            "measured_cycles_per_step": cycles,
            "mismatched_steps": s["mismatched_steps"],
            "mac_utilization": s["mac_utilization"],
            "gemm_utilization": s["gemm_utilization"],
            "estimate_error": (cycles - est["total"]) / est["total"],
            "sim_cycles_per_second": s["sim_cycles_per_second"],
            "dataset": s["dataset"],
            "cosim_wall_seconds": wall,
        })
        for ph, meas in zip(row["phases"], s["phase_cycles"], strict=False):
            ph["measured"] = meas["measured"]
    row["samples_per_second_at_100MHz"] = 64 * CLOCK_HZ / cycles
    row["target_clock_hz"] = TARGET_CLOCK_HZ[engine]
    row["samples_per_second_at_target_clock"] = 64 * TARGET_CLOCK_HZ[engine] / cycles
    # an MNIST epoch only makes sense for the MNIST-shaped model
    row["seconds_per_mnist_epoch_at_100MHz"] = (MNIST_BATCHES_PER_EPOCH * cycles / CLOCK_HZ
                                                if cfg.input_features == 784 else None)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--estimate-only", action="store_true", help="skip the Verilator runs")
    ap.add_argument("--steps", type=int, default=2, help="co-simulated steps per case (default 2)")
    args = ap.parse_args()
    rows = []
    for model, dataset, n, engine in CASES:
        rows.append(run_case(model, dataset, n, args.steps, not args.estimate_only, engine))
        r = rows[-1]
        meas = r.get("measured_cycles_per_step")
        print(f"{r['model']:<11} {r['engine']:<6} {r['array']:>6}"
              f"  est {r['estimated_cycles_per_step']:>8} cycles"
              + (f"  measured {meas:>10.0f} ({r['estimate_error'] * 100:+.2f} %)"
                 f"  util {r['mac_utilization']:.3f} overall / {r['gemm_utilization']:.3f} GEMM"
                 f"  sim {r['sim_cycles_per_second']:.0f} c/s  mismatches {r['mismatched_steps']}"
                 if meas is not None else
                 f"  est util {r['estimated_mac_utilization']:.3f} / {r['estimated_gemm_utilization']:.3f}")
              + f"  -> {r['samples_per_second_at_100MHz']:.0f} samples/s @100 MHz"
              + f" ({r['samples_per_second_at_target_clock']:.0f} @{r['target_clock_hz'] / 1e6:.0f} MHz)"
              + (f", {r['seconds_per_mnist_epoch_at_100MHz']:.2f} s/MNIST epoch"
                 if r["seconds_per_mnist_epoch_at_100MHz"] else ""), flush=True)
    out = {"format_version": 1, "clock_hz": CLOCK_HZ, "cpu_count": os.cpu_count(), "cases": rows}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    tmp = RESULTS.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(out, indent=1))
    tmp.replace(RESULTS)
    print(f"written: {RESULTS}")


if __name__ == "__main__":
    main()

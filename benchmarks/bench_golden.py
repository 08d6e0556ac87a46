"""Speed of the golden model: one training step of mlp1 and of vgg8b (CIFAR shapes), batch 64.

Prints a summary and writes ``benchmarks/results/golden.json``. Targets (2-core machine):
mlp1 step <= 3 ms, vgg8b CIFAR step <= 10 s.

Usage: ``.venv/bin/python benchmarks/bench_golden.py [--quick]`` (``--quick`` skips vgg8b/vgg11b).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from nitro_hw.golden.models import build_model
from nitro_hw.golden.zoo import get_config

RESULTS = Path(__file__).resolve().parent / "results" / "golden.json"


def _batch(cfg, rng, b=64):
    x = rng.randint(-128, 128, size=(b, *cfg.input_shape)).astype(np.int8)
    y = (np.eye(cfg.num_classes, dtype=np.int8)[rng.randint(0, cfg.num_classes, size=b)] * 32).astype(np.int8)
    return x, y


def time_steps(name: str, dataset: str | None, steps: int, warmup: int = 1) -> dict:
    """Median / min wall time of ``steps`` training steps (after ``warmup``), plus predict time."""
    cfg = get_config(name, dataset)
    rng = np.random.RandomState(0)
    model = build_model(cfg, rng)
    x, y = _batch(cfg, rng)
    for _ in range(warmup):
        model.train_step(x, y, cfg.lr_inv, rng)
    times, cpu = [], []
    for _ in range(steps):
        t0, c0 = time.perf_counter(), time.process_time()
        model.train_step(x, y, cfg.lr_inv, rng)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    t0 = time.perf_counter()
    model.predict(x)
    pred = time.perf_counter() - t0
    return {
        "model": name,
        "dataset": cfg.dataset,
        "steps": steps,
        "median_s": float(np.median(times)),
        "min_s": float(min(times)),
        "cpu_s": float(np.median(cpu)),
        "predict_s": pred,
    }


def main() -> None:
    load0 = os.getloadavg()[0]
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="skip the CNN benchmarks")
    args = ap.parse_args()
    runs = {
        "mlp1": time_steps("mlp1", None, 200, 5),
        "mlp2": time_steps("mlp2", None, 100, 5),
        "mlp-digits": time_steps("mlp-digits", None, 200, 5),
        "cnn-digits": time_steps("cnn-digits", None, 50, 2),
        "mlp3": time_steps("mlp3", None, 10, 1),
    }
    if not args.quick:
        runs["vgg8b"] = time_steps("vgg8b", "cifar10", 2, 1)
        runs["vgg8b-mnist"] = time_steps("vgg8b", "mnist", 1, 1)
        runs["vgg11b"] = time_steps("vgg11b", "cifar10", 1, 1)
    load = os.getloadavg()[0]
    out = {
        "format_version": 1,
        "mlp1_step_s": runs["mlp1"]["median_s"],
        "mlp1_step_target_s": 0.003,
        "vgg8b_step_s": runs["vgg8b"]["median_s"] if "vgg8b" in runs else None,
        "vgg8b_step_target_s": 10.0,
        "mlp2_step_s": runs["mlp2"]["median_s"],
        "mlp3_step_s": runs["mlp3"]["median_s"],
        "mlp_digits_step_s": runs["mlp-digits"]["median_s"],
        "cnn_digits_step_s": runs["cnn-digits"]["median_s"],
        "vgg8b_mnist_step_s": runs["vgg8b-mnist"]["median_s"] if "vgg8b-mnist" in runs else None,
        "vgg11b_step_s": runs["vgg11b"]["median_s"] if "vgg11b" in runs else None,
        "runs": runs,
        "machine": {
            "cpus": os.cpu_count(),
            "loadavg_1min_at_start": load0,
            "loadavg_1min_at_end": load,
            "python": platform.python_version(),
            "numpy": np.__version__,
        },
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    tmp = RESULTS.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(out, indent=2, sort_keys=True) + "\n")
    tmp.replace(RESULTS)
    print(f"{'model':<14}{'dataset':<15}{'median step':>14}{'min step':>12}{'cpu/step':>12}{'predict':>10}")
    for r in runs.values():
        print(
            f"{r['model']:<14}{r['dataset']:<15}{r['median_s']:>13.4f}s{r['min_s']:>11.4f}s"
            f"{r['cpu_s']:>11.4f}s{r['predict_s']:>9.4f}s"
        )
    print(
        f"targets: mlp1 <= 3 ms -> {1e3 * out['mlp1_step_s']:.2f} ms; vgg8b <= 10 s -> {out['vgg8b_step_s']}"
    )
    print(
        f"load average (1 min): {load0:.2f} at start, {load:.2f} at end (other processes share the 2 cores)"
    )
    print(f"written {RESULTS}")


if __name__ == "__main__":
    main()

"""PNG plots of training runs, co-simulations and trace divergences (optional extra ``plot``).

* :func:`plot_training`: from a ``nitro-hw train`` directory (``metrics.jsonl``): train and test
  accuracy, ``lr_inv`` and the int32 wrap counts of every epoch (spec §1.3 points).
* :func:`plot_cosim`: from a ``nitro-hw cosim`` directory (``cosim.json``): cycles of every
  co-simulated step and measured against estimated cycles of every phase.
* :func:`plot_divergences`: for two traces that differ, one heat map of ``got - expected`` per
  differing tensor (tensors of more than two dimensions are shown as ``[shape[0], rest]``).

Every function writes its files atomically and returns their paths.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

__all__ = ["PlotError", "plot_cosim", "plot_divergences", "plot_training"]


class PlotError(RuntimeError):
    """matplotlib is missing, or an input file is missing or malformed."""


def _pyplot():
    try:
        import matplotlib
    except ImportError as exc:
        raise PlotError("plots need matplotlib: pip install 'nitro_hw[plot]'") from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    tmp = path.with_name(path.name + ".tmp.png")
    fig.savefig(tmp, dpi=110, bbox_inches="tight")
    os.replace(tmp, path)
    return path


def _read_metrics(path: Path) -> list[dict]:
    rows = []
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise PlotError(f"{path}: cannot read: {exc}") from exc
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise PlotError(f"{path}:{n}: not a JSON line: {exc}") from exc
        missing = {"epoch", "train_acc", "test_acc", "lr_inv"} - set(row)
        if missing:
            raise PlotError(f"{path}:{n}: missing field(s) {', '.join(sorted(missing))}")
        rows.append(row)
    if not rows:
        raise PlotError(f"{path}: no epochs recorded")
    return rows


def plot_training(run_dir: str | Path, out_dir: str | Path | None = None) -> list[Path]:
    """Training curves of a ``nitro-hw train`` output directory.

    Returns
    -------
    list of Path
        ``training.png`` (accuracy, lr_inv, wrap counts per epoch).
    """
    run_dir = Path(run_dir)
    out = Path(out_dir) if out_dir else run_dir
    out.mkdir(parents=True, exist_ok=True)
    rows = _read_metrics(run_dir / "metrics.jsonl")
    plt = _pyplot()
    ep = [r["epoch"] for r in rows]
    fig, axes = plt.subplots(3, 1, figsize=(7, 8), sharex=True)
    axes[0].plot(ep, [r["train_acc"] for r in rows], label="train (training mode)")
    axes[0].plot(ep, [r["test_acc"] for r in rows], label="test")
    axes[0].set_ylabel("accuracy")
    axes[0].legend()
    axes[0].grid(alpha=0.3)
    axes[1].step(ep, [r["lr_inv"] for r in rows], where="post")
    axes[1].set_yscale("log")
    axes[1].set_ylabel("lr_inv")
    axes[1].grid(alpha=0.3)
    points = sorted({k for r in rows for k in r.get("overflow", {})})
    for p in points:
        axes[2].plot(ep, [r.get("overflow", {}).get(p, 0) for r in rows], label=p)
    axes[2].set_ylabel("int32 wraps per epoch")
    axes[2].set_ylim(bottom=0)
    axes[2].set_xlabel("epoch")
    if points:
        axes[2].legend()
    axes[2].grid(alpha=0.3)
    fig.suptitle(f"{run_dir.name}: best test accuracy {max(r['test_acc'] for r in rows):.4f}")
    path = _save(fig, out / "training.png")
    plt.close(fig)
    return [path]


def plot_cosim(run_dir: str | Path, out_dir: str | Path | None = None) -> list[Path]:
    """Cycle plots of a ``nitro-hw cosim`` output directory.

    Returns
    -------
    list of Path
        ``cosim_steps.png`` (cycles per co-simulated step, with the estimate) and
        ``cosim_phases.png`` (measured and estimated cycles per phase).
    """
    run_dir = Path(run_dir)
    out = Path(out_dir) if out_dir else run_dir
    out.mkdir(parents=True, exist_ok=True)
    path = run_dir / "cosim.json"
    try:
        s = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise PlotError(f"{path}: cannot read the co-simulation summary: {exc}") from exc
    for key in ("phase_cycles", "estimated_cycles_per_step", "model", "array", "simulator"):
        if key not in s:
            raise PlotError(f"{path}: missing field {key!r}")
    plt = _pyplot()
    paths = []
    steps = s.get("step_cycles") or []
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.plot(range(len(steps)), steps, marker=".", label="measured")
    ax.axhline(s["estimated_cycles_per_step"], color="gray", linestyle="--", label="estimate")
    mism = set(s.get("mismatched_step_list") or [])
    if mism:
        ax.plot(sorted(mism), [steps[i] for i in sorted(mism)], "rx", label="weights differ")
    ax.set_xlabel("training step")
    ax.set_ylabel("cycles")
    ax.legend()
    ax.grid(alpha=0.3)
    ax.set_title(f"{s['model']} on the {s['array']} engine ({s['simulator']}): "
                 f"{s.get('mismatched_steps', '?')} mismatched steps")
    paths.append(_save(fig, out / "cosim_steps.png"))
    plt.close(fig)

    ph = s["phase_cycles"]
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(ph) + 1.5))
    y = np.arange(len(ph))
    ax.barh(y - 0.2, [p["measured"] for p in ph], height=0.4, label="measured")
    ax.barh(y + 0.2, [p["estimated"] for p in ph], height=0.4, label="estimate")
    ax.set_yticks(y, [p["name"] for p in ph])
    ax.invert_yaxis()
    ax.set_xlabel("cycles (one training step)")
    ax.legend()
    ax.grid(alpha=0.3, axis="x")
    paths.append(_save(fig, out / "cosim_phases.png"))
    plt.close(fig)
    return paths


def _as_2d(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim == 0:
        return a.reshape(1, 1)
    if a.ndim == 1:
        return a.reshape(1, -1)
    return a.reshape(a.shape[0], -1)


def plot_divergences(a: str | Path, b: str | Path, out_dir: str | Path, limit: int = 8) -> list[Path]:
    """Heat maps of ``b - a`` for the first ``limit`` tensors whose values differ.

    Parameters
    ----------
    a, b : path
        Reference and tested trace directories.
    out_dir : path
        Where ``diff-<n>-<step>-<block>-<phase>-<name>.png`` go.
    limit : int
        Most tensors plotted.

    Returns
    -------
    list of Path
        The PNG files (empty when the traces are identical or differ only in structure).
    """
    from .trace.compare import compare_traces
    from .trace.reader import open_trace

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result = compare_traces(a, b, all_divergences=True)
    diffs = [d for d in result.divergences if d.kind == "value"][:limit]
    if not diffs:
        return []
    plt = _pyplot()
    ta, tb = open_trace(a), open_trace(b)
    paths = []
    for n, d in enumerate(diffs):
        def tensor(trace, d=d):
            want = (d.block, d.phase, d.name, d.occurrence)
            for key, value in trace.step_records(d.step):
                if (key.block, key.phase, key.name, key.occurrence) == want:
                    return value
            raise PlotError(f"{trace.path}: step {d.step} has no {d.block}/{d.phase}/{d.name}")
        diff = _as_2d(tensor(tb).astype(np.int64) - tensor(ta).astype(np.int64))
        lim = max(1, int(np.abs(diff).max()))
        fig, ax = plt.subplots(figsize=(7, 4))
        im = ax.imshow(diff, cmap="coolwarm", vmin=-lim, vmax=lim, aspect="auto", interpolation="nearest")
        fig.colorbar(im, ax=ax, label="got - expected")
        ax.set_title(f"{d.where}: {d.count} of {d.size} elements differ", fontsize=9)
        name = f"diff-{n:02d}-step{d.step}-{d.block}-{d.phase}-{d.name}.png".replace("/", "_")
        paths.append(_save(fig, out / name))
        plt.close(fig)
    return paths

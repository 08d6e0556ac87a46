"""The epoch loop of a golden NITRO-D training run (spec §4.3, §5.3, §6.2, §8).

RNG order (one legacy ``RandomState(seed)`` for everything, spec §5.3)::

    rng = RandomState(seed)
    data = prepare(load(dataset), rng)          # one permutation of the training set
    model = build_model(cfg, rng)               # initial weights
    for each epoch:
        lr_inv = scheduler.step()
        order = reshuffle(order, rng)               # one permutation per epoch, composed
        for each full batch of order: augment_batch(..., rng); model.train_step(x, y, lr_inv, rng)
        test accuracy over floor(N_test / 64) full test batches (mean of per-batch accuracies)
        early stopping check (stop when it fires), then the plateau check (lr_inv *= 3)

Outputs in the run directory: ``metrics.jsonl`` (one JSON line per epoch),
``summary.json``, ``checkpoint.npz`` (after every epoch; ``resume=True`` continues from it
bit-identically) and ``best.npz`` (the weights of the best test epoch).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..fileio import atomic_write_text
from .checkpoint import Checkpoint, CheckpointError, load_checkpoint, save_checkpoint
from .datasets import canonical_name, load_raw
from .pipeline import (
    BATCH_SIZE,
    NO_AUGMENTATION,
    ONE_HOT_VALUE,
    Augmentation,
    PreparedData,
    augment_batch,
    batch_indices,
    default_augmentation,
    eval_batches,
    prepare,
    reshuffle,
)
from .schedule import ConstantLR, EarlyStopping, ReduceLROnPlateau, check_lr_inv

RUN_FORMAT_VERSION = 1
METRICS_FILE = "metrics.jsonl"
SUMMARY_FILE = "summary.json"
CHECKPOINT_FILE = "checkpoint.npz"
BEST_FILE = "best.npz"


class RunError(Exception):
    """A run cannot start or resume (existing output, mismatching checkpoint, ...)."""


@dataclass(frozen=True)
class RunSettings:
    """Everything that defines a run besides the model config.

    Attributes
    ----------
    dataset : str
        Data set name (see :func:`nitro_hw.golden.datasets.load_raw`).
    epochs : int
        Maximum number of epochs (early stopping may end the run sooner).
    seed : int
        Seed of the legacy NumPy RNG.
    lr_inv : int
        Initial inverse learning rate (512).
    batch_size : int
        Batch size (64); only full batches are used.
    augment : bool or None
        Per-batch augmentation (spec §6.3); ``None`` takes the model config's setting.
    plateau_factor, plateau_min_delta, plateau_patience, plateau_from_epoch
        :class:`~nitro_hw.golden.schedule.ReduceLROnPlateau` (3, 0.01, 15, 10).
    stop_min_delta, stop_patience, stop_from_epoch
        :class:`~nitro_hw.golden.schedule.EarlyStopping` (0.01, 35, 30).
    """

    dataset: str = "digits"
    epochs: int = 150
    seed: int = 42
    lr_inv: int = 512
    batch_size: int = BATCH_SIZE
    augment: bool | None = None
    plateau_factor: int = 3
    plateau_min_delta: float = 0.01
    plateau_patience: int = 15
    plateau_from_epoch: int = 10
    stop_min_delta: float = 0.01
    stop_patience: int = 35
    stop_from_epoch: int = 30

    def __post_init__(self) -> None:
        object.__setattr__(self, "dataset", canonical_name(self.dataset))
        if self.epochs <= 0:
            raise ValueError(f"epochs must be positive, got {self.epochs}")
        if not 0 <= self.seed < 2**32:
            raise ValueError(f"seed must be in [0, 2^32), got {self.seed}")
        check_lr_inv(self.lr_inv)
        if self.batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {self.batch_size}")

    def resume_key(self) -> dict[str, Any]:
        """Settings that must match for a resume (everything but ``epochs``)."""
        d = asdict(self)
        d.pop("epochs")
        return d


@dataclass
class RunSummary:
    """Result of a run (also written to ``summary.json``)."""

    model: str
    dataset: str
    seed: int
    epochs_requested: int
    epochs_run: int
    early_stopped: bool
    best_test_acc: float
    best_epoch: int
    train_acc_at_best: float
    last_test_acc: float
    last_train_acc: float
    lr_inv: int
    lr_changes: list[dict[str, int]]
    overflow: dict[str, int]
    seconds: float
    test_batches: int
    train_batches: int
    finished: bool
    config: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    format_version: int = RUN_FORMAT_VERSION


def _config_dict(cfg: Any) -> dict[str, Any]:
    if hasattr(cfg, "to_dict"):
        return cfg.to_dict()
    if isinstance(cfg, dict):
        return dict(cfg)
    raise TypeError(f"model config must have to_dict(), got {type(cfg).__name__}")


def _config_name(cfg: Any) -> str:
    return str(getattr(cfg, "name", None) or _config_dict(cfg).get("name", "model"))


def resolve_augmentation(cfg: Any, settings: RunSettings) -> Augmentation:
    """The augmentation of a run.

    ``settings.augment`` False: none. None: the config's ``augment`` (an object with
    ``crop_size``, ``crop_pad``, ``flip``, or None for none). True: the config's setting,
    or the data set's default when the config has none.
    """
    spec = getattr(cfg, "augment", None)
    if settings.augment is False or (settings.augment is None and spec is None):
        return NO_AUGMENTATION
    if spec is None:
        return default_augmentation(settings.dataset)
    return Augmentation(spec.crop_size, spec.crop_pad, bool(spec.flip))


def evaluate(model: Any, data: PreparedData, batch_size: int = BATCH_SIZE) -> tuple[float, int, int]:
    """Test accuracy as the reference reports it (spec §8).

    Returns
    -------
    accuracy : float
        Mean of the per-batch accuracies over the ``floor(N_test / batch_size)`` full
        test batches (the remainder is never evaluated).
    correct : int
        Correct predictions in those batches.
    count : int
        Number of images evaluated.
    """
    accs: list[float] = []
    correct = 0
    slices = eval_batches(data.x_test.shape[0], batch_size)
    if not slices:
        raise ValueError(f"the test set has fewer than {batch_size} images: no full batch to evaluate")
    for sl in slices:
        pred = np.asarray(model.predict(data.x_test[sl]))
        c = int(np.count_nonzero(pred == data.labels_test[sl]))
        correct += c
        accs.append(c / batch_size)
    return float(np.mean(accs)), correct, len(slices) * batch_size


def predict_all(model: Any, x: np.ndarray, batch_size: int = BATCH_SIZE) -> np.ndarray:
    """Predictions for every image (the last batch may be partial)."""
    out = [np.asarray(model.predict(x[i:i + batch_size])) for i in range(0, x.shape[0], batch_size)]
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def _progress_enabled(progress: bool | None) -> bool:
    if progress is not None:
        return progress
    return sys.stderr.isatty()


class Experiment:
    """One training run of the golden trainer, resumable from its checkpoint.

    Parameters
    ----------
    cfg : ModelConfig
        The model configuration (``to_dict()``, ``name``).
    settings : RunSettings
        Data set, epochs, seed and the schedule parameters.
    out_dir : str or Path
        Run directory.
    data_dir : str or Path, optional
        Directory of the user data sets (``mnist``, ``fashion-mnist``, ``cifar10``).
    builder : callable, optional
        ``builder(cfg, rng) -> model``; default :func:`nitro_hw.golden.models.build_model`.
    progress : bool, optional
        Show tqdm progress bars (default: only when stderr is a terminal).
    """

    def __init__(self, cfg: Any, settings: RunSettings, out_dir: str | Path, *,
                 data_dir: str | Path | None = None,
                 builder: Callable[[Any, np.random.RandomState], Any] | None = None,
                 progress: bool | None = None) -> None:
        self.cfg = cfg
        self.settings = settings
        self.out_dir = Path(out_dir)
        self.data_dir = data_dir
        if builder is None:
            from .models import build_model
            builder = build_model
        self.builder = builder
        self.progress = _progress_enabled(progress)
        self.augmentation = resolve_augmentation(cfg, settings)

    # -- setup --------------------------------------------------------------------------

    def _fresh_state(self) -> None:
        s = self.settings
        self.rng = np.random.RandomState(s.seed)
        self.data = prepare(load_raw(s.dataset, self.data_dir), self.rng,
                            target_value=int(getattr(self.cfg, "target_value", ONE_HOT_VALUE)))
        shape = getattr(self.cfg, "input_shape", None)
        if shape is not None and tuple(shape) != self.data.x_train.shape[1:]:
            raise RunError(f"model {_config_name(self.cfg)!r} expects inputs of shape {tuple(shape)}, "
                           f"data set {s.dataset!r} has images of shape {self.data.x_train.shape[1:]}")
        self.model = self.builder(self.cfg, self.rng)
        self.order = np.arange(self.data.x_train.shape[0], dtype=np.int64)
        self.lr = ConstantLR(s.lr_inv)
        self.plateau = ReduceLROnPlateau(self.lr, s.plateau_factor, s.plateau_min_delta,
                                         s.plateau_patience, s.plateau_from_epoch)
        self.stopper = EarlyStopping(s.stop_min_delta, s.stop_patience, s.stop_from_epoch)
        self.metrics: list[dict[str, Any]] = []
        self.early_stopped = False
        self.epoch = 0
        self.elapsed = 0.0

    def _meta(self) -> dict[str, Any]:
        return {"model": _config_name(self.cfg), "settings": asdict(self.settings),
                "data_dir": None if self.data_dir is None else str(self.data_dir),
                "early_stopped": self.early_stopped, "elapsed": self.elapsed,
                "format_version": RUN_FORMAT_VERSION}

    def _resume(self) -> None:
        path = self.out_dir / CHECKPOINT_FILE
        ckpt = load_checkpoint(path)
        if ckpt.config != _config_dict(self.cfg):
            raise RunError(f"{path}: checkpoint was written for another model config "
                           f"({ckpt.meta.get('model')!r}); cannot resume with {_config_name(self.cfg)!r}")
        stored = dict(ckpt.meta.get("settings", {}))
        stored.pop("epochs", None)
        if stored != self.settings.resume_key():
            diff = sorted(k for k in set(stored) | set(self.settings.resume_key())
                          if stored.get(k) != self.settings.resume_key().get(k))
            raise RunError(f"{path}: run settings differ from the checkpoint's in {', '.join(diff)}")
        if self.data_dir is None:
            self.data_dir = ckpt.meta.get("data_dir")
        self._fresh_state()  # reloads the data (same seed, same shuffle) and builds the model
        self.model.set_parameters(ckpt.parameters)
        n = self.order.shape[0]
        if ckpt.train_order is None or not np.array_equal(np.sort(ckpt.train_order), np.arange(n)):
            raise CheckpointError(f"{path}: train_order is missing or not a permutation of the "
                                  f"{n} training samples")
        self.order = ckpt.train_order.astype(np.int64)
        self.rng.set_state(ckpt.rng_state)
        try:
            self.lr.load_state_dict(ckpt.schedulers["lr"])
            self.plateau.load_state_dict(ckpt.schedulers["plateau"])
            self.stopper.load_state_dict(ckpt.schedulers["early_stopping"])
        except (KeyError, ValueError) as exc:
            raise CheckpointError(f"{path}: invalid scheduler state: {exc}") from exc
        if self.lr.get_lr() != ckpt.lr_inv:
            raise CheckpointError(f"{path}: lr_inv {ckpt.lr_inv} disagrees with the scheduler state")
        self.metrics = list(ckpt.metrics)
        self.epoch = ckpt.epoch
        self.early_stopped = bool(ckpt.meta.get("early_stopped", False))
        self.elapsed = float(ckpt.meta.get("elapsed", 0.0))
        atomic_write_text(self.out_dir / METRICS_FILE,
                           "".join(json.dumps(m, sort_keys=True) + "\n" for m in self.metrics))

    def _checkpoint(self, path: Path) -> None:
        save_checkpoint(path, Checkpoint(
            epoch=self.epoch, parameters=self.model.parameters(), lr_inv=self.lr.get_lr(),
            rng_state=self.rng.get_state(), train_order=self.order,
            schedulers={"lr": self.lr.state_dict(), "plateau": self.plateau.state_dict(),
                        "early_stopping": self.stopper.state_dict()},
            config=_config_dict(self.cfg), meta=self._meta(), metrics=self.metrics))

    # -- the loop -----------------------------------------------------------------------

    def train_epoch(self, lr_inv: int, bar: Any = None) -> tuple[int, int, dict[str, int]]:
        """Train on all full batches of one epoch (reshuffles the training order first).

        Returns
        -------
        correct, count, overflow
            Training-mode argmax hits, images trained on, summed overflow counts.
        """
        d, bs = self.data, self.settings.batch_size
        self.order = reshuffle(self.order, self.rng)
        batches = batch_indices(self.order, bs)
        if not batches:
            raise ValueError(f"the training set has fewer than {bs} images: no full batch")
        correct, overflow = 0, {}
        for idx in batches:
            x = d.x_train[idx]
            if self.augmentation.enabled:
                x = augment_batch(x, self.augmentation, self.rng)
            stats = self.model.train_step(x, d.y_train[idx], lr_inv, self.rng)
            correct += int(stats.correct)
            for k, v in (getattr(stats, "overflow", None) or {}).items():
                overflow[k] = overflow.get(k, 0) + int(v)
            if bar is not None:
                bar.update(1)
        return correct, len(batches) * bs, overflow

    def run(self, resume: bool = False) -> RunSummary:
        """Run (or resume) up to ``settings.epochs`` epochs; return the summary.

        Raises
        ------
        RunError
            The run directory already holds a run and ``resume`` is False, or the
            checkpoint does not match the model config or settings.
        """
        ckpt_path = self.out_dir / CHECKPOINT_FILE
        if resume and ckpt_path.exists():
            self._resume()
        else:
            if not resume and (ckpt_path.exists() or (self.out_dir / METRICS_FILE).exists()):
                raise RunError(f"{self.out_dir}: already holds a run; use --resume to continue it "
                               "or choose another output directory")
            self._fresh_state()  # loads the data first: nothing is written when that fails
            self.out_dir.mkdir(parents=True, exist_ok=True)
            (self.out_dir / METRICS_FILE).write_text("")
        from tqdm.auto import tqdm

        s = self.settings
        n_batches = self.data.x_train.shape[0] // s.batch_size
        with tqdm(total=s.epochs, initial=min(self.epoch, s.epochs), desc=f"{_config_name(self.cfg)}",
                  unit="epoch", disable=not self.progress, file=sys.stderr) as ebar:
            while self.epoch < s.epochs and not self.early_stopped:
                t0 = time.perf_counter()
                lr_inv = self.lr.step()
                with tqdm(total=n_batches, desc=f"epoch {self.epoch + 1}", unit="batch", leave=False,
                          disable=not self.progress, file=sys.stderr) as bbar:
                    tr_correct, tr_count, overflow = self.train_epoch(lr_inv, bbar)
                test_acc, te_correct, te_count = evaluate(self.model, self.data, s.batch_size)
                self.epoch += 1
                stop = self.stopper.step(test_acc)
                reduced = False
                if stop:
                    self.early_stopped = True
                else:
                    reduced = self.plateau.step(test_acc)
                seconds = time.perf_counter() - t0
                self.elapsed += seconds
                record = {"epoch": self.epoch, "lr_inv": lr_inv, "train_acc": tr_correct / tr_count,
                          "test_acc": test_acc, "train_correct": tr_correct, "train_count": tr_count,
                          "test_correct": te_correct, "test_count": te_count, "overflow": overflow,
                          "lr_reduced": reduced, "lr_inv_next": self.lr.get_lr(), "early_stop": stop,
                          "seconds": round(seconds, 6)}
                self.metrics.append(record)
                best = max(m["test_acc"] for m in self.metrics)
                if test_acc == best and all(m["test_acc"] < best for m in self.metrics[:-1]):
                    self._checkpoint(self.out_dir / BEST_FILE)
                self._checkpoint(ckpt_path)
                with open(self.out_dir / METRICS_FILE, "a") as fh:
                    fh.write(json.dumps(record, sort_keys=True) + "\n")
                self._write_summary(finished=False)
                ebar.set_postfix(test=f"{test_acc:.4f}", best=f"{best:.4f}", lr_inv=self.lr.get_lr())
                ebar.update(1)
        return self._write_summary(finished=True)

    def summary(self, finished: bool) -> RunSummary:
        """Summary of the epochs run so far."""
        m = self.metrics
        if m:
            best_i = max(range(len(m)), key=lambda i: (m[i]["test_acc"], -i))  # first epoch of the max
            best, last = m[best_i], m[-1]
        else:
            best = last = {"test_acc": float("nan"), "train_acc": float("nan"), "epoch": 0}
        overflow: dict[str, int] = {}
        for r in m:
            for k, v in r.get("overflow", {}).items():
                overflow[k] = overflow.get(k, 0) + v
        changes = [{"after_epoch": r["epoch"], "lr_inv": r["lr_inv_next"]} for r in m if r.get("lr_reduced")]
        return RunSummary(
            model=_config_name(self.cfg), dataset=self.settings.dataset, seed=self.settings.seed,
            epochs_requested=self.settings.epochs, epochs_run=len(m), early_stopped=self.early_stopped,
            best_test_acc=best["test_acc"], best_epoch=best["epoch"], train_acc_at_best=best["train_acc"],
            last_test_acc=last["test_acc"], last_train_acc=last["train_acc"], lr_inv=self.lr.get_lr(),
            lr_changes=changes, overflow=overflow, seconds=round(self.elapsed, 3),
            test_batches=self.data.x_test.shape[0] // self.settings.batch_size,
            train_batches=self.data.x_train.shape[0] // self.settings.batch_size,
            finished=finished, config=_config_dict(self.cfg), settings=asdict(self.settings))

    def _write_summary(self, finished: bool) -> RunSummary:
        summ = self.summary(finished)
        text = json.dumps(asdict(summ), indent=2, sort_keys=True) + "\n"
        atomic_write_text(self.out_dir / SUMMARY_FILE, text)
        return summ


def run_experiment(cfg: Any, settings: RunSettings, out_dir: str | Path, *, resume: bool = False,
                   data_dir: str | Path | None = None, progress: bool | None = None,
                   builder: Callable[[Any, np.random.RandomState], Any] | None = None) -> RunSummary:
    """Train ``cfg`` with ``settings``, writing the run directory ``out_dir``.

    See :class:`Experiment`; returns its :class:`RunSummary`.
    """
    return Experiment(cfg, settings, out_dir, data_dir=data_dir, builder=builder,
                      progress=progress).run(resume=resume)


def format_summary(s: RunSummary, out_dir: str | Path | None = None) -> str:
    """A one-screen text summary of a run."""
    lines = [f"{s.model} on {s.dataset}, seed {s.seed}"]
    why = "early stopping" if s.early_stopped else ("epoch limit" if s.finished else "interrupted")
    lines.append(f"  epochs run          {s.epochs_run} of {s.epochs_requested} ({why})")
    lines.append(f"  best test accuracy  {s.best_test_acc!r} ({100 * s.best_test_acc:.2f} %) at epoch "
                 f"{s.best_epoch}, train accuracy there {100 * s.train_acc_at_best:.2f} %")
    lines.append(f"                      (as the reference reports it: best epoch, mean over "
                 f"{s.test_batches} full test batches)")
    lines.append(f"  last epoch          test {100 * s.last_test_acc:.2f} %, "
                 f"train {100 * s.last_train_acc:.2f} %")
    lr = " -> ".join([str(s.settings.get("lr_inv", ""))] +
                     [f"{c['lr_inv']} (after epoch {c['after_epoch']})" for c in s.lr_changes])
    lines.append(f"  lr_inv              {lr}")
    ov = ", ".join(f"{k} {v}" for k, v in sorted(s.overflow.items()) if v) or "none"
    lines.append(f"  int32 overflows     {ov}")
    lines.append(f"  time                {s.seconds:.1f} s")
    if out_dir is not None:
        o = Path(out_dir)
        lines.append(f"  written             {o / METRICS_FILE}, {o / SUMMARY_FILE}, {o / CHECKPOINT_FILE}, "
                     f"{o / BEST_FILE}")
    return "\n".join(lines)


def evaluate_checkpoint(path: str | Path, dataset: str | None = None,
                        data_dir: str | Path | None = None) -> dict[str, Any]:
    """Evaluate the weights of a checkpoint on a data set's test part.

    The data set is prepared exactly as in the run (same seed, so the same training
    shuffle and normalisation statistics); ``dataset`` overrides the run's data set and
    ``data_dir`` defaults to the run's.

    Returns
    -------
    dict
        ``test_acc`` (reference metric: mean over the full test batches), ``test_correct``,
        ``test_count``, ``all_acc`` / ``all_correct`` / ``all_count`` (every test image,
        including the last partial batch), ``epoch``, ``model``, ``dataset``, ``seed``.
    """
    from .models import build_model
    from .zoo import ModelConfig

    ckpt = load_checkpoint(path)
    try:
        cfg = ModelConfig.from_dict(ckpt.config)
        settings = ckpt.meta["settings"]
        seed = int(settings["seed"])
        batch_size = int(settings.get("batch_size", BATCH_SIZE))
        name = canonical_name(dataset or settings["dataset"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: invalid config or run metadata: {exc}") from exc
    if data_dir is None and name == settings["dataset"]:
        data_dir = ckpt.meta.get("data_dir")
    rng = np.random.RandomState(seed)
    data = prepare(load_raw(name, data_dir), rng, target_value=int(cfg.target_value))
    if tuple(cfg.input_shape) != data.x_test.shape[1:]:
        raise RunError(f"model {cfg.name!r} expects inputs of shape {tuple(cfg.input_shape)}, data set "
                       f"{name!r} has images of shape {data.x_test.shape[1:]}")
    model = build_model(cfg, rng)
    model.set_parameters(ckpt.parameters)
    acc, correct, count = evaluate(model, data, batch_size)
    pred = predict_all(model, data.x_test, batch_size)
    all_correct = int(np.count_nonzero(pred == data.labels_test))
    return {"model": cfg.name, "dataset": name, "seed": seed, "epoch": ckpt.epoch, "test_acc": acc,
            "test_correct": correct, "test_count": count, "all_acc": all_correct / data.x_test.shape[0],
            "all_correct": all_correct, "all_count": int(data.x_test.shape[0])}


_ZOO_DATASET = {"mnist5k": "mnist", "fashion-mnist": "fashion_mnist"}


def config_for(model: str, dataset: str | None = None) -> tuple[Any, str]:
    """The zoo config of ``model`` for ``dataset`` and the canonical data set name.

    The published setting for that data set is used when the zoo has one (``mnist5k``
    uses the ``mnist`` setting); otherwise the model's default setting. ``dataset``
    None means the model's default data set.
    """
    from .zoo import get_config

    cfg = get_config(model)
    name = canonical_name(cfg.dataset if dataset is None else dataset)
    try:
        cfg = get_config(model, _ZOO_DATASET.get(name, name))
    except ValueError:
        pass
    return cfg, name

"""Record traces from the golden trainer through its ``train_step(..., trace=hook)`` hook."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .format import TraceError
from .writer import TraceWriter

TraceHook = Callable[[str, str, str, np.ndarray], None]


class GoldenRecorder:
    """Adapter from the golden trace hook ``trace(block, phase, name, value)`` to a :class:`TraceWriter`.

    Set the step before each ``train_step`` (or use :meth:`hook`); every call is recorded
    under the current step (values are copied, so later in-place updates cannot change them).

    Parameters
    ----------
    writer : TraceWriter
        Destination.
    step : int
        Initial step number.

    Examples
    --------
    >>> rec = GoldenRecorder(writer)                               # doctest: +SKIP
    >>> model.train_step(x, y, lr_inv, rng, trace=rec.hook(step))  # doctest: +SKIP
    """

    def __init__(self, writer: TraceWriter, step: int = 0) -> None:
        self.writer = writer
        self.step = step
        self.calls = 0

    def __call__(self, block: str, phase: str, name: str, value: np.ndarray) -> None:
        self.writer.add(self.step, block, phase, name, value)
        self.calls += 1

    def hook(self, step: int) -> TraceHook:
        """Set the current step and return the hook to pass to ``train_step``."""
        self.step = step
        return self


def golden_trace_meta(cfg: Any, dataset: str, seed: int, steps: int, lr_inv: int, augment: bool) -> dict:
    """The ``meta`` block of a golden reference trace."""
    from .. import __version__

    config = {k: v for k, v in cfg.to_dict().items() if k != "notes"}  # free text, not behaviour
    return {"source": "golden", "model": cfg.name, "dataset": dataset, "seed": seed, "steps": steps,
            "lr_inv": lr_inv, "augment": augment, "config": config, "nitro_hw_version": __version__}


class _StopRecording(Exception):
    """Raised by :class:`_TracingModel` once the requested steps are recorded."""


class _TracingModel:
    """Wraps a golden model so that every ``train_step`` the trainer makes is traced."""

    def __init__(self, model: Any, recorder: GoldenRecorder, steps: int) -> None:
        self._model, self._recorder, self._steps = model, recorder, steps
        self.steps_done = 0

    def train_step(self, x, y, lr_inv, rng=None, trace=None):
        if self.steps_done >= self._steps:
            raise _StopRecording
        stats = self._model.train_step(x, y, lr_inv, rng, trace=self._recorder.hook(self.steps_done))
        self.steps_done += 1
        return stats

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)


def record_golden_trace(model_name: str, out: str | Path, *, steps: int = 4, seed: int = 42,
                        dataset: str | None = None, lr_inv: int | None = None, augment: bool | None = None,
                        chunk_steps: int = 64, compress: bool = True, overwrite: bool = False,
                        data_dir: str | Path | None = None) -> Path:
    """Record the first ``steps`` training steps of the golden trainer on a zoo model.

    The steps are those of :class:`nitro_hw.golden.experiment.Experiment` with the same
    settings (same RNG order, data pipeline, augmentation, learning-rate schedule); its model
    is wrapped so that every ``train_step`` passes a :class:`GoldenRecorder` hook. ``steps``
    may run into later epochs; early stopping is disabled so that it cannot end the run
    first (it changes no step before it would fire).

    Parameters
    ----------
    model_name : str
        Zoo config name (``mlp-digits``, ``cnn-digits``, ...).
    out : str or Path
        Trace directory to write.
    steps : int
        Number of training steps.
    seed : int
        Legacy NumPy RNG seed.
    dataset : str, optional
        Data set (default: the config's).
    lr_inv : int, optional
        Initial inverse learning rate (default: the config's).
    augment : bool, optional
        Per-batch augmentation (default: the trainer's default for the config).
    chunk_steps, compress, overwrite
        Passed to :class:`TraceWriter`.
    data_dir : str or Path, optional
        Directory of user data sets.

    Returns
    -------
    Path
        The trace directory.
    """
    import tempfile

    from ..golden.experiment import Experiment, RunSettings, config_for
    from ..golden.models import build_model

    if isinstance(steps, bool) or not isinstance(steps, int) or steps <= 0:
        raise TraceError(f"steps must be a positive int, got {steps!r}")
    cfg, dataset = config_for(model_name, dataset)
    lr_inv = cfg.lr_inv if lr_inv is None else lr_inv
    meta = golden_trace_meta(cfg, dataset, seed, steps, lr_inv, augment)
    holder: dict[str, _TracingModel] = {}
    with TraceWriter(out, meta, chunk_steps=chunk_steps, compress=compress, overwrite=overwrite) as w:
        rec = GoldenRecorder(w)

        def builder(c, rng):
            holder["model"] = _TracingModel(build_model(c, rng), rec, steps)
            return holder["model"]

        with tempfile.TemporaryDirectory(prefix="nitro-golden-") as tmp:
            # early stopping only ends a run (the steps before it are unchanged): off, so any
            # number of steps can be recorded
            settings = RunSettings(dataset=dataset, epochs=10**6, seed=seed, lr_inv=lr_inv,
                                   batch_size=cfg.batch_size, augment=augment, stop_from_epoch=10**9)
            try:
                Experiment(cfg, settings, tmp, data_dir=data_dir, builder=builder, progress=False).run()
            except _StopRecording:
                pass
        done = holder["model"].steps_done if "model" in holder else 0
        if done != steps:
            raise TraceError(f"the golden run stopped after {done} of {steps} steps")
    return Path(out)

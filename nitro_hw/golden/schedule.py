"""Learning-rate schedules and early stopping of NITRO-D (spec §4.3).

NITRO-D expresses the learning rate by its inverse ``lr_inv`` (an integer divisor), so
"reducing the learning rate" means *multiplying* ``lr_inv``.

The experiments use :class:`ConstantLR` (a holder of the current ``lr_inv``),
:class:`ReduceLROnPlateau` (factor 3, min_delta 0.01, patience 15, from epoch 10) and
:class:`EarlyStopping` (min_delta 0.01, patience 35, from epoch 30), both watching the
test accuracy. :class:`LinearLR`, :class:`ExponentialLR` and :class:`HalvingLR` exist in
the reference library but are unused by its experiments.

Every object has ``state_dict()`` / ``load_state_dict()`` with JSON-able contents so a
checkpoint can restore it exactly.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def check_lr_inv(lr_inv: int, name: str = "lr_inv") -> int:
    """Validate an inverse learning rate: a positive integer.

    Raises
    ------
    ValueError
        If ``lr_inv`` is not an integer or is zero or negative.
    """
    if isinstance(lr_inv, np.integer):
        lr_inv = int(lr_inv)
    if isinstance(lr_inv, bool) or not isinstance(lr_inv, int):
        raise ValueError(f"{name} must be an integer, got {lr_inv!r}")
    if lr_inv <= 0:
        raise ValueError(f"{name} must be positive (it divides the gradient), got {lr_inv}")
    return lr_inv


class ConstantLR:
    """Holder of the current ``lr_inv``; ``step()`` returns it unchanged.

    Parameters
    ----------
    lr_inv : int
        Initial inverse learning rate (512 in every experiment).
    """

    def __init__(self, lr_inv: int = 512) -> None:
        self.lr_inv = check_lr_inv(lr_inv)

    def get_lr(self) -> int:
        """The current ``lr_inv``."""
        return self.lr_inv

    def set_lr(self, lr_inv: int) -> None:
        """Change ``lr_inv`` permanently."""
        self.lr_inv = check_lr_inv(lr_inv)

    def step(self) -> int:
        """Called at the start of every epoch; returns the ``lr_inv`` to train with."""
        return self.lr_inv

    def state_dict(self) -> dict[str, Any]:
        """JSON-able state."""
        return {"kind": type(self).__name__, "lr_inv": self.lr_inv}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`."""
        _check_kind(self, state)
        self.lr_inv = check_lr_inv(state["lr_inv"], "lr_inv in scheduler state")


class _Monitor:
    """Shared logic of the plateau rule and early stopping (spec §4.3).

    ``step(metric)`` increments an epoch counter ``n``; while ``n < from_epoch`` nothing
    happens (``best`` is not updated). Otherwise, if ``metric < best + min_delta`` the
    counter grows, else ``best = metric`` and the counter is reset. ``best`` starts
    unset, so the first monitored epoch always sets it.
    """

    def __init__(self, min_delta: float, patience: int, from_epoch: int) -> None:
        if min_delta < 0:
            raise ValueError(f"min_delta must be >= 0, got {min_delta}")
        if patience <= 0:
            raise ValueError(f"patience must be positive, got {patience}")
        if from_epoch < 0:
            raise ValueError(f"from_epoch must be >= 0, got {from_epoch}")
        self.min_delta = float(min_delta)
        self.patience = int(patience)
        self.from_epoch = int(from_epoch)
        self.epoch = 0
        self.best: float | None = None
        self.counter = 0

    def _observe(self, metric: float) -> bool:
        """Update the state; return True when the counter reached ``patience``."""
        self.epoch += 1
        if self.epoch < self.from_epoch:
            return False
        metric = float(metric)
        if self.best is not None and metric < self.best + self.min_delta:
            self.counter += 1
            return self.counter >= self.patience
        self.best = metric
        self.counter = 0
        return False

    def state_dict(self) -> dict[str, Any]:
        """JSON-able state."""
        return {"kind": type(self).__name__, "min_delta": self.min_delta, "patience": self.patience,
                "from_epoch": self.from_epoch, "epoch": self.epoch, "best": self.best,
                "counter": self.counter}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict` (the rule parameters must match)."""
        _check_kind(self, state)
        for key in ("min_delta", "patience", "from_epoch"):
            if state[key] != getattr(self, key):
                raise ValueError(f"{type(self).__name__} state has {key}={state[key]}, "
                                 f"this object {getattr(self, key)}")
        self.epoch = int(state["epoch"])
        self.best = None if state["best"] is None else float(state["best"])
        self.counter = int(state["counter"])


class ReduceLROnPlateau(_Monitor):
    """Multiply ``lr_inv`` by ``factor`` when the metric stops improving.

    Parameters
    ----------
    scheduler : ConstantLR
        The holder whose ``lr_inv`` is changed.
    factor : int
        Multiplier of ``lr_inv`` (3 in the experiments).
    min_delta : float
        Required improvement over the best value (0.01).
    patience : int
        Non-improving epochs before firing (15); the counter then restarts at 0.
    from_epoch : int
        First monitored epoch, counting calls from 1 (10).
    """

    def __init__(self, scheduler: ConstantLR, factor: int = 3, min_delta: float = 0.01,
                 patience: int = 15, from_epoch: int = 10) -> None:
        super().__init__(min_delta, patience, from_epoch)
        if isinstance(factor, bool) or not isinstance(factor, int) or factor < 1:
            raise ValueError(f"factor must be an integer >= 1, got {factor!r}")
        self.scheduler = scheduler
        self.factor = factor

    def step(self, metric: float) -> bool:
        """Observe one epoch's metric; return True when ``lr_inv`` was multiplied."""
        if self._observe(metric):
            self.counter = 0
            self.scheduler.set_lr(self.scheduler.get_lr() * self.factor)
            return True
        return False

    def state_dict(self) -> dict[str, Any]:
        """JSON-able state (the ``lr_inv`` itself lives in the holder)."""
        return {**super().state_dict(), "factor": self.factor}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`."""
        if state.get("factor") != self.factor:
            raise ValueError(f"ReduceLROnPlateau state has factor={state.get('factor')}, this object "
                             f"{self.factor}")
        super().load_state_dict(state)


class EarlyStopping(_Monitor):
    """Stop training when the metric stops improving (counter never reset once fired).

    Parameters
    ----------
    min_delta : float
        Required improvement over the best value (0.01).
    patience : int
        Non-improving epochs before stopping (35).
    from_epoch : int
        First monitored epoch, counting calls from 1 (30).
    """

    def __init__(self, min_delta: float = 0.01, patience: int = 35, from_epoch: int = 30) -> None:
        super().__init__(min_delta, patience, from_epoch)

    def step(self, metric: float) -> bool:
        """Observe one epoch's metric; return True when training should stop."""
        return self._observe(metric)


class LinearLR(ConstantLR):
    """Unused: ``lr_inv += base * factor // 100`` per epoch after ``from_epoch``, capped.

    ``base`` is the initial ``lr_inv``. ``step()`` counts calls from 1 and increases
    ``lr_inv`` on calls ``> from_epoch``, never beyond ``max_lr_inv``.
    """

    def __init__(self, lr_inv: int = 512, factor: int = 10, from_epoch: int = 0,
                 max_lr_inv: int = 2**24) -> None:
        super().__init__(lr_inv)
        self.base = self.lr_inv
        self.factor, self.from_epoch = int(factor), int(from_epoch)
        self.max_lr_inv = check_lr_inv(max_lr_inv, "max_lr_inv")
        self.epoch = 0

    def _next(self) -> int:
        return self.lr_inv + self.base * self.factor // 100

    def step(self) -> int:
        """Advance one epoch and return the ``lr_inv`` to train with."""
        self.epoch += 1
        if self.epoch > self.from_epoch:
            self.lr_inv = min(self._next(), self.max_lr_inv)
        return self.lr_inv

    def state_dict(self) -> dict[str, Any]:
        """JSON-able state."""
        return {**super().state_dict(), "epoch": self.epoch, "base": self.base}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`."""
        super().load_state_dict(state)
        self.epoch, self.base = int(state["epoch"]), int(state["base"])


class ExponentialLR(LinearLR):
    """Unused: ``lr_inv = lr_inv * (100 + factor) // 100`` per epoch after ``from_epoch``, capped."""

    def _next(self) -> int:
        return self.lr_inv * (100 + self.factor) // 100


class HalvingLR(ConstantLR):
    """Unused: halve the learning rate (``lr_inv *= 2``) every ``num_epochs`` epochs."""

    def __init__(self, lr_inv: int = 512, num_epochs: int = 30) -> None:
        super().__init__(lr_inv)
        if num_epochs <= 0:
            raise ValueError(f"num_epochs must be positive, got {num_epochs}")
        self.num_epochs = int(num_epochs)
        self.epoch = 0

    def step(self) -> int:
        """Advance one epoch; after every ``num_epochs`` completed epochs ``lr_inv`` doubles."""
        if self.epoch and self.epoch % self.num_epochs == 0:
            self.lr_inv *= 2
        self.epoch += 1
        return self.lr_inv

    def state_dict(self) -> dict[str, Any]:
        """JSON-able state."""
        return {**super().state_dict(), "epoch": self.epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`."""
        super().load_state_dict(state)
        self.epoch = int(state["epoch"])


def _check_kind(obj: object, state: dict[str, Any]) -> None:
    if not isinstance(state, dict) or state.get("kind") != type(obj).__name__:
        kind = state.get("kind") if isinstance(state, dict) else repr(state)
        raise ValueError(f"scheduler state is for {kind}, expected {type(obj).__name__}")

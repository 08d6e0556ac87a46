"""IntegerSGD (spec §4.1): ``W <- wrap32(W - wrap32(tdiv(G, lr_inv*amp) + tdiv(W, decay_inv)))``."""

from __future__ import annotations

import numpy as np

from .intmath import EXACT_LIMIT, tdiv_const, wrap32_counted


def check_positive_int(value, name: str) -> int:
    """Return ``value`` as a Python int, raising ValueError unless it is an integer > 0."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if int(value) <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value}")
    return int(value)


class IntegerSGD:
    """Integer SGD without momentum and with the soft-clamp weight decay of spec §4.2.

    Parameters
    ----------
    amp : int
        Learning-rate amplification factor (640 for block encoders, 1 for heads and the output).
    decay_inv : int
        Inverse weight decay; 0 disables decay.
    """

    def __init__(self, amp: int = 1, decay_inv: int = 0) -> None:
        self.amp = check_positive_int(amp, "amp")
        if isinstance(decay_inv, bool) or not isinstance(decay_inv, int | np.integer) or decay_inv < 0:
            raise ValueError(f"decay_inv must be a non-negative integer (0 = no decay), got {decay_inv!r}")
        self.decay_inv = int(decay_inv)

    def step(
        self, weight: np.ndarray, grad: np.ndarray, lr_inv: int, counter: dict[str, int] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Compute the update and the new weights (the inputs are not modified).

        Parameters
        ----------
        weight : numpy.ndarray of int32
            Current (pre-update) weights.
        grad : numpy.ndarray of int32
            Batch-summed gradient, already wrapped to int32.
        lr_inv : int
            Inverse learning rate (> 0).
        counter : dict, optional
            Overflow counter; the ``"update"`` entry counts values that wrapped in the update sum
            and in the new weight.

        Returns
        -------
        update, new_weight : numpy.ndarray of int32
        """
        lr_inv = check_positive_int(lr_inv, "lr_inv")
        if weight.shape != grad.shape:
            raise ValueError(f"grad shape {grad.shape} does not match weight shape {weight.shape}")
        a = lr_inv * self.amp
        if grad.dtype == np.int32 and weight.dtype == np.int32 and a < EXACT_LIMIT:
            # float64 trunc(v / d) is the exact tdiv for |v| < 2^53 (see tdiv_const); the sum of the
            # two quotients is below 2^33, so it is exact too
            u = grad.astype(np.float64)
            if a != 1:
                u /= a
                np.trunc(u, out=u)
            if self.decay_inv > 0:
                w = weight.astype(np.float64)
                w /= self.decay_inv
                np.trunc(w, out=w)
                u += w
            u = u.astype(np.int64)
        else:
            u = tdiv_const(grad, a)
            if self.decay_inv > 0:
                u = u + tdiv_const(weight, self.decay_inv)
        update = wrap32_counted(u, "update", counter)
        new_weight = wrap32_counted(weight.astype(np.int64) - update, "update", counter)
        return update, new_weight

"""The (phase, name) pairs the golden model passes to a ``train_step`` trace hook.

The hook is called as ``trace(block, phase, name, value)`` in execution order, with ``block`` one
of ``conv<i>`` / ``block<i>`` / ``output``. Order within one training step (spec §3.6):

1. ``forward`` of every conv block and classifier block in layer order (``x``, ``z``, ``s``, ``h``;
   ``x`` is the block input after any preceding pool / dropout / flatten), then of ``output``
   (``x``, ``z``, ``y_hat``).
2. ``output`` / ``output_update``: ``e``, ``grad``, ``update``, ``weights``.
3. For each local update (classifier blocks in reverse; for a CNN in compat mode the classifier
   blocks a second time, then the conv blocks in reverse): ``head`` (``pool`` only for a conv block
   with a decoder pool, then ``y_hat``, ``e``, ``back_error``), ``head_update`` (``grad``,
   ``update``, ``weights``), then ``encoder_update`` (``d_h`` only for a conv block with a decoder
   pool: the error routed back through the pool; then ``d_s``, ``grad``, ``update``, ``weights``).

Dtypes: ``x`` int8 (int16 after a dropout), ``z`` int32, ``s``/``h``/``y_hat``/``e``/``pool`` int8
(``pool`` keeps the dtype of ``h``), everything else int32. ``weights`` is the new weight tensor.
"""

from __future__ import annotations

TRACE_POINTS: tuple[tuple[str, str], ...] = (
    ("forward", "x"),
    ("forward", "z"),
    ("forward", "s"),
    ("forward", "h"),
    ("forward", "y_hat"),
    ("output_update", "e"),
    ("output_update", "grad"),
    ("output_update", "update"),
    ("output_update", "weights"),
    ("head", "pool"),
    ("head", "y_hat"),
    ("head", "e"),
    ("head", "back_error"),
    ("head_update", "grad"),
    ("head_update", "update"),
    ("head_update", "weights"),
    ("encoder_update", "d_h"),
    ("encoder_update", "d_s"),
    ("encoder_update", "grad"),
    ("encoder_update", "update"),
    ("encoder_update", "weights"),
)
"""Every (phase, name) pair that can occur; ``forward/y_hat`` occurs only for ``output``,
``forward/s`` and ``forward/h`` only for blocks, ``head/pool`` and ``encoder_update/d_h`` only for
conv blocks with a decoder pool."""

BLOCK_TRACE_POINTS: tuple[tuple[str, str], ...] = (
    ("forward", "x"), ("forward", "z"), ("forward", "s"), ("forward", "h"),
    ("head", "y_hat"), ("head", "e"), ("head", "back_error"),
    ("head_update", "grad"), ("head_update", "update"), ("head_update", "weights"),
    ("encoder_update", "d_s"), ("encoder_update", "grad"), ("encoder_update", "update"),
    ("encoder_update", "weights"),
)  # fmt: skip
"""Points emitted by a LocalLinearBlock; a pooled conv block adds ``head/pool``, ``encoder_update/d_h``."""

OUTPUT_TRACE_POINTS: tuple[tuple[str, str], ...] = (
    ("forward", "x"), ("forward", "z"), ("forward", "y_hat"),
    ("output_update", "e"), ("output_update", "grad"), ("output_update", "update"),
    ("output_update", "weights"),
)  # fmt: skip
"""Points emitted for the ``output`` block."""

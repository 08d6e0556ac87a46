"""The NITRO-D training engine: on-chip memories, a sequencer, the MAC array and the units."""

from .boundary import CMD_CLEAR, CMD_READ, CMD_RUN, CMD_WRITE, CSR_ADDR
from .core import TrainingEngine
from .serial import SerialEngine

__all__ = ["CMD_CLEAR", "CMD_READ", "CMD_RUN", "CMD_WRITE", "CSR_ADDR", "SerialEngine", "TrainingEngine"]


def _depths_for_model(model: str, n: int, batch: int | None, weight_width: int) -> dict[str, int]:
    """Memory depths of a zoo MLP's program compiled for tiles of ``n``."""
    from ...compiler import compile_mlp
    from ...golden.zoo import get_config

    return compile_mlp(get_config(model), batch=batch, n=n, weight_width=weight_width).depths


def engine_for_model(model: str = "mlp-digits", n: int = 8, batch: int | None = None,
                     weight_width: int = 16) -> TrainingEngine:
    """The engine sized for a zoo MLP (memory depths from its compiled program).

    Parameters
    ----------
    model : str
        Zoo model name (an MLP).
    n : int
        Array size (``n x n``).
    batch : int, optional
        Batch size (default: the model's).
    weight_width : int
        Bits of a stored weight (16 or 32).
    """
    return TrainingEngine(n, _depths_for_model(model, n, batch, weight_width), weight_width=weight_width)


__all__ += ["engine_for_model"]


def serial_engine_for_model(model: str = "mlp-digits", n: int = 4, batch: int | None = None,
                            weight_width: int = 16, trace: bool = False) -> SerialEngine:
    """The serial engine sized for a zoo MLP (memory depths from its program compiled for tiles of ``n``).

    Without the trace port by default: this is the FPGA build (:class:`SerialEngine`, ``trace``).
    """
    return SerialEngine(n, _depths_for_model(model, n, batch, weight_width), weight_width=weight_width,
                        trace=trace)


__all__ += ["serial_engine_for_model"]

"""The catalog of designs that ``nitro-hw verilog`` exports into ``rtl/``.

Each entry names a top-level Verilog module, the factory that builds the Amaranth
component and the parameters it is built with. Later units and the engine add
their default configurations here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from amaranth.lib import wiring


@dataclass(frozen=True)
class Design:
    """One exportable design: ``factory(**params)`` builds it as module ``top``."""

    name: str
    factory: Callable[..., wiring.Component]
    params: dict = field(default_factory=dict)
    description: str = ""
    testbench: str | None = None  # cocotb test module in sim/, if any

    @property
    def top(self) -> str:
        return "nitro_" + self.name

    def build(self) -> wiring.Component:
        return self.factory(**self.params)


def _designs() -> list[Design]:
    from .divider import TruncatingDivider
    from .engine import engine_for_model, serial_engine_for_model
    from .error_unit import ErrorUnit
    from .mac_array import MacArray
    from .maxpool import MaxPoolArgmax, MaxPoolRoute
    from .nitro_relu import NitroRelu, NitroReluBackward
    from .scaler import Scaler
    from .sgd_update import SgdUpdate
    from .trunc_shift import TruncatingShift

    return [
        Design("trunc_shift", TruncatingShift, {"width": 32},
               "tdiv(a, 2**k): truncating division by a runtime power of two",
               testbench="test_trunc_shift"),
        Design("divider", TruncatingDivider, {"width": 32},
               "tdiv(a, d): exact truncating division by a runtime constant (multiply by reciprocal)",
               testbench="test_divider"),
        Design("scaler", Scaler, {"width": 32},
               "NITRO-Scaling: clamp(tdiv(z, SF), -127, 127) with a runtime reciprocal of SF",
               testbench="test_scaler"),
        Design("sgd_update", SgdUpdate, {"weight_width": 32},
               "IntegerSGD: W - wrap32(tdiv(G, A) + tdiv(W, decay_inv)), 32-bit weights",
               testbench="test_sgd_update"),
        Design("sgd_update16", SgdUpdate, {"weight_width": 16},
               "IntegerSGD with 16-bit weight storage and a sticky overflow flag",
               testbench="test_sgd_update"),
        Design("mac_array", MacArray,
               {"rows": 8, "cols": 8, "narrow_width": 8, "wide_width": 32, "acc_width": 32},
               "8x8 output-stationary int8 x int32 MAC array, 32-bit wrapping accumulators",
               testbench="test_mac_array"),
        Design("mac_array_w16", MacArray,
               {"rows": 8, "cols": 8, "narrow_width": 8, "wide_width": 16, "acc_width": 32},
               "8x8 MAC array, int8 x int16 (one 18x18 multiplier per MAC), 32-bit wrapping",
               testbench="test_mac_array"),
        Design("nitro_relu", NitroRelu, {"alpha": 4},
               "NITRO-ReLU forward with region code", testbench="test_nitro_relu"),
        Design("nitro_relu_backward", NitroReluBackward, {"alpha": 4},
               "NITRO-ReLU backward by region code", testbench="test_nitro_relu"),
        Design("error_unit", ErrorUnit, {"classes": 10},
               "e = wrap8(y_hat - y) and first-index argmax", testbench="test_error_unit"),
        Design("maxpool_2x2", MaxPoolArgmax, {"window": 4, "width": 8},
               "2x2 max-pool window: max, first-index argmax, zero padding", testbench="test_maxpool"),
        Design("maxpool_route_2x2", MaxPoolRoute, {"window": 4, "width": 32},
               "2x2 max-pool backward: route the error to the argmax cell", testbench="test_maxpool"),
        Design("engine", engine_for_model, {"model": "mlp-digits", "n": 8},
               "NITRO-D MLP training engine (mlp-digits memories, 8x8 MAC array, AXI-Stream)"),
        Design("engine_serial", serial_engine_for_model, {"model": "mlp-digits", "n": 4},
               "NITRO-D MLP training engine with one MAC and one divider (mlp-digits, 4x4 tiles; iCE40)"),
    ]


def catalog() -> dict[str, Design]:
    """All exportable designs by name."""
    return {d.name: d for d in _designs()}


def get_design(name: str) -> Design:
    """The design called ``name``; a clear error lists the known ones."""
    designs = catalog()
    if name not in designs:
        raise KeyError(f"unknown design {name!r}; known designs: {', '.join(sorted(designs))}")
    return designs[name]

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
    from .trunc_shift import TruncatingShift

    return [
        Design("trunc_shift", TruncatingShift, {"width": 32},
               "tdiv(a, 2**k): truncating division by a runtime power of two",
               testbench="test_trunc_shift"),
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

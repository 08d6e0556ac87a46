"""Register-to-register paths of a placed ECP5 netlist, ranked by an estimated delay.

nextpnr's post-placement timing report (``synth --no-route``) gives one Fmax and a slack
histogram, no path list. This module reads the placed netlist nextpnr writes
(``DIR/placed.json``: Yosys JSON with each cell's site in its ``NEXTPNR_BEL`` attribute) and
estimates every path's delay, to find *which* registers the failing paths start and end at.

Model (an estimate for ranking, not a timing sign-off):

* a net from one cell to another costs nextpnr-ecp5's own distance estimate for speed grade 6:
  ``0.12 ns * (6 + max(dx - 5, 0) + max(dy - 5, 0) + 2 * (min(dx, 5) + min(dy, 5)))`` for a
  distance of ``(dx, dy)`` tiles; dedicated connections cost nothing (carry ``FCO -> FCI``,
  the slice's own ``F1``/``FXA``/``FXB`` mux inputs, a LUT into the flip-flop of its own tile);
* a logic cell (``TRELLIS_COMB``) costs :data:`LOGIC_NS`, a carry bit ``FCI -> FCO``
  :data:`CARRY_NS`, a path starts at a flip-flop, hard multiplier or block RAM output with
  :data:`CLOCK_TO_OUT_NS` and ends at any of their inputs.

The estimate runs about 1.3 to 1.5 times nextpnr's post-placement figure on the engine (the
distance term dominates), so compare groups with each other, not with the clock period.
Paths are grouped by start and end register: a register's name is its flip-flop's cell name
without Yosys's ``_TRELLIS_FF_Q<n>`` suffix (the signal name in the Verilog), and with
``coarse`` also without digits (``relu3.s`` and ``relu5.s`` are ``relu#.s``).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CARRY_NS", "CLOCK_TO_OUT_NS", "LOGIC_NS", "PathGroup", "rank_paths", "wire_ns"]

#: Clock to output of the cells a path starts at.
CLOCK_TO_OUT_NS = {"TRELLIS_FF": 0.52, "MULT18X18D": 1.0, "DP16KD": 3.6}
#: A LUT input to its output (also a wide-mux stage, and a carry cell's A-D to F or FCO).
LOGIC_NS = 0.3
#: A carry bit, FCI to FCO.
CARRY_NS = 0.035
#: Inputs of a logic cell that only feed distributed RAM writes (no path through them).
_RAM_WRITE_PINS = frozenset({"WCK", "WRE", "WAD0", "WAD1", "WAD2", "WAD3", "WD", "DI0", "DI1"})
#: Inputs of a logic cell fed by dedicated wires inside a slice.
_DEDICATED_PINS = frozenset({"F1", "FXA", "FXB"})
#: Flip-flop inputs that end a path (data, direct data, clock enable, set/reset).
_FF_ENDS = ("DI", "M", "CE", "LSR")
_BEL = re.compile(r"X(\d+)/Y(\d+)/")
_FF_SUFFIX = re.compile(r"_TRELLIS_FF_Q(_\d+)?$")


def wire_ns(dx: int, dy: int) -> float:
    """nextpnr-ecp5's estimate of a net over ``(dx, dy)`` tiles (speed grade 6)."""
    dx, dy = abs(dx), abs(dy)
    return 0.12 * (6 + max(dx - 5, 0) + max(dy - 5, 0) + 2 * (min(dx, 5) + min(dy, 5)))


@dataclass(frozen=True)
class PathGroup:
    """The paths from one start register to one end register (and end pin kind)."""

    start: str
    end: str
    worst_ns: float
    endpoints: int
    over_threshold: int

    def as_dict(self) -> dict:
        return {"start": self.start, "end": self.end, "worst_ns": round(self.worst_ns, 3),
                "endpoints": self.endpoints, "over_threshold": self.over_threshold}


class _Timing:
    """Longest-path arrival times over one placed module (memoized recursion)."""

    def __init__(self, cells: dict):
        self.cells = cells
        self.loc = {}
        for name, cell in cells.items():
            bel = _BEL.match(cell.get("attributes", {}).get("NEXTPNR_BEL", ""))
            if bel is None:
                raise ValueError(f"cell {name!r} has no placement (NEXTPNR_BEL): is this a placed netlist?")
            self.loc[name] = (int(bel.group(1)), int(bel.group(2)))
        self.driver: dict[int, tuple[str, str]] = {}
        for name, cell in cells.items():
            for port, bits in cell["connections"].items():
                if cell["port_directions"].get(port) == "output":
                    for b in bits:
                        if isinstance(b, int):
                            self.driver[b] = (name, port)
        self.arrival: dict[tuple[str, str], tuple[float, str]] = {}

    def _net(self, src: str, src_port: str, dst: str, dst_port: str) -> float:
        if (src_port == "FCO" and dst_port == "FCI") or dst_port in _DEDICATED_PINS:
            return 0.0
        (x1, y1), (x2, y2) = self.loc[src], self.loc[dst]
        if dst_port == "DI" and (x1, y1) == (x2, y2):
            return 0.0
        return wire_ns(x1 - x2, y1 - y2)

    def pin(self, cell: str, port: str) -> tuple[float, str | None]:
        """Worst arrival at an input pin and the cell its path starts at (None: undriven)."""
        best: tuple[float, str | None] = (-1.0, None)
        for b in self.cells[cell]["connections"].get(port, []):
            if not isinstance(b, int) or b not in self.driver:
                continue
            src, src_port = self.driver[b]
            t, start = self.output(src, src_port)
            t += self._net(src, src_port, cell, port)
            if t > best[0]:
                best = (t, start)
        return best

    def output(self, cell: str, port: str) -> tuple[float, str]:
        key = (cell, port)
        if key in self.arrival:
            return self.arrival[key]
        c = self.cells[cell]
        if c["type"] in CLOCK_TO_OUT_NS:
            result = (CLOCK_TO_OUT_NS[c["type"]], cell)
        elif c["type"] == "TRELLIS_COMB":
            result = (0.0, cell)
            self.arrival[key] = result  # a combinational loop ends here instead of recursing forever
            for p, direction in c["port_directions"].items():
                if direction != "input" or p in _RAM_WRITE_PINS:
                    continue
                if port in ("F", "FCO") and p not in ("A", "B", "C", "D", "FCI"):
                    continue  # F and FCO come from the LUT inputs and the carry only
                t, start = self.pin(cell, p)
                if start is None:
                    continue
                t += CARRY_NS if (p == "FCI" and port == "FCO") else LOGIC_NS
                if t > result[0]:
                    result = (t, start)
        else:  # constants and anything unmodelled start a path at time 0
            result = (0.0, cell)
        self.arrival[key] = result
        return result

    def endpoints(self) -> Iterator[tuple[str, str, float, str]]:
        """``(cell, pin, arrival, start cell)`` of every timed path end."""
        for name, c in self.cells.items():
            if c["type"] == "TRELLIS_FF":
                pins = [p for p in _FF_ENDS if p in c["connections"]]
            elif c["type"] in CLOCK_TO_OUT_NS:
                pins = [p for p, d in c["port_directions"].items()
                        if d == "input" and not p.startswith("CLK") and p in c["connections"]]
            else:
                continue
            for p in pins:
                t, start = self.pin(name, p)
                if start is not None and not start.startswith("$PACKER"):  # constant drivers
                    yield name, p, t, start


def _register(cell_name: str, coarse: bool) -> str:
    name = _FF_SUFFIX.sub("", cell_name)
    return re.sub(r"\d+", "#", name) if coarse else name


def rank_paths(placed: Path | dict, threshold_ns: float = 14.0, coarse: bool = False) -> list[PathGroup]:
    """Group the placed design's paths by start and end register, worst estimated delay first.

    ``placed`` is nextpnr's ``--write`` output (a path or its parsed JSON). The end names the
    pin kind unless it is a flip-flop's data input: ``reg.CE`` (clock enable), ``reg.LSR``
    (set/reset), ``reg.M`` (direct data input), ``dsp.A`` (a hard block's input bus).
    """
    data = placed if isinstance(placed, dict) else json.loads(Path(placed).read_text())
    modules = data.get("modules") or {}
    if len(modules) != 1:
        raise ValueError(f"expected one (flattened) module in the placed netlist, found {len(modules)}")
    timing = _Timing(next(iter(modules.values()))["cells"])
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 20 * len(timing.cells) + 1000))  # one frame pair per logic level
    try:
        groups: dict[tuple[str, str], list] = {}
        for cell, pin, t, start in timing.endpoints():
            ctype = timing.cells[cell]["type"]
            end = _register(cell, coarse)
            if ctype != "TRELLIS_FF":
                end += "." + re.sub(r"\d+$", "", pin)
            elif pin != "DI":
                end += "." + pin
            g = groups.setdefault((_register(start, coarse), end), [0.0, 0, 0])
            g[0] = max(g[0], t)
            g[1] += 1
            g[2] += t > threshold_ns
    finally:
        sys.setrecursionlimit(limit)
    ranked = [PathGroup(s, e, w, n, o) for (s, e), (w, n, o) in groups.items()]
    return sorted(ranked, key=lambda g: (-g.worst_ns, g.start, g.end))

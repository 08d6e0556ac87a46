"""Write Verilog for catalog designs, with a manifest of their parameters and ports."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from amaranth.back import verilog
from amaranth.hdl import Shape
from amaranth.lib import wiring

from .fileio import atomic_write_text
from .hw.catalog import Design, catalog, get_design
from .hw.hard_multiplier import hard_multiplier_of

MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1


def design_ports(component: wiring.Component) -> list[dict]:
    """Flat Verilog port list of a component (Amaranth joins nested names with ``__``)."""
    ports = [{"name": "clk", "dir": "in", "width": 1, "signed": False},
             {"name": "rst", "dir": "in", "width": 1, "signed": False}]
    for path, member, value in component.signature.flatten(component):
        shape = Shape.cast(value.shape())  # a data.Layout (struct payload) casts to its bits
        ports.append({
            "name": "__".join(str(p) for p in path),
            "dir": "in" if member.flow == wiring.In else "out",
            "width": shape.width,
            "signed": shape.signed,
        })
    return ports


def to_verilog(design: Design, platform=None) -> tuple[str, wiring.Component]:
    """The Verilog text of ``design`` and the component it was generated from.

    ``platform`` is handed to every ``elaborate``: ``None`` for the generic Verilog of
    ``rtl/``, :data:`nitro_hw.hw.hard_multiplier.ECP5` for MULT18X18D instances with their
    own registers and DP16KD block RAMs with their output registers (simulate it with
    ``sim/models/MULT18X18D.v`` and ``sim/models/DP16KD.v``).
    """
    component = design.build()
    return verilog.convert(component, name=design.top, emit_src=False, platform=platform), component


def export(out_dir: Path, names: list[str] | None = None, platform=None) -> dict:
    """Write ``<out_dir>/<name>.v`` for each design and ``manifest.json``; return the manifest.

    ``platform`` as in :func:`to_verilog`; each manifest entry names its ``hard_multiplier``.
    """
    out_dir = Path(out_dir)
    designs = [get_design(n) for n in names] if names else list(catalog().values())
    entries = {}
    manifest_path = out_dir / MANIFEST_NAME
    if names and manifest_path.is_file():  # a partial export keeps the other entries
        entries = json.loads(manifest_path.read_text()).get("designs", {})
    for d in designs:
        text, component = to_verilog(d, platform)
        atomic_write_text(out_dir / f"{d.name}.v", text)
        entries[d.name] = {
            "file": f"{d.name}.v",
            "top": d.top,
            "description": d.description,
            "params": d.params,
            "testbench": d.testbench,
            "latency": getattr(component, "latency", None),
            "ports": design_ports(component),
            "sha256": hashlib.sha256(text.encode()).hexdigest(),
            "hard_multiplier": hard_multiplier_of(platform),
        }
    manifest = {"format_version": MANIFEST_VERSION, "generator": "nitro-hw verilog", "designs": entries}
    atomic_write_text(manifest_path, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest

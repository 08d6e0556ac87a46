"""Harnesses that put flip-flops around a design so that every path through it is timed.

Out of context (ECP5), nextpnr does not time paths that start or end at an unconstrained
top-level port, so a unit whose logic sits between its input ports and its first
register would report the Fmax of its registers only. :func:`io_register_wrapper`
keeps the design's ports as top-level ports but registers each of them once, so every
path through the design starts and ends at a flip-flop. Cost: ``input_bits +
output_bits`` flip-flops, recorded in the report under ``harness``.

Targets without an out-of-context flow (iCE40 UP5K, 39 IOs) get
:func:`scan_chain_wrapper`. A design's ports are far wider than the package (a 32-bit stream unit has ~75 port
bits), so the design is wrapped in a *scan-chain harness* with five pins:

``clk``, ``rst``
    Go straight to the design's clock and reset inputs (any input called ``clk``/``rst``
    or ending in ``_clk``/``_rst``, the names Amaranth gives to clock domains).
``scan_in``
    Shifts into a register chain, one flip-flop per input bit of the design; the chain
    drives all other inputs.
``scan_load``, ``scan_out``
    A second chain, one flip-flop per output bit, loads every output of the design in
    parallel while ``scan_load`` is high and shifts towards ``scan_out`` otherwise.

Every input bit is then controllable and every output bit observable from pins, so
synthesis cannot optimize any of the design away, and every path through the design
starts and ends at a flip-flop, so nextpnr times it like the core's own paths. The
cost is known and small: ``input_bits + output_bits`` flip-flops and about one LUT per
output bit (the load multiplexer); it is recorded in the report under ``harness``.
An LFSR/XOR-reduce harness would cost about the same but leaves the inputs uncontrollable,
so a real board could not exercise the design through it; the scan chain can.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

WRAPPER_TOP = "nitro_synth_harness"
#: Harness kinds by name (``harness`` in the report).
HARNESS_KINDS = ("io_registers", "scan_chain")
HARNESS_PINS = ("clk", "rst", "scan_in", "scan_load", "scan_out")

_MODULE_RE = r"^\s*module\s+{name}\b(.*?)^\s*endmodule"
_DECL_RE = re.compile(
    r"^\s*(input|output)\s+(?:wire\s+|reg\s+)?(?:signed\s+)?(?:\[\s*(\d+)\s*:\s*(\d+)\s*\]\s*)?"
    r"([A-Za-z_][\w$]*|\\\S+)\s*[;,)]",
    re.MULTILINE,
)


@dataclass(frozen=True)
class Port:
    """A port of the wrapped module: name, direction (``in``/``out``), width in bits."""

    name: str
    dir: str
    width: int


def verilog_ports(verilog: str, top: str) -> list[Port]:
    """Ports of module ``top`` in ``verilog``, in declaration order.

    Understands the non-ANSI declarations Amaranth writes (``input [31:0] a;``) and
    simple ANSI headers.

    Raises
    ------
    ValueError
        If ``top`` is not defined in the text or declares no ports.
    """
    m = re.search(_MODULE_RE.format(name=re.escape(top)), verilog, re.MULTILINE | re.DOTALL)
    if m is None:
        raise ValueError(f"module {top!r} not found in the Verilog source")
    ports, seen = [], set()
    for d in _DECL_RE.finditer(m.group(1)):
        direction, msb, lsb, name = d.groups()
        if name in seen:
            continue
        seen.add(name)
        width = abs(int(msb) - int(lsb)) + 1 if msb is not None else 1
        ports.append(Port(name, "in" if direction == "input" else "out", width))
    if not ports:
        raise ValueError(f"module {top!r} declares no ports")
    return ports


def _is_clock(p: Port) -> bool:
    return p.dir == "in" and p.width == 1 and (p.name == "clk" or p.name.endswith("_clk"))


def _is_reset(p: Port) -> bool:
    return p.dir == "in" and p.width == 1 and (p.name == "rst" or p.name.endswith("_rst"))


def _chain(name: str, width: int, shift_in: str) -> str:
    if width == 1:
        return f"{name} <= {shift_in};"
    return f"{name} <= {{{name}[{width - 2}:0], {shift_in}}};"


def _split(verilog: str, top: str) -> tuple[list[Port], list[Port], list[Port], int, int]:
    ports = verilog_ports(verilog, top)
    data_in = [p for p in ports if p.dir == "in" and not (_is_clock(p) or _is_reset(p))]
    data_out = [p for p in ports if p.dir == "out"]
    n_in = sum(p.width for p in data_in)
    n_out = sum(p.width for p in data_out)
    if n_out == 0:
        raise ValueError(f"module {top!r} has no outputs: nothing to observe, synthesis would remove it")
    return ports, data_in, data_out, n_in, n_out


def _decl(p: Port, name: str | None = None) -> str:
    rng = f"[{p.width - 1}:0] " if p.width > 1 else ""
    return f"{rng}{name or p.name}"


def io_register_wrapper(verilog: str, top: str) -> tuple[str, dict]:
    """Verilog of a harness that registers every data port of module ``top`` once.

    The harness (module :data:`WRAPPER_TOP`) has the same ports as ``top``; clock and
    reset pass straight through.

    Returns
    -------
    text : str
        Verilog defining :data:`WRAPPER_TOP`.
    info : dict
        ``kind`` (``io_registers``), ``input_bits``, ``output_bits``, ``ff`` (flip-flops added).
    """
    ports, data_in, data_out, n_in, n_out = _split(verilog, top)
    clocks = [p for p in ports if _is_clock(p)]
    if not clocks:
        raise ValueError(f"module {top!r} has no clock input (clk or *_clk) to register its ports with")
    clk = clocks[0].name
    lines = [f"// Port-register harness around {top}: generated by nitro_hw.synth.wrappers.",
             f"module {WRAPPER_TOP}({', '.join(p.name for p in ports)});"]
    conns = []
    for p in ports:
        kind = "input" if p.dir == "in" else "output"
        lines.append(f"  {kind} {_decl(p)};")
    for p in data_in:
        lines.append(f"  reg {_decl(p, 'r_' + p.name)};")
        lines.append(f"  always @(posedge {clk}) r_{p.name} <= {p.name};")
        conns.append(f".{p.name}(r_{p.name})")
    for p in data_out:
        lines.append(f"  wire {_decl(p, 'w_' + p.name)};")
        lines.append(f"  reg {_decl(p, 'r_' + p.name)};")
        lines.append(f"  always @(posedge {clk}) r_{p.name} <= w_{p.name};")
        lines.append(f"  assign {p.name} = r_{p.name};")
        conns.append(f".{p.name}(w_{p.name})")
    for p in ports:
        if _is_clock(p) or _is_reset(p):
            conns.append(f".{p.name}({p.name})")
    lines.append(f"  {top} dut(")
    lines.append(",\n".join(f"    {c}" for c in conns))
    lines.append("  );")
    lines.append("endmodule")
    info = {"kind": "io_registers", "input_bits": n_in, "output_bits": n_out, "ff": n_in + n_out}
    return "\n".join(lines) + "\n", info


def scan_chain_wrapper(verilog: str, top: str) -> tuple[str, dict]:
    """Verilog of a scan-chain harness around module ``top`` (see the module docstring).

    Parameters
    ----------
    verilog : str
        Source that defines ``top``.
    top : str
        Module to wrap.

    Returns
    -------
    text : str
        Verilog defining module :data:`WRAPPER_TOP` (ports :data:`HARNESS_PINS`).
    info : dict
        What the harness costs: ``kind``, ``pins``, ``input_bits``, ``output_bits``,
        ``ff`` (flip-flops the harness adds).
    """
    ports, data_in, data_out, n_in, n_out = _split(verilog, top)
    lines = [
        f"// Scan-chain harness around {top}: generated by nitro_hw.synth.wrappers.",
        f"module {WRAPPER_TOP}(clk, rst, scan_in, scan_load, scan_out);",
        "  input clk; input rst; input scan_in; input scan_load; output scan_out;",
    ]
    conns, pos = [], 0
    if n_in:
        lines.append(f"  reg [{n_in - 1}:0] in_chain;")
        lines.append(f"  always @(posedge clk) {_chain('in_chain', n_in, 'scan_in')}")
        for p in data_in:
            conns.append(f".{p.name}(in_chain[{pos + p.width - 1}:{pos}])")
            pos += p.width
    for p in ports:
        if _is_clock(p):
            conns.append(f".{p.name}(clk)")
        elif _is_reset(p):
            conns.append(f".{p.name}(rst)")
    lines.append(f"  wire [{n_out - 1}:0] outs;")
    lines.append(f"  reg [{n_out - 1}:0] out_chain;")
    lines.append("  always @(posedge clk)")
    lines.append("    if (scan_load) out_chain <= outs;")
    lines.append("    else " + _chain("out_chain", n_out, "1'b0"))
    lines.append(f"  assign scan_out = out_chain[{n_out - 1}];")
    pos = 0
    for p in data_out:
        conns.append(f".{p.name}(outs[{pos + p.width - 1}:{pos}])")
        pos += p.width
    lines.append(f"  {top} dut(")
    lines.append(",\n".join(f"    {c}" for c in conns))
    lines.append("  );")
    lines.append("endmodule")
    info = {
        "kind": "scan_chain",
        "pins": list(HARNESS_PINS),
        "input_bits": n_in,
        "output_bits": n_out,
        "ff": n_in + n_out,
    }
    return "\n".join(lines) + "\n", info

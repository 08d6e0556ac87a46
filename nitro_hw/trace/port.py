"""The trace port: its payload layout and the description of its Verilog signals.

The recommended trace port of a design is an Amaranth stream whose payload is
:func:`trace_payload_layout` (fields, least significant first: ``tag``, optional ``step``,
``data`` = ``lanes`` signed lanes of ``lane_width`` bits). In generated Verilog it becomes the
ports ``<prefix>__valid``, ``<prefix>__ready`` and one vector ``<prefix>__payload``.

A :class:`TracePortSpec` names those signals and where each field sits, so that a cocotb
monitor or a wave-file reader can decode beats from any design; :meth:`TracePortSpec.from_manifest`
builds it from ``rtl/manifest.json``'s port list.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .format import TraceError


def trace_payload_layout(tag_width: int = 8, lanes: int = 4, lane_width: int = 32, step_width: int = 0):
    """Amaranth ``StructLayout`` of a trace beat: ``tag``, [``step``], ``data[lanes]`` (LSB first).

    Parameters
    ----------
    tag_width : int
        Bits of the tag.
    lanes : int
        Values per beat.
    lane_width : int
        Bits per value (signed).
    step_width : int
        Bits of the step field (0: no step field).
    """
    from amaranth.hdl import signed
    from amaranth.lib import data

    for name, v, lo in (("tag_width", tag_width, 1), ("lanes", lanes, 1), ("lane_width", lane_width, 2),
                        ("step_width", step_width, 0)):
        if not isinstance(v, int) or v < lo:
            raise ValueError(f"trace_payload_layout: {name} must be an int >= {lo}, got {v!r}")
    fields: dict[str, Any] = {"tag": tag_width}
    if step_width:
        fields["step"] = step_width
    fields["data"] = data.ArrayLayout(signed(lane_width), lanes)
    return data.StructLayout(fields)


@dataclass(frozen=True)
class FieldSpec:
    """A field of a Verilog signal: bits ``[lsb, lsb + width)`` of ``signal``."""

    signal: str
    lsb: int
    width: int

    def extract(self, value: int) -> int:
        """The field's raw bits from the signal's integer value."""
        return (value >> self.lsb) & ((1 << self.width) - 1)


@dataclass(frozen=True)
class TracePortSpec:
    """Where a trace port's handshake and fields are.

    Attributes
    ----------
    clock : str
        Clock signal (beats transfer on its rising edge).
    valid : str
        Valid signal.
    ready : str or None
        Ready signal (None: the port cannot stall).
    tag, data : FieldSpec
        Tag field; data field (``lanes * lane_width`` bits, lane 0 least significant).
    step : FieldSpec or None
        Step field, if the port carries one.
    index : FieldSpec or None
        Row index (word address) field, for ports that write tensors back as addressed rows.
    lanes, lane_width : int
        Data lanes per beat and bits per lane.
    scope : str or None
        Hierarchical scope of the signals in a wave file (None: the shallowest match).
    """

    clock: str
    valid: str
    ready: str | None
    tag: FieldSpec
    data: FieldSpec
    lanes: int
    lane_width: int
    step: FieldSpec | None = None
    scope: str | None = None
    index: FieldSpec | None = None

    def __post_init__(self) -> None:
        if self.data.width != self.lanes * self.lane_width:
            raise TraceError(f"trace port: data field is {self.data.width} bits, expected "
                             f"lanes * lane_width = {self.lanes * self.lane_width}")

    def signals(self) -> list[str]:
        """Every signal the spec reads."""
        names = [self.clock, self.valid, self.tag.signal, self.data.signal]
        if self.ready:
            names.append(self.ready)
        if self.step:
            names.append(self.step.signal)
        if self.index:
            names.append(self.index.signal)
        return list(dict.fromkeys(names))

    def field_signals(self) -> list[str]:
        """Signals holding fields (sampled on a transfer)."""
        return list(dict.fromkeys(f.signal for f in (self.tag, self.data, self.step, self.index) if f))

    def decode(self, raw: dict[str, int]) -> tuple[int, list[int], int | None, int | None]:
        """``(tag, lanes, step, index)`` of a beat from the integer values of :meth:`field_signals`."""
        step = self.step.extract(raw[self.step.signal]) if self.step else None
        index = self.index.extract(raw[self.index.signal]) if self.index else None
        lanes = self.decode_lanes(self.data.extract(raw[self.data.signal]))
        return self.tag.extract(raw[self.tag.signal]), lanes, step, index

    def decode_lanes(self, data_bits: int) -> list[int]:
        """Raw lane values of a data field."""
        m = (1 << self.lane_width) - 1
        return [(data_bits >> (i * self.lane_width)) & m for i in range(self.lanes)]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TracePortSpec:
        """Inverse of :meth:`to_dict`."""
        d = dict(d)
        try:
            for f in ("tag", "data", "step", "index"):
                if d.get(f) is not None:
                    d[f] = FieldSpec(**d[f])
            return cls(**d)
        except TypeError as exc:
            raise TraceError(f"malformed trace port description: {exc}") from exc

    @classmethod
    def from_layout(cls, prefix: str = "trace", *, tag_width: int = 8, lanes: int = 4, lane_width: int = 32,
                    step_width: int = 0, clock: str = "clk", has_ready: bool = True,
                    scope: str | None = None) -> TracePortSpec:
        """The spec of a stream port ``prefix`` whose payload is :func:`trace_payload_layout`."""
        layout = trace_payload_layout(tag_width, lanes, lane_width, step_width)
        payload = f"{prefix}__payload"
        offs = {name: (f.offset, f.width) for name, f in layout}
        step = FieldSpec(payload, *offs["step"]) if step_width else None
        return cls(clock, f"{prefix}__valid", f"{prefix}__ready" if has_ready else None,
                   FieldSpec(payload, *offs["tag"]), FieldSpec(payload, *offs["data"]), lanes, lane_width,
                   step, scope)

    @classmethod
    def flat(cls, prefix: str = "trace", *, tag_width: int = 8, lanes: int = 4, lane_width: int = 32,
             index_width: int = 0, step_width: int = 0, clock: str = "clk", has_ready: bool = False,
             scope: str | None = None) -> TracePortSpec:
        """The spec of a port of separate signals ``<prefix>_valid``, ``_tag``, ``_data`` and optional
        ``_index``, ``_step``, ``_ready`` (as the training engine has)."""
        return cls(clock, f"{prefix}_valid", f"{prefix}_ready" if has_ready else None,
                   FieldSpec(f"{prefix}_tag", 0, tag_width),
                   FieldSpec(f"{prefix}_data", 0, lanes * lane_width), lanes, lane_width,
                   FieldSpec(f"{prefix}_step", 0, step_width) if step_width else None, scope,
                   FieldSpec(f"{prefix}_index", 0, index_width) if index_width else None)

    @classmethod
    def from_manifest(cls, manifest: str | Path | dict, design: str, prefix: str = "trace", *,
                      tag_width: int = 8, lanes: int = 4, lane_width: int = 32, step_width: int = 0,
                      clock: str = "clk") -> TracePortSpec:
        """The spec of port ``prefix`` of ``design`` in an ``rtl/manifest.json``, checked against its ports.

        A stream port (``<prefix>__valid/__ready/__payload``) is read with the
        :func:`trace_payload_layout` given by the keyword arguments. A port of separate signals
        (``<prefix>_valid``, ``_tag``, ``_data``, optional ``_index``, ``_step``, ``_ready``) takes
        the tag, index and step widths from the manifest and ``lanes = data width / lane_width``.

        Raises
        ------
        TraceError
            Unknown design, missing signals, or a payload width that disagrees with the layout.
        """
        if isinstance(manifest, dict):
            doc, where = manifest, "manifest"
        else:
            where = str(manifest)
            try:
                doc = json.loads(Path(manifest).read_text())
            except (OSError, json.JSONDecodeError) as exc:
                raise TraceError(f"{where}: cannot read the manifest: {exc}") from exc
        designs = doc.get("designs", {}) if isinstance(doc, dict) else {}
        if design not in designs:
            raise TraceError(f"{where}: no design {design!r} (known: {', '.join(sorted(designs)) or 'none'})")
        ports = {p["name"]: p for p in designs[design].get("ports", [])}
        if f"{prefix}__payload" not in ports and f"{prefix}_valid" in ports:
            for req in ("tag", "data"):
                if f"{prefix}_{req}" not in ports:
                    raise TraceError(f"{where}: design {design!r} has no port {prefix}_{req!s}")
            dw = ports[f"{prefix}_data"]["width"]
            if dw % lane_width:
                raise TraceError(f"{where}: {prefix}_data is {dw} bits, not a multiple of "
                                 f"lane_width {lane_width}")
            width = {k: ports[f"{prefix}_{k}"]["width"] if f"{prefix}_{k}" in ports else 0
                     for k in ("index", "step")}
            return cls.flat(prefix, tag_width=ports[f"{prefix}_tag"]["width"], lanes=dw // lane_width,
                            lane_width=lane_width, index_width=width["index"], step_width=width["step"],
                            clock=clock, has_ready=f"{prefix}_ready" in ports)
        spec = cls.from_layout(prefix, tag_width=tag_width, lanes=lanes, lane_width=lane_width,
                               step_width=step_width, clock=clock, has_ready=f"{prefix}__ready" in ports)
        for name in spec.signals():
            if name not in ports:
                raise TraceError(f"{where}: design {design!r} has no port {name!r} "
                                 f"(ports: {', '.join(sorted(ports))})")
        want = trace_payload_layout(tag_width, lanes, lane_width, step_width).size
        got = ports[spec.tag.signal]["width"]
        if got != want:
            raise TraceError(f"{where}: {spec.tag.signal} is {got} bits, the layout (tag {tag_width}, step "
                             f"{step_width}, {lanes} x {lane_width}) needs {want}")
        return spec

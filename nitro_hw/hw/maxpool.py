"""Max pooling of one window with argmax, and the backward routing of its error (spec §2.6).

The feeder presents each pooling window as one beat, cells in row-major window order
(kernel row slowest), with a mask of the cells that fall into the padding. The
reference pads with what is effectively **0** (spec §2.6, quirk A3), so a padding cell
takes part in the maximum with the value 0 whatever the feeder drives there. Ties go to
the first cell in window order. Trailing rows/columns that fill no window are simply
never fed.
"""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out


def _check(name: str, value, lo: int, hi: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise ValueError(f"{name} must be an int in [{lo}, {hi}], got {value!r}")
    return value


def argmax_tree(m: Module, values: list, width: int, index_bits: int):
    """``(max, index)`` of ``signed(width)`` values; on ties the lowest index wins.

    A balanced tree of comparators: the left operand of every node holds the lower
    indices, and the right one wins only if strictly greater.
    """
    nodes = [(v, Const(k, unsigned(index_bits))) for k, v in enumerate(values)]
    level = 0
    while len(nodes) > 1:
        nxt = []
        for k in range(0, len(nodes) - 1, 2):
            (vl, il), (vr, ir) = nodes[k], nodes[k + 1]
            right = vr > vl
            v = Signal(signed(width), name=f"max_{level}_{k}")
            i = Signal(unsigned(index_bits), name=f"arg_{level}_{k}")
            m.d.comb += [v.eq(Mux(right, vr, vl)), i.eq(Mux(right, ir, il))]
            nxt.append((v, i))
        if len(nodes) % 2:
            nxt.append(nodes[-1])
        nodes = nxt
        level += 1
    return nodes[0]


class MaxPoolArgmax(wiring.Component):
    """Maximum of one pooling window and the index of its first maximal cell.

    Parameters
    ----------
    window : int
        Cells per window ``kh * kw`` (2 to 64).
    width : int
        Width of the signed activations (8, or 16 after dropout; 2 to 32).

    Attributes
    ----------
    i : In(stream.Signature(StructLayout({"x": ArrayLayout(signed(width), window), "pad": ArrayLayout(1, window)})))
        One window; ``pad[k]`` marks a padding cell (its ``x[k]`` is ignored and taken as 0).
    o : Out(stream.Signature(StructLayout({"max": signed(width), "index": unsigned(index_bits), "pad_hit": 1})))
        The maximum, its first index (``index_bits = ceil(log2(window))``) and whether
        that cell is padding (its error is then dropped in the backward pass). One
        window per cycle, :attr:`latency` cycles after acceptance with ``o.ready`` high.
    """  # noqa: E501

    def __init__(self, window: int = 4, width: int = 8):
        self.window = _check("window", window, 2, 64)
        self.width = _check("width", width, 2, 32)
        self.index_bits = (window - 1).bit_length()
        super().__init__({
            "i": In(stream.Signature(data.StructLayout({
                "x": data.ArrayLayout(signed(width), window),
                "pad": data.ArrayLayout(1, window),
            }))),
            "o": Out(stream.Signature(data.StructLayout({
                "max": signed(width),
                "index": unsigned(self.index_bits),
                "pad_hit": 1,
            }))),
        })

    @property
    def latency(self) -> int:
        """Cycles from an accepted window to its output (with ``o.ready`` high)."""
        return 1

    def elaborate(self, platform):
        m = Module()
        x, pad = self.i.payload.x, self.i.payload.pad
        cells = []
        for k in range(self.window):
            c = Signal(signed(self.width), name=f"cell_{k}")
            m.d.comb += c.eq(Mux(pad[k], 0, x[k]))  # zero padding (spec §2.6)
            cells.append(c)
        best, index = argmax_tree(m, cells, self.width, self.index_bits)
        pad_bits = Signal(self.window)
        m.d.comb += pad_bits.eq(pad.as_value())

        m.d.comb += self.i.ready.eq(~self.o.valid | self.o.ready)
        with m.If(self.i.ready):
            m.d.sync += self.o.valid.eq(self.i.valid)
            with m.If(self.i.valid):
                m.d.sync += [
                    self.o.payload.max.eq(best),
                    self.o.payload.index.eq(index),
                    self.o.payload.pad_hit.eq(pad_bits.bit_select(index, 1)),
                ]
        return m


class MaxPoolRoute(wiring.Component):
    """Backward of max pooling: route a window's error to its argmax cell.

    Parameters
    ----------
    window : int
        Cells per window (2 to 64).
    width : int
        Width of the signed error (32 in the reference; 2 to 32).

    Attributes
    ----------
    i : In(stream.Signature(StructLayout({"error": signed(width), "index": unsigned(index_bits), "drop": 1})))
        The output error of one window, the stored argmax index, and ``drop`` (the
        stored ``pad_hit``: the error of a padding cell is dropped).
    o : Out(stream.Signature(ArrayLayout(signed(width), window)))
        The window's input errors: ``error`` at ``index`` (unless ``drop``), 0 elsewhere.
        Windows never overlap, so no accumulation is needed.
    """  # noqa: E501

    def __init__(self, window: int = 4, width: int = 32):
        self.window = _check("window", window, 2, 64)
        self.width = _check("width", width, 2, 32)
        self.index_bits = (window - 1).bit_length()
        super().__init__({
            "i": In(stream.Signature(data.StructLayout({
                "error": signed(width),
                "index": unsigned(self.index_bits),
                "drop": 1,
            }))),
            "o": Out(stream.Signature(data.ArrayLayout(signed(width), window))),
        })

    @property
    def latency(self) -> int:
        """Cycles from an accepted error to its routed window (with ``o.ready`` high)."""
        return 1

    def elaborate(self, platform):
        m = Module()
        p = self.i.payload
        m.d.comb += self.i.ready.eq(~self.o.valid | self.o.ready)
        with m.If(self.i.ready):
            m.d.sync += self.o.valid.eq(self.i.valid)
            with m.If(self.i.valid):
                for k in range(self.window):
                    hit = (p.index == k) & ~p.drop
                    m.d.sync += self.o.payload[k].eq(Mux(hit, p.error, 0))
        return m

"""Error signal ``e = wrap8(y_hat - y)`` and argmax of the logits (spec §3.3, §1.3, §10.1)."""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out


def _argmax_tree(m: Module, values: list, index_bits: int):
    """Balanced comparator tree; on ties the lower index wins (the left subtree holds lower indices)."""
    nodes = [(v, Const(k, unsigned(index_bits))) for k, v in enumerate(values)]
    while len(nodes) > 1:
        nxt = []
        for k in range(0, len(nodes) - 1, 2):
            (vl, il), (vr, ir) = nodes[k], nodes[k + 1]
            right = vr > vl  # strictly greater: a tie keeps the left (first) index
            v = Signal(signed(8), name=f"max_l{len(nodes)}_{k}")
            i = Signal(unsigned(index_bits), name=f"arg_l{len(nodes)}_{k}")
            m.d.comb += [v.eq(Mux(right, vr, vl)), i.eq(Mux(right, ir, il))]
            nxt.append((v, i))
        if len(nodes) % 2:
            nxt.append(nodes[-1])
        nodes = nxt
    return nodes[0][1]


class ErrorUnit(wiring.Component):
    """Per-class error ``e = wrap8(y_hat - y)`` and ``argmax(y_hat)`` (first index on ties).

    The subtraction is the reference's int8 subtraction, which wraps (spec §1.3): for
    ``y_hat = -100, y = 32`` the error is ``+124``. One sample per cycle.

    Parameters
    ----------
    classes : int
        Number of classes ``K`` (2 to 256; default 10).

    Attributes
    ----------
    i : In(stream.Signature(StructLayout({"y_hat": ArrayLayout(signed(8), K), "y": ArrayLayout(signed(8), K)})))
        Logits and one-hot targets of one sample.
    o : Out(stream.Signature(StructLayout({"e": ArrayLayout(signed(8), K), "argmax": unsigned(index_bits)})))
        Errors and the predicted class, in input order, :attr:`latency` cycles after
        acceptance when ``o.ready`` stays high. ``index_bits = ceil(log2(K))`` (4 for 10).
    """  # noqa: E501

    def __init__(self, classes: int = 10):
        if not isinstance(classes, int) or isinstance(classes, bool) or not 2 <= classes <= 256:
            raise ValueError(f"ErrorUnit: classes must be an int in [2, 256], got {classes!r}")
        self.classes = classes
        self.index_bits = (classes - 1).bit_length()
        super().__init__({
            "i": In(stream.Signature(data.StructLayout({
                "y_hat": data.ArrayLayout(signed(8), classes),
                "y": data.ArrayLayout(signed(8), classes),
            }))),
            "o": Out(stream.Signature(data.StructLayout({
                "e": data.ArrayLayout(signed(8), classes),
                "argmax": unsigned(self.index_bits),
            }))),
        })

    @property
    def latency(self) -> int:
        """Cycles from an accepted input to its output (with ``o.ready`` high)."""
        return 1

    def elaborate(self, platform):
        m = Module()
        K = self.classes
        y_hat, y = self.i.payload.y_hat, self.i.payload.y
        argmax = _argmax_tree(m, [y_hat[k] for k in range(K)], self.index_bits)

        m.d.comb += self.i.ready.eq(~self.o.valid | self.o.ready)
        with m.If(self.i.ready):
            m.d.sync += self.o.valid.eq(self.i.valid)
            with m.If(self.i.valid):
                for k in range(K):
                    m.d.sync += self.o.payload.e[k].eq((y_hat[k] - y[k])[:8])  # wrap8
                m.d.sync += self.o.payload.argmax.eq(argmax)
        return m

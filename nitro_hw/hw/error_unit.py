"""Error signal ``e = wrap8(y_hat - y)`` and argmax of the logits (spec §3.3, §1.3, §10.1)."""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

#: Input registers before the comparator tree.
INPUT_STAGES = 2


def _argmax_tree(m: Module, en, values: list, index_bits: int):
    """Balanced comparator tree, one register per level (advancing on ``en``).

    On ties the lower index wins (the left subtree holds the lower indices). Returns the
    ``(max, argmax)`` registers of the root and the number of levels (= register stages).
    """
    nodes = [(v, Const(k, unsigned(index_bits))) for k, v in enumerate(values)]
    levels = 0
    while len(nodes) > 1:
        nxt = []
        for k in range(0, len(nodes) - 1, 2):
            (vl, il), (vr, ir) = nodes[k], nodes[k + 1]
            right = vr > vl  # strictly greater: a tie keeps the left (first) index
            v = Signal(signed(8), name=f"max_l{levels}_{k // 2}")
            i = Signal(unsigned(index_bits), name=f"arg_l{levels}_{k // 2}")
            with m.If(en):
                m.d.sync += [v.eq(Mux(right, vr, vl)), i.eq(Mux(right, ir, il))]
            nxt.append((v, i))
        if len(nodes) % 2:  # the odd node waits one level in a register
            (vo, io) = nodes[-1]
            v = Signal(signed(8), name=f"max_l{levels}_odd")
            i = Signal(unsigned(index_bits), name=f"arg_l{levels}_odd")
            with m.If(en):
                m.d.sync += [v.eq(vo), i.eq(io)]
            nxt.append((v, i))
        nodes = nxt
        levels += 1
    return nodes[0][0], nodes[0][1], levels


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
    o : Out(stream.Signature(StructLayout({"e": ArrayLayout(signed(8), K), "argmax": unsigned(index_bits), "max": signed(8)})))
        Errors, the predicted class and its logit ``y_hat[argmax]``, in input order,
        :attr:`latency` cycles after acceptance when ``o.ready`` stays high.
        ``index_bits = ceil(log2(K))`` (4 for 10).
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
                "max": signed(8),
            }))),
        })

    @property
    def latency(self) -> int:
        """Cycles from an accepted input to its output (with ``o.ready`` high).

        Two input registers (the logits come from one scaling lane each, spread over the die:
        two register-to-register hops), then one register per level of the argmax comparator
        tree (``ceil(log2 K)``, at least 1).
        """
        return INPUT_STAGES + max(1, (self.classes - 1).bit_length())

    def elaborate(self, platform):
        m = Module()
        K, L = self.classes, self.latency - INPUT_STAGES  # L: the stages after the input registers
        en = Signal()
        m.d.comb += [en.eq(~self.o.valid | self.o.ready), self.i.ready.eq(en)]
        y_hat, y, valid_in = self.i.payload.y_hat, self.i.payload.y, self.i.valid
        for j in range(INPUT_STAGES):
            nxt_y_hat = Signal.like(self.i.payload.y_hat, name=f"y_hat_in{j}")
            nxt_y = Signal.like(self.i.payload.y, name=f"y_in{j}")
            nxt_valid = Signal(name=f"valid_in{j}")
            with m.If(en):
                m.d.sync += [nxt_y_hat.eq(y_hat), nxt_y.eq(y), nxt_valid.eq(valid_in)]
            y_hat, y, valid_in = nxt_y_hat, nxt_y, nxt_valid
        top, argmax, levels = _argmax_tree(m, en, [y_hat[k] for k in range(K)], self.index_bits)
        assert levels == L
        # the errors travel beside the tree
        e = Signal(data.ArrayLayout(signed(8), K))
        with m.If(en):
            m.d.sync += [e[k].eq((y_hat[k] - y[k])[:8]) for k in range(K)]  # wrap8
        for j in range(1, L):
            nxt = Signal.like(e, name=f"e_d{j}")
            with m.If(en):
                m.d.sync += nxt.eq(e)
            e = nxt
        valid = valid_in
        for j in range(1, L):
            nxt = Signal(name=f"valid_d{j}")
            with m.If(en):
                m.d.sync += nxt.eq(valid)
            valid = nxt
        with m.If(en):
            m.d.sync += self.o.valid.eq(valid)
        m.d.comb += [self.o.payload.e.eq(e), self.o.payload.argmax.eq(argmax),
                     self.o.payload.max.eq(top)]
        return m

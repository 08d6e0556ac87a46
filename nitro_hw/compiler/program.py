"""Program compiler: a golden MLP config + batch size + array size -> engine program.

The engine keeps every tensor of a training step on chip. The three GEMMs of a layer need
different transposes (spec §2.1): ``z = x·Wᵀ`` (lanes over batch x output), the head back
error ``e·W_sub`` (batch x input) and the gradient ``δᵀ·x`` (input x output, summed over the
batch). With an output-stationary ``N x N`` array (narrow int8 operand on the rows, wide
operand on the columns) every GEMM streams one word of each operand per cycle when:

* activations/errors exist in two layouts (module :mod:`nitro_hw.compiler.layout`): the
  column layout AF (lanes over the batch) feeds the forward and back-error GEMMs, the row
  layout feeds the gradient GEMMs (activations in AG, errors in E, so the gradient GEMM of a
  head reads its two operands from two memories). Each producer writes both: the tile rows
  go straight to AG or E, a double-buffered ``N x N`` transposer writes AF;
* weights are stored in the forward layout WF, which is exactly the row order in which the
  gradient GEMM delivers ``G`` (so the SGD update is a read-modify-write of WF rows); the local
  heads also keep a transposed copy WT (written by the same transposer at update time) for the
  back-error GEMM, which must use the pre-update head weights.

Padding: every feature dimension is padded to a multiple of ``N`` with zeros; padded lanes of
``h`` and ``e`` are forced to zero by the epilogue, so padded weights get a zero gradient and
stay zero (``tdiv(0, ·) = 0``). The batch must be a multiple of ``N``.

Every memory has one read port and one write port (what a block RAM offers in simple
dual-port mode): the schedule never needs two reads of one memory in the same cycle.
Weights are stored in ``weight_width`` bits (16: the FPGA default, half the block RAM; the
engine flags a new weight that does not fit; 32: exact for every int32 weight).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..hw.divider import divider_constants
from . import isa
from .layout import pad_to

__all__ = ["MEM_IDS", "WEIGHT_WIDTHS", "Layer", "Program", "Tensor", "compile_mlp", "CompileError",
           "mem_lane_bits"]

#: Memory ids of the command protocol (see :mod:`nitro_hw.hw.engine`).
MEM_IDS = {"PROG": 0, "WF": 1, "WT": 2, "AF": 3, "AG": 4, "Y": 5, "RG": 6, "D": 7, "PRED": 8, "CSR": 9,
           "E": 10}
#: Supported weight storage widths (memories WF and WT).
WEIGHT_WIDTHS = (16, 32)


def mem_lane_bits(weight_width: int = 16) -> dict[str, int]:
    """Lane width of each data memory (all have N lanes; PRED has 1 lane of 8 bits)."""
    if weight_width not in WEIGHT_WIDTHS:
        raise CompileError(f"weight_width must be one of {WEIGHT_WIDTHS}, got {weight_width!r}")
    return {"WF": weight_width, "WT": weight_width, "AF": 8, "AG": 8, "E": 8, "Y": 8, "RG": 2, "D": 32,
            "PRED": 8}

ADDR_LIMIT = 1 << isa.ADDR_BITS
MAX_INSTRUCTIONS = 32


class CompileError(ValueError):
    """The model does not fit the engine (unsupported kind, too large, bad parameter)."""


@dataclass(frozen=True)
class Tensor:
    """One tensor in an engine memory: ``words`` words from ``base``; ``layout`` as in :mod:`.layout`."""

    name: str
    mem: str
    base: int
    words: int
    shape: tuple[int, ...]
    layout: str


@dataclass(frozen=True)
class Layer:
    """A trainable layer ``W[out, in]`` with its SGD settings and its memory tensors."""

    name: str
    out_features: int
    in_features: int
    amp: int
    decay_inv: int
    wf: str
    wt: str | None = None


@dataclass
class Program:
    """A compiled engine program and everything the host needs to drive it.

    Attributes
    ----------
    n : int
        Array size (``n x n``).
    batch : int
        Batch size.
    config_name : str
        Model name.
    lr_inv : int
        Inverse learning rate compiled into the SGD constants.
    layers : dict
        Parameter name -> :class:`Layer` (golden parameter names).
    tensors : dict
        Tensor name -> :class:`Tensor`.
    depths : dict
        Memory name -> depth in words (>= 1).
    instructions : list of dict
        Decoded instructions (``name``, ``op``, fields, ``macs`` = useful MACs).
    train_entry, infer_entry : int
        Instruction index where a training step / an inference batch starts.
    weight_width : int
        Bits of a stored weight (16 or 32).
    """

    n: int
    batch: int
    config_name: str
    lr_inv: int
    num_classes: int
    input_features: int
    layers: dict[str, Layer]
    tensors: dict[str, Tensor]
    depths: dict[str, int]
    instructions: list[dict] = field(default_factory=list)
    train_entry: int = 0
    infer_entry: int = 0
    weight_width: int = 16

    @property
    def lane_bits(self) -> dict[str, int]:
        """Lane width of each data memory."""
        return mem_lane_bits(self.weight_width)

    @property
    def word_bits(self) -> int:
        """Width of a stream beat and of the widest memory word: ``32 * n``."""
        return 32 * self.n

    def program_words(self) -> list[int]:
        """The program memory image (``PROG_WORD_BITS``-bit words)."""
        words: list[int] = []
        for ins in self.instructions:
            words.extend(isa.pack_instruction(ins["fields"]))
        return words

    def tag_table(self) -> dict[int, tuple[str, str, str]]:
        """Trace tag -> golden ``(block, phase, name)`` of the tensor the instruction writes back."""
        return {ins["fields"]["tag"]: ins["trace"] for ins in self.instructions if ins["op"] != "END"}

    def useful_macs(self, train: bool = True) -> int:
        """MACs of one training step (``train``) or one inference batch, without padding."""
        lo, hi = self.entry_range(train)
        return sum(ins["macs"] for ins in self.instructions[lo:hi])

    def entry_range(self, train: bool = True) -> tuple[int, int]:
        """``[start, end)`` indices of the instructions (END excluded) a run executes."""
        start = self.train_entry if train else self.infer_entry
        end = start
        while self.instructions[end]["op"] != "END":
            end += 1
        return start, end


def _check_int(v, name: str, lo: int = 1) -> int:
    if isinstance(v, bool) or not hasattr(v, "__index__") or int(v) < lo:
        raise CompileError(f"{name} must be an int >= {lo}, got {v!r}")
    return int(v)


def compile_mlp(cfg, batch: int | None = None, n: int = 8, lr_inv: int | None = None,
                weight_width: int = 16) -> Program:
    """Compile a golden MLP config into an engine program (training step + inference).

    Parameters
    ----------
    cfg : nitro_hw.golden.zoo.ModelConfig
        An MLP (``kind == "mlp"``) without dropout.
    batch : int, optional
        Batch size (default ``cfg.batch_size``); a multiple of ``n``.
    n : int
        Array size (``n x n``), 4 to 32.
    lr_inv : int, optional
        Inverse learning rate (default ``cfg.lr_inv``).
    weight_width : int
        Bits of a stored weight: 16 (default) or 32.

    Returns
    -------
    Program

    Raises
    ------
    CompileError
        Unsupported model, sizes that do not fit the 16-bit address fields, bad parameters.
    """
    if getattr(cfg, "kind", None) != "mlp":
        raise CompileError(f"cfg: only MLP configs are supported, got kind={getattr(cfg, 'kind', None)!r}")
    if getattr(cfg, "fc_dropout", 0):
        raise CompileError("cfg: dropout needs masks from the host; not supported by the engine yet")
    mem_lane_bits(weight_width)  # checks weight_width
    n = _check_int(n, "n", 4)
    if n > 32:
        raise CompileError(f"n must be <= 32, got {n}")
    batch = _check_int(cfg.batch_size if batch is None else batch, "batch")
    if batch % n:
        raise CompileError(f"batch ({batch}) must be a multiple of the array size n ({n})")
    lr_inv = _check_int(cfg.lr_inv if lr_inv is None else lr_inv, "lr_inv")
    k_cls = _check_int(cfg.num_classes, "cfg.num_classes")
    if k_cls > 255:
        raise CompileError("cfg.num_classes must be <= 255")
    dims = [int(cfg.input_features), *[int(h) for h in cfg.hidden]]
    if len(dims) < 2:
        raise CompileError("cfg.hidden: the engine needs at least one LocalLinearBlock")
    bt = batch // n
    kp = pad_to(k_cls, n)

    tensors: dict[str, Tensor] = {}
    top = dict.fromkeys(MEM_IDS, 0)

    def alloc(name: str, mem: str, words: int, shape: tuple[int, ...], layout: str) -> Tensor:
        t = Tensor(name, mem, top[mem], words, shape, layout)
        top[mem] += words
        tensors[name] = t
        return t

    def act(name: str, f: int, row_mem: str = "AG") -> None:
        fp = pad_to(f, n)
        alloc(f"{name}.col", "AF", bt * fp, (batch, f), "col")
        alloc(f"{name}.row", row_mem, fp // n * batch, (batch, f), "row")

    act("x", dims[0])
    for i in range(1, len(dims)):
        act(f"h{i - 1}", dims[i])
    act("e", k_cls, "E")
    alloc("y", "Y", kp // n * batch, (batch, k_cls), "row")
    dmax = max(pad_to(d, n) for d in dims[1:])
    alloc("delta", "D", dmax // n * batch, (batch, dmax), "row")
    alloc("pred", "PRED", batch, (batch,), "scalar")

    layers: dict[str, Layer] = {}
    for i in range(len(dims) - 1):
        fi, fo = dims[i], dims[i + 1]
        alloc(f"region{i}", "RG", pad_to(fo, n) // n * batch, (batch, fo), "row")
        alloc(f"block{i}.encoder", "WF", pad_to(fo, n) // n * pad_to(fi, n), (fo, fi), "wf")
        layers[f"block{i}.encoder"] = Layer(f"block{i}.encoder", fo, fi, int(cfg.lr_amp_factor),
                                            int(cfg.fwd_decay_inv), f"block{i}.encoder")
        alloc(f"block{i}.head", "WF", kp // n * pad_to(fo, n), (k_cls, fo), "wf")
        alloc(f"block{i}.head.t", "WT", pad_to(fo, n) // n * kp, (k_cls, fo), "wt")
        layers[f"block{i}.head"] = Layer(f"block{i}.head", k_cls, fo, 1, int(cfg.subnet_decay_inv),
                                         f"block{i}.head", f"block{i}.head.t")
    alloc("output", "WF", kp // n * pad_to(dims[-1], n), (k_cls, dims[-1]), "wf")
    layers["output"] = Layer("output", k_cls, dims[-1], 1, int(cfg.subnet_decay_inv), "output")

    depths = {m: max(1, top[m]) for m in MEM_IDS if m not in ("PROG", "CSR")}
    for m, d in depths.items():
        if d > ADDR_LIMIT:
            raise CompileError(f"memory {m} needs {d} words; the engine addresses at most {ADDR_LIMIT}")

    instrs: list[dict] = []

    def emit(name: str, op: str, trace: tuple[str, str, str], macs: int, **f) -> None:
        f = {"op": isa.OPS[op], "phase": len(instrs), "tag": len(instrs) + 1, **f}
        instrs.append({"name": name, "op": op, "trace": trace, "macs": macs, "fields": f})

    def scaler(fan_in: int) -> dict:
        mult, sh = divider_constants(256 * fan_in, 32)
        return {"sc_mult": mult, "sc_shift": sh}

    def sgd(layer: Layer) -> dict:
        lm, ls = divider_constants(lr_inv * layer.amp, 32)
        if layer.decay_inv:
            dm, ds = divider_constants(layer.decay_inv, weight_width)
            return {"lr_mult": lm, "lr_shift": ls, "dc_mult": dm, "dc_shift": ds, "dc_en": 1}
        return {"lr_mult": lm, "lr_shift": ls}

    def fwd(name: str, op: str, x: str, w: str, fi: int, fo: int, out: str, aux: str, trace) -> None:
        fip, fop = pad_to(fi, n), pad_to(fo, n)
        emit(name, op, trace, batch * fi * fo,
             mt=bt, nt=fop // n, k_len=fi,
             n_base=tensors[f"{x}.col"].base, n_mstride=fip,
             wsrc=isa.WSRC_WF, w_base=tensors[w].base, w_nstride=fip,
             o_base=tensors[f"{out}.row"].base, o_nstride=batch, o_mstride=n,
             a_base=tensors[aux].base, twrite=1,
             t_base=tensors[f"{out}.col"].base, t_mstride=fop, n_valid=fo, **scaler(fi))

    def grad(name: str, x: str, fi: int, layer: Layer, wide: str, trace) -> None:
        fip, fop = pad_to(fi, n), pad_to(layer.out_features, n)
        wsrc = isa.WSRC_D if wide == "delta" else isa.WSRC_E
        emit(name, "GRAD", trace, batch * fi * layer.out_features,
             mt=fip // n, nt=fop // n, k_len=batch,
             n_base=tensors[f"{x}.row"].base, n_mstride=batch,
             wsrc=wsrc, w_base=tensors[wide].base, w_nstride=batch,
             o_base=tensors[layer.wf].base, o_nstride=fip, o_mstride=n,
             twrite=int(layer.wt is not None),
             t_base=tensors[layer.wt].base if layer.wt else 0, t_mstride=fop,
             n_valid=layer.out_features, **sgd(layer))

    nb = len(dims) - 1
    # 1) forward of every block
    for i in range(nb):
        fwd(f"block{i}.forward", "FWD_RELU", "x" if i == 0 else f"h{i - 1}", f"block{i}.encoder",
            dims[i], dims[i + 1], f"h{i}", f"region{i}", (f"block{i}", "forward", "h"))
    # 2) output layer: forward + error, update
    last = f"h{nb - 1}"
    fwd("output.forward", "FWD_ERR", last, "output", dims[-1], k_cls, "e", "y",
        ("output", "output_update", "e"))
    infer_end = len(instrs)
    grad("output.update", last, dims[-1], layers["output"], "e.row", ("output", "output_update", "weights"))
    # 3) local updates, last block first
    for i in reversed(range(nb)):
        fo = dims[i + 1]
        fop = pad_to(fo, n)
        head = layers[f"block{i}.head"]
        fwd(f"block{i}.head", "FWD_ERR", f"h{i}", f"block{i}.head", fo, k_cls, "e", "y",
            (f"block{i}", "head", "e"))
        emit(f"block{i}.back_error", "BACKERR", (f"block{i}", "encoder_update", "d_s"), batch * k_cls * fo,
             mt=bt, nt=fop // n, k_len=k_cls,
             n_base=tensors["e.col"].base, n_mstride=kp,
             wsrc=isa.WSRC_WT, w_base=tensors[f"block{i}.head.t"].base, w_nstride=kp,
             o_base=tensors["delta"].base, o_nstride=batch, o_mstride=n,
             a_base=tensors[f"region{i}"].base, n_valid=fo)
        grad(f"block{i}.head_update", f"h{i}", fo, head, "e.row", (f"block{i}", "head_update", "weights"))
        grad(f"block{i}.encoder_update", "x" if i == 0 else f"h{i - 1}", dims[i], layers[f"block{i}.encoder"],
             "delta", (f"block{i}", "encoder_update", "weights"))
    emit("end", "END", ("", "", ""), 0)
    train_end = len(instrs)
    # inference: the forward instructions again (the FWD_ERR of the output writes PRED), then END
    for ins in instrs[:infer_end]:
        emit(ins["name"], ins["op"], ins["trace"], ins["macs"],
             **{k: v for k, v in ins["fields"].items() if k not in ("op", "phase", "tag")})
    emit("end", "END", ("", "", ""), 0)
    if len(instrs) > MAX_INSTRUCTIONS:
        raise CompileError(f"the program needs {len(instrs)} instructions; "
                           f"the engine holds {MAX_INSTRUCTIONS}")
    for ins in instrs:
        for key, v in ins["fields"].items():
            if isinstance(v, int) and v < 0:
                raise CompileError(f"{ins['name']}: negative field {key}")
        isa.pack_instruction(ins["fields"])  # range check of every field
    depths["PROG"] = len(instrs) * isa.instr_words()
    return Program(n=n, batch=batch, config_name=cfg.name, lr_inv=lr_inv, num_classes=k_cls,
                   input_features=dims[0], layers=layers, tensors=tensors, depths=depths,
                   instructions=instrs, train_entry=0, infer_entry=train_end, weight_width=weight_width)

"""Registered products for hard multipliers: ``p = reg(reg(a) * reg(b))``, two cycles.

Every multiplier of the datapath (the MAC array's and the dividers') is an operand register
on each input, a product, and a product register. How that reaches the FPGA depends on the
Amaranth ``platform`` argument of ``elaborate``:

* no platform, or one without a ``hard_multiplier`` attribute (simulation, ``rtl/``, iCE40):
  fabric registers around ``*``. Yosys maps the product to the family's DSP; on iCE40
  ``synth_ice40 -dsp`` also pulls the registers into the SB_MAC16.
* a platform with ``hard_multiplier == "MULT18X18D"`` (:data:`ECP5`): one ECP5 MULT18X18D
  instance with its A, B and output registers enabled (``REG_INPUTA_CLK``, ``REG_INPUTB_CLK``,
  ``REG_OUTPUT_CLK`` on CLK0, all on CE0). Yosys's ``synth_ecp5`` never packs fabric
  registers into a MULT18X18D, so without this the multiplier is a combinational block
  between two fabric registers, timed with the routes to and from its DSP site; with the
  registers inside, the multiplier's delay is internal and nextpnr times the
  ``MULT18X18D_REGS_ALL`` arcs.

Both forms compute the same values cycle for cycle: the registers advance when ``en`` is high
(always without ``en``) and are never reset (initial value 0; the valid pipelines of the units
mask them until real data arrives). ``sim/models/MULT18X18D.v`` is a behavioural model of the
subset of the primitive used here (the Lattice model is not open), so tests can simulate the
ECP5 form under cocotb against the same golden model as the generic one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from amaranth.hdl import ClockSignal, Const, Instance, Module, Signal, Value, signed

from . import KEEP, distinct_init

__all__ = ["ECP5", "HARD_MULTIPLIERS", "HardMultiplierPlatform", "hard_multiplier_of",
           "platform_for", "registered_product", "simulation_model", "simulation_models"]

#: Hard multiplier primitives :func:`registered_product` can instantiate.
HARD_MULTIPLIERS = ("MULT18X18D",)
#: Operand width of the ECP5 MULT18X18D (signed 18 x 18 -> 36).
MULT18X18D_WIDTH = 18
#: Behavioural models of the primitives (``<name>.v``), for simulating the instances.
MODELS_DIR = Path(__file__).resolve().parents[2] / "sim" / "models"


@dataclass(frozen=True)
class HardMultiplierPlatform:
    """A minimal Amaranth ``platform`` naming the hard primitives to instantiate.

    Pass it to ``amaranth.back.verilog.convert(..., platform=...)``; every unit's
    ``elaborate`` receives it: :func:`registered_product` reads ``hard_multiplier``,
    :func:`nitro_hw.hw.block_ram.registered_slice` reads ``block_ram``.
    """

    hard_multiplier: str
    block_ram: str | None = None


#: Verilog for ECP5: every registered product on a MULT18X18D with its own registers, every
#: large block-RAM slice of the engine's memories a DP16KD with its output register.
ECP5 = HardMultiplierPlatform("MULT18X18D", "DP16KD")


def hard_multiplier_of(platform) -> str | None:
    """The primitive named by ``platform`` (``None`` for generic fabric registers)."""
    name = getattr(platform, "hard_multiplier", None)
    if name is not None and name not in HARD_MULTIPLIERS:
        raise ValueError(f"unsupported hard multiplier {name!r}: use one of {', '.join(HARD_MULTIPLIERS)} "
                         "or none")
    return name


def platform_for(name: str | None) -> HardMultiplierPlatform | None:
    """The platform instantiating hard multiplier ``name``; ``None`` (or ``"generic"``) for none.

    ``"MULT18X18D"`` gives :data:`ECP5` (its block RAMs are DP16KD instances too: the form
    ``nitro-hw synth`` builds for ECP5). Raises ``ValueError`` for a primitive not in
    :data:`HARD_MULTIPLIERS`.
    """
    if name is None or name == "generic":
        return None
    hard_multiplier_of(HardMultiplierPlatform(name))
    return ECP5


def simulation_model(name: str) -> Path:
    """The behavioural Verilog model of primitive ``name`` (``sim/models/<name>.v``)."""
    from .block_ram import BLOCK_RAMS

    if name not in BLOCK_RAMS:
        hard_multiplier_of(HardMultiplierPlatform(name))
    return MODELS_DIR / f"{name}.v"


def simulation_models(platform) -> list[Path]:
    """The behavioural models of every primitive ``platform`` instantiates (``[]`` for none)."""
    from .block_ram import block_ram_of

    names = [hard_multiplier_of(platform), block_ram_of(platform)]
    return [simulation_model(n) for n in names if n is not None]


def _fits_signed18(v: Value) -> bool:
    shape = v.shape()
    return shape.width + (0 if shape.signed else 1) <= MULT18X18D_WIDTH


def registered_product(m: Module, platform, a: Value, b: Value, *, name: str, en=None,
                       init: int = 0, keep: bool = True) -> Signal:
    """``reg(reg(a) * reg(b))``: the product of ``a`` and ``b`` two cycles later.

    Parameters
    ----------
    m : Module
        Module to add the registers (or the instance) to.
    platform
        The ``platform`` argument of ``elaborate`` (see the module docstring).
    a, b : Value
        Operands, each signed or unsigned. On a MULT18X18D each must fit a signed 18-bit
        value (<= 17 bits unsigned, <= 18 bits signed); wider operands fall back to fabric
        registers (Yosys then splits the product over several DSPs).
    name : str
        Prefix of the register (or instance) names.
    en : Value, optional
        Clock enable of all three registers (default: always enabled).
    init : int
        Initial value of the fabric operand registers (distinct values stop Yosys merging
        the equal operand copies of different units; never observed behind a valid pipeline).
        The MULT18X18D registers start at 0.
    keep : bool
        Mark the fabric operand registers ``keep`` (default: the copies of one operand that
        several units hold must stay apart). Without it, ``synth_ice40 -dsp`` can pack them into
        the SB_MAC16 as its A and B registers, so the hard block is registered on both sides
        (nextpnr-ice40 times every SB_MAC16 port as a register port: only then does its Fmax
        figure leave out no multiplier delay); for multipliers whose operands have no copies.

    Returns
    -------
    Signal
        The product, of the shape of ``a * b``.
    """
    shape = (a * b).shape()
    p = Signal(shape, name=f"{name}_p", reset_less=True)
    if hard_multiplier_of(platform) == "MULT18X18D" and _fits_signed18(a) and _fits_signed18(b):
        a18 = Signal(signed(MULT18X18D_WIDTH), name=f"{name}_a18")
        b18 = Signal(signed(MULT18X18D_WIDTH), name=f"{name}_b18")
        p36 = Signal(signed(2 * MULT18X18D_WIDTH), name=f"{name}_p36")
        m.d.comb += [a18.eq(a), b18.eq(b), p.eq(p36)]  # sign- or zero-extension; p36 fits shape
        ports = {f"i_A{k}": a18[k] for k in range(MULT18X18D_WIDTH)}
        ports |= {f"i_B{k}": b18[k] for k in range(MULT18X18D_WIDTH)}
        ports |= {f"i_C{k}": Const(0, 1) for k in range(MULT18X18D_WIDTH)}
        ports |= {f"o_P{k}": p36[k] for k in range(2 * MULT18X18D_WIDTH)}
        m.submodules[f"{name}_dsp"] = Instance(
            "MULT18X18D",
            p_REG_INPUTA_CLK="CLK0", p_REG_INPUTB_CLK="CLK0", p_REG_OUTPUT_CLK="CLK0",
            p_REG_INPUTA_CE="CE0", p_REG_INPUTB_CE="CE0", p_REG_OUTPUT_CE="CE0",
            p_REG_INPUTA_RST="RST0", p_REG_INPUTB_RST="RST0", p_REG_OUTPUT_RST="RST0",
            p_GSR="DISABLED", p_RESETMODE="SYNC",
            i_SIGNEDA=Const(1, 1), i_SIGNEDB=Const(1, 1), i_SOURCEA=Const(0, 1), i_SOURCEB=Const(0, 1),
            i_CLK0=ClockSignal("sync"), i_CE0=Const(1, 1) if en is None else en, i_RST0=Const(0, 1),
            **ports,
        )
        return p
    attrs = KEEP if keep else {}
    ra = Signal(a.shape(), name=f"{name}_a", attrs=attrs, reset_less=True,
                init=distinct_init(a.shape(), init))
    rb = Signal(b.shape(), name=f"{name}_b", attrs=attrs, reset_less=True,
                init=distinct_init(b.shape(), init))
    regs = [ra.eq(a), rb.eq(b), p.eq(ra * rb)]
    if en is None:
        m.d.sync += regs
    else:
        with m.If(en):
            m.d.sync += regs
    return p

"""FPGA targets of the synthesis flow: device, tool arguments and the resource cell types."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..hw.hard_multiplier import ECP5
from ..hw.single_port_ram import ICE40

#: nextpnr routers the flow can select (None: nextpnr's default, router1).
ROUTERS = ("router1", "router2")


@dataclass(frozen=True)
class Target:
    """One FPGA part as the flow drives it.

    Parameters
    ----------
    name : str
        Name on the command line (``ecp5-85k``).
    family : str
        ``ecp5`` or ``ice40``: selects ``synth_<family>`` and ``nextpnr-<family>``.
    part : str
        Vendor part name, for the report.
    nextpnr_args : tuple of str
        Device and package arguments of nextpnr.
    out_of_context : bool
        Place and route the core without IO (ECP5); otherwise the design is wrapped in a
        pin-limited harness (:mod:`nitro_hw.synth.wrappers`).
    io_pins : int
        User IO pins of the package (the harness must fit them).
    default_freq_mhz : float
        Clock constraint nextpnr optimizes for (the report gives the achieved Fmax).
    cells : dict
        Resource class -> nextpnr cell types: ``logic`` (logic cells), ``ff``, ``dsp``,
        ``bram``, ``spram``.
    yosys_cells : dict
        Resource class -> Yosys cell types counted after ``synth_*`` (``lut4``, ``ff``, ``carry``).
    capacity : dict
        nextpnr cell type -> number on the device, for the hard blocks and flip-flops
        (used when a run stops after Yosys and nextpnr has not reported them).
    """

    name: str
    family: str
    part: str
    nextpnr_args: tuple[str, ...]
    out_of_context: bool
    io_pins: int
    default_freq_mhz: float
    cells: dict = field(default_factory=dict)
    yosys_cells: dict = field(default_factory=dict)
    capacity: dict = field(default_factory=dict)

    @property
    def hdl_platform(self):
        """The Amaranth ``platform`` the design is elaborated with for this target.

        ECP5: :data:`~nitro_hw.hw.hard_multiplier.ECP5` (MULT18X18D instances with their
        operand and product registers inside, which ``synth_ecp5`` would not pack). iCE40:
        :data:`~nitro_hw.hw.single_port_ram.ICE40` (generic multipliers, which ``synth_ice40 -dsp``
        packs with their registers into SB_MAC16; the serial engine's large memories on
        SB_SPRAM256KA instances, which Yosys does not infer).
        """
        return ECP5 if self.family == "ecp5" else ICE40

    @property
    def yosys_synth(self) -> str:
        """The ``synth_*`` command, without ``-top``/``-json``."""
        if self.family == "ecp5":
            return "synth_ecp5"
        return "synth_ice40 -dsp -spram"

    @property
    def nextpnr_tool(self) -> str:
        """Console script of the nextpnr build for this family."""
        return f"yowasp-nextpnr-{self.family}"

    @property
    def nextpnr_dist(self) -> str:
        """PyPI distribution that provides :attr:`nextpnr_tool`."""
        return f"yowasp-nextpnr-{self.family}"


_ECP5_CELLS = {
    "logic": ["TRELLIS_COMB"],
    "ff": ["TRELLIS_FF"],
    "dsp": ["MULT18X18D"],
    "bram": ["DP16KD"],
    "lutram": ["TRELLIS_RAMW"],
}
_ECP5_YOSYS = {
    "lut4": ["LUT4"],
    "ff": ["TRELLIS_FF"],
    "carry": ["CCU2C"],
    "dsp": ["MULT18X18D"],
    "bram": ["DP16KD"],
}
_ICE40_CELLS = {
    "logic": ["ICESTORM_LC"],
    "dsp": ["ICESTORM_DSP"],
    "bram": ["ICESTORM_RAM"],
    "spram": ["ICESTORM_SPRAM"],
    "io": ["SB_IO"],
}
_ICE40_FF = ["SB_DFF", "SB_DFFE", "SB_DFFSR", "SB_DFFR", "SB_DFFS", "SB_DFFESR", "SB_DFFER",
             "SB_DFFES", "SB_DFFSS", "SB_DFFSE", "SB_DFFESS", "SB_DFFRE", "SB_DFFN", "SB_DFFNE",
             "SB_DFFNSR", "SB_DFFNR", "SB_DFFNS", "SB_DFFNESR", "SB_DFFNER", "SB_DFFNES",
             "SB_DFFNSS", "SB_DFFNESS"]
_ICE40_YOSYS = {
    "lut4": ["SB_LUT4"],
    "ff": _ICE40_FF,
    "carry": ["SB_CARRY"],
    "dsp": ["SB_MAC16"],
    "bram": ["SB_RAM40_4K"],
    "spram": ["SB_SPRAM256KA"],
}


def _ecp5(size: str, part: str, slices: int, dsp: int, ebr: int) -> Target:
    return Target(
        name=f"ecp5-{size}", family="ecp5", part=part,
        # the static (electrostatic) placer: 112 against 90 MHz for heap on the 8x8 MAC array
        nextpnr_args=(f"--{size}", "--package", "CABGA381", "--placer", "static"),
        out_of_context=True, io_pins=197, default_freq_mhz=200.0,
        cells=_ECP5_CELLS, yosys_cells=_ECP5_YOSYS,
        capacity={"TRELLIS_COMB": slices, "TRELLIS_FF": slices, "MULT18X18D": dsp, "DP16KD": ebr},
    )


TARGETS: dict[str, Target] = {
    t.name: t for t in [
        _ecp5("85k", "LFE5U-85F", 83640, 156, 208),
        _ecp5("45k", "LFE5U-45F", 43848, 72, 108),
        _ecp5("25k", "LFE5U-25F", 24288, 28, 56),
        Target(
            name="ice40-up5k", family="ice40", part="iCE40UP5K-SG48",
            nextpnr_args=("--up5k", "--package", "sg48"),
            out_of_context=False, io_pins=39, default_freq_mhz=24.0,
            cells=_ICE40_CELLS, yosys_cells=_ICE40_YOSYS,
            capacity={"ICESTORM_LC": 5280, "ICESTORM_DSP": 8, "ICESTORM_RAM": 30, "ICESTORM_SPRAM": 4},
        ),
    ]
}


def get_target(name: str) -> Target:
    """The target called ``name``; a clear error lists the known ones."""
    if name not in TARGETS:
        raise KeyError(f"unknown target {name!r}; known targets: {', '.join(TARGETS)}")
    return TARGETS[name]

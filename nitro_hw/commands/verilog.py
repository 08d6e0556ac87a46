"""``nitro-hw verilog``: write Verilog of catalog designs plus ``manifest.json``."""

from pathlib import Path

from ..hw.hard_multiplier import HARD_MULTIPLIERS, platform_for, simulation_models

NAME = "verilog"
HELP = "write Verilog of the catalog designs and rtl/manifest.json"


def register(p) -> None:
    p.add_argument("--out", default="rtl", help="output directory (default: rtl)")
    p.add_argument("--design", action="append", metavar="NAME",
                   help="export only this design (repeatable; default: all)")
    p.add_argument("--list", action="store_true", help="list the catalog designs and exit")
    p.add_argument("--dsp", choices=["generic", *HARD_MULTIPLIERS], default="generic",
                   help="hard blocks: generic (default; Yosys infers the family's DSP and block RAM) "
                        "or MULT18X18D (the ECP5 form nitro-hw synth builds: MULT18X18D instances with "
                        "their own input and output registers, and the engine's large memory slices "
                        "DP16KD instances with their output registers; simulate with "
                        "sim/models/MULT18X18D.v and sim/models/DP16KD.v)")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..hw.catalog import catalog
    from ..rtl_export import export

    if args.list:
        for name, d in sorted(catalog().items()):
            print(f"{name:20s} {d.description}")
        return 0
    out = Path(args.out)
    platform = platform_for(args.dsp)
    manifest = export(out, args.design or None, platform)
    for name, entry in sorted(manifest["designs"].items()):
        if not args.design or name in args.design:
            print(f"{out / entry['file']}  (module {entry['top']})")
    print(out / "manifest.json")
    if platform is not None:
        models = " ".join(str(p) for p in simulation_models(platform))
        print(f"hard blocks are ECP5 primitive instances: add {models} to simulate them")
    return 0

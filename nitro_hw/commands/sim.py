"""``nitro-hw sim``: run a catalog design's cocotb testbench on its generated Verilog."""

import sys
import tempfile
from pathlib import Path

NAME = "sim"
HELP = "run a design's cocotb testbench on Icarus or Verilator"


def register(p) -> None:
    p.add_argument("--design", required=True, help="catalog design name (see: nitro-hw verilog --list)")
    p.add_argument("--sim", choices=["icarus", "verilator"], default=None,
                   help="simulator (default: $SIM or icarus)")
    p.add_argument("--waves", action="store_true", default=None,
                   help="dump waveforms (also WAVES=1); the path is printed at the end")
    p.add_argument("--seed", type=int, default=None, help="cocotb random seed")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..hw.catalog import get_design
    from ..rtl_export import export
    from ..tb.runner import SimulationError, SimulatorNotFound, env_params, run_cocotb

    design = get_design(args.design)
    if design.testbench is None:
        print(f"nitro-hw sim: design {design.name!r} has no testbench", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        export(Path(tmp), [design.name])
        try:
            res = run_cocotb(Path(tmp) / f"{design.name}.v", design.top, design.testbench,
                             sim=args.sim, run_id=f"cli_{design.name}", waves=args.waves,
                             seed=args.seed, extra_env=env_params(design.params))
        except (SimulatorNotFound, SimulationError) as exc:
            print(f"nitro-hw sim: {exc}", file=sys.stderr)
            return 1
    print(f"{res.simulator}: {res.tests} cocotb tests passed on {design.top}")
    if res.waves:
        print(f"waves: {res.waves}")
    return 0

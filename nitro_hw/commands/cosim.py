"""``nitro-hw cosim``: co-simulate the training engine against the golden trainer."""

import sys

from ..hw.hard_multiplier import HARD_MULTIPLIERS
from ..tb.cosim import ENGINES

NAME = "cosim"
HELP = "co-simulate the training engine against the golden trainer, bit for bit"


def _array(text: str) -> int:
    parts = text.lower().split("x")
    if len(parts) != 2 or parts[0] != parts[1] or not parts[0].isdigit():
        raise ValueError(f"--array must look like 8x8 (square), got {text!r}")
    return int(parts[0])


def register(p) -> None:
    p.add_argument("--model", default="mlp-digits", help="zoo model (an MLP; default: mlp-digits)")
    p.add_argument("--dataset", default=None, help="data set (default: the model's)")
    p.add_argument("--steps", type=int, default=20, help="training steps (default: 20)")
    p.add_argument("--sim", choices=["icarus", "verilator"], default="verilator", help="simulator")
    p.add_argument("--engine", choices=ENGINES, default="array",
                   help="engine microarchitecture: 'array' (an NxN MAC array and N epilogue lanes, the "
                        "ECP5 build) or 'serial' (one MAC and one divider, the iCE40 UP5K build); "
                        "default: array")
    p.add_argument("--array", default=None,
                   help="MAC array size NxN (default: 8x8); for --engine serial the tile size of its "
                        "programs (a power of two, default: 4x4)")
    p.add_argument("--batch", type=int, default=None, help="batch size (default: the model's)")
    p.add_argument("--seed", type=int, default=0, help="seed of the data shuffle and initial weights")
    p.add_argument("--eval-batches", type=int, default=0,
                   help="test batches evaluated in inference mode at the end (default 0: all)")
    p.add_argument("--waves", action="store_true", help="dump waveforms")
    p.add_argument("--no-collision-check", dest="collision_check", action="store_false",
                   help="simulate exactly the synthesized RTL; by default a memory read that collides "
                        "with a same-cycle write of its address (undefined in block RAM) returns "
                        "garbage, so consuming one shows up as a mismatch")
    p.add_argument("--dsp", choices=["generic", *HARD_MULTIPLIERS], default="generic",
                   help="hard blocks as built for an FPGA: MULT18X18D simulates the ECP5 form of "
                        "'nitro-hw synth' (MULT18X18D instances with their own registers and DP16KD "
                        "block RAMs with their output registers, on the behavioural models in "
                        "sim/models/); default: generic Verilog")
    p.add_argument("--spram-model", action="store_true",
                   help="--engine serial: simulate the iCE40 form of 'nitro-hw synth' (the large "
                        "memories on SB_SPRAM256KA instances, on the behavioural model "
                        "sim/models/SB_SPRAM256KA.v)")
    p.add_argument("--out", required=True, help="output directory (cosim.json, rtl/)")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..compiler import CompileError
    from ..tb.cosim import cosim, format_summary
    from ..tb.runner import SimulationError, SimulatorNotFound

    try:
        n = _array(args.array or ("4x4" if args.engine == "serial" else "8x8"))
        s = cosim(args.model, args.dataset, args.steps, args.sim, n=n, batch=args.batch, waves=args.waves,
                  out=args.out, seed=args.seed, eval_batches=args.eval_batches,
                  collision_check=args.collision_check,
                  hard_multiplier=None if args.dsp == "generic" else args.dsp, engine=args.engine,
                  spram_model=args.spram_model)
    except (ValueError, KeyError, CompileError) as exc:
        print(f"nitro-hw cosim: {exc}", file=sys.stderr)
        return 2
    except (SimulatorNotFound, SimulationError) as exc:
        print(f"nitro-hw cosim: {exc}", file=sys.stderr)
        return 1
    print(format_summary(s))
    print(f"written: {args.out}/cosim.json")
    return 0 if s["mismatched_steps"] == 0 and s["prediction_mismatches"] == 0 else 1

"""One module per ``nitro-hw`` subcommand.

Each module defines ``NAME``, ``HELP`` and ``register(parser)``, which adds the
command's arguments to its subparser and sets ``func`` (``func(args) -> int``, the
exit status). A subcommand that is not built yet is listed in ``PLANNED``.
"""

# modules in this package, in --help order
COMMANDS = ["verilog", "sim", "train", "eval", "compare", "golden", "synth", "cosim"]

PLANNED = {
    "train": "train a model with the golden trainer",
    "eval": "evaluate a checkpoint with the golden trainer",
    "cosim": "co-simulate the training engine against the golden trainer",
    "compare": "compare two traces and report the first divergence",
    "synth": "synthesize a design for an FPGA and report resources and Fmax",
    "report": "render plots from a train/cosim output directory",
    "bench": "run the benchmarks",
}

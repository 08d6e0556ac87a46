"""One module per ``nitro-hw`` subcommand.

Each module defines ``NAME``, ``HELP`` and ``register(parser)``, which adds the
command's arguments to its subparser and sets ``func`` (``func(args) -> int``, the
exit status).
"""

# modules in this package, in --help order
COMMANDS = ["verilog", "sim", "train", "eval", "cosim", "compare", "golden", "synth", "paths", "report",
            "bench"]

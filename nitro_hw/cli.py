"""The ``nitro-hw`` command line: thin wrappers over the Python API.

Each subcommand lives in its own module under :mod:`nitro_hw.commands`.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from . import __version__
from .commands import COMMANDS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nitro-hw",
        description="Integer-only NITRO-D training in hardware: golden trainer, Amaranth RTL, "
                    "cocotb co-simulation, trace comparison and FPGA synthesis.",
    )
    parser.add_argument("--version", action="version", version=f"nitro-hw {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        mod = importlib.import_module(f".commands.{name}", __package__)
        mod.register(sub.add_parser(mod.NAME, help=mod.HELP, description=mod.__doc__))
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (KeyError, ValueError, FileNotFoundError) as exc:
        print(f"nitro-hw {args.command}: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

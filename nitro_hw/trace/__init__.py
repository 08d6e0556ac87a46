"""Traces: one integer-tensor trace format for the golden trainer and the hardware, and compare.

See ``golden/README.md`` for the on-disk format. Modules: :mod:`.format` (names, errors),
:mod:`.writer` / :mod:`.reader` (the files), :mod:`.compare` (first divergence),
:mod:`.golden_recorder` (golden trainer), :mod:`.hw_recorder` (trace-port beats and tag maps),
:mod:`.port` (port description), :mod:`.wave` (VCD/FST files), :mod:`.cocotb_monitor` (live
simulation), :mod:`.engine_port` (the training engine's port), :mod:`.port_demo` (a tiny design
with a trace port, for tests).
"""

from .compare import CompareResult, Divergence, compare_paths, compare_traces, format_result
from .format import FORMAT_NAME, FORMAT_VERSION, RecordKey, TraceError
from .golden_recorder import GoldenRecorder, record_golden_trace
from .hw_recorder import HardwareRecorder, RowTensor, TagMap, TraceTensor
from .port import FieldSpec, TracePortSpec
from .reader import Trace, open_trace
from .wave import read_wave_beats, wave_to_trace
from .writer import TraceWriter

__all__ = [
    "FORMAT_NAME", "FORMAT_VERSION", "CompareResult", "Divergence", "FieldSpec", "GoldenRecorder",
    "HardwareRecorder", "RecordKey", "RowTensor", "TagMap", "Trace", "TraceError", "TracePortSpec",
    "TraceTensor", "TraceWriter", "compare_paths", "compare_traces", "format_result", "open_trace",
    "read_wave_beats", "record_golden_trace", "wave_to_trace",
]

"""cocotb testbench of trace capture: drive a trace's tensors as beats through TracePortDemo.

The testbench reads a reference trace, turns every tensor into (tag, [step], lanes) beats,
drives them into ``i`` with random idle cycles and takes them from the ``trace`` port with
random back-pressure. A :class:`TracePortMonitor` on the trace port records what it sees
into a new trace. The pytest side then compares that trace, and the one extracted from the
wave file, with the reference.

Parameters (``NITRO_TB_PARAMS``): ``reference`` (trace dir), ``out`` (trace dir to write),
``tag_map`` (dict), ``layout`` ({tag_width, lanes, lane_width, step_width}), ``seed``.
"""

import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge

from nitro_hw.tb.runner import read_params
from nitro_hw.tb.streams import StreamDriver, StreamSink, pack
from nitro_hw.trace.cocotb_monitor import TracePortMonitor
from nitro_hw.trace.hw_recorder import HardwareRecorder, TagMap, tensor_beats
from nitro_hw.trace.port import TracePortSpec
from nitro_hw.trace.reader import open_trace
from nitro_hw.trace.writer import TraceWriter


def _beats(params: dict) -> list[int]:
    lay = params["layout"]
    tags = TagMap.from_dict(params["tag_map"])
    by_name = {(t.block, t.phase, t.name): tag for tag, t in tags.items()}
    payloads = []
    for key, arr in open_trace(params["reference"]).records():
        tag = by_name[(key.block, key.phase, key.name)]
        for lanes in tensor_beats(arr, lay["lanes"], lay["lane_width"]):
            fields = [(tag, lay["tag_width"])]
            if lay["step_width"]:
                fields.append((key.step, lay["step_width"]))
            fields += [(v, lay["lane_width"]) for v in lanes]
            payloads.append(pack(fields))
    return payloads


@cocotb.test()
async def beats_through_trace_port(dut):
    """Every tensor of the reference trace crosses the trace port and is recorded."""
    params = read_params()
    lay = params["layout"]
    rng = random.Random(params.get("seed", 1))
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    dut.i__valid.value = 0
    dut.trace__ready.value = 0
    await ClockCycles(dut.clk, 2)
    dut.rst.value = 0
    await RisingEdge(dut.clk)

    spec = TracePortSpec.from_layout("trace", **lay)
    writer = TraceWriter(params["out"], {"source": "cocotb", "simulator": cocotb.SIM_NAME})
    monitor = TracePortMonitor(dut, spec, HardwareRecorder(writer, TagMap.from_dict(params["tag_map"]),
                                                           spec.lanes, spec.lane_width))
    monitor.start()
    payloads = _beats(params)
    sink = StreamSink(dut, "trace", dut.clk, rng, stall_prob=0.3)
    sink.start()
    await StreamDriver(dut, "i", dut.clk, rng, idle_prob=0.3).send(payloads)
    await sink.wait_for(len(payloads), timeout_cycles=10 * len(payloads) + 100)
    await ClockCycles(dut.clk, 5)
    sink.stop()
    monitor.close()
    assert sink.received == payloads
    assert monitor.beats == len(payloads)

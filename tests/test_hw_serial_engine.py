"""SerialEngine: parameters, its cycle model, and the ports it shares with TrainingEngine.

The behaviour (bit-exact training) is checked by co-simulation in ``test_serial_engine_cosim.py``.
"""

import pytest
from amaranth.back import verilog

from nitro_hw.compiler import compile_mlp, isa
from nitro_hw.golden.zoo import get_config
from nitro_hw.hw.engine import SerialEngine, TrainingEngine, serial_engine_for_model
from nitro_hw.hw.engine.serial import (
    DIVISION_CYCLES,
    ELEMENT_OVERHEAD,
    FETCH_CYCLES,
    serial_estimate_cycles,
    serial_instruction_cycles,
)
from nitro_hw.hw.serial_divider import SerialDivider
from nitro_hw.hw.single_port_ram import ICE40


@pytest.mark.parametrize("kwargs, match", [
    ({"n": 6}, "n must be 4, 8, 16 or 32"),
    ({"n": 2}, "n must be"),
    ({"n": True}, "n must be"),
    ({"weight_width": 8}, "weight_width"),
    ({"alpha": 6}, "alpha"),
    ({"spram": ("AF", "XX")}, "unknown memories"),
    ({"depths": {"WF": 0}}, "depths"),
    ({"depths": {"AF": 1 << 17}}, "depths"),
    ({"trace": 1}, "trace must be a bool"),
])
def test_rejects_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SerialEngine(**kwargs)


def test_same_ports_as_the_array_engine():
    prog = compile_mlp(get_config("mlp-digits"), n=4)
    serial = SerialEngine(4, prog.depths)
    array = TrainingEngine(4, prog.depths)
    assert dict(serial.signature.members) == dict(array.signature.members)
    # the FPGA build has no trace port, and nothing else missing
    bare = dict(SerialEngine(4, prog.depths, trace=False).signature.members)
    assert {k: v for k, v in dict(array.signature.members).items() if not k.startswith("trace_")} == bare


def test_cycle_model_per_element():
    fields = {"mt": 2, "nt": 3, "k_len": 10, "dc_en": 1}
    n = 4
    elements = 2 * 3 * n * n
    assert serial_instruction_cycles({"op": "END", "fields": {}}, n) == FETCH_CYCLES
    for op, divisions in (("FWD_RELU", 1), ("FWD_ERR", 1), ("BACKERR", 1), ("GRAD", 2)):
        assert serial_instruction_cycles({"op": op, "fields": fields}, n) == \
            FETCH_CYCLES + elements * (10 + ELEMENT_OVERHEAD + divisions * DIVISION_CYCLES)
    no_decay = {**fields, "dc_en": 0}
    assert serial_instruction_cycles({"op": "GRAD", "fields": no_decay}, n) == \
        FETCH_CYCLES + elements * (10 + ELEMENT_OVERHEAD + DIVISION_CYCLES)
    # the 32-bit deltas (D) take two passes per k-step
    deltas = {**fields, "wsrc": isa.WSRC_D}
    assert serial_instruction_cycles({"op": "GRAD", "fields": deltas}, n) == \
        FETCH_CYCLES + elements * (2 * 10 + ELEMENT_OVERHEAD + 2 * DIVISION_CYCLES)
    assert DIVISION_CYCLES == 1 + SerialDivider.latency


def test_estimate_covers_the_run():
    prog = compile_mlp(get_config("mlp-digits"), n=4)
    est = serial_estimate_cycles(prog)
    lo, hi = prog.entry_range(True)
    assert len(est["phases"]) == hi - lo + 1 and est["phases"][-1]["op"] == "END"
    assert est["total"] == sum(p["cycles"] for p in est["phases"])
    # one MAC per cycle: every MAC cycle is one k-step of one output element (padding included)
    assert est["macs"] <= est["gemm_cycles"] < est["total"]
    assert 0 < est["utilization"] < est["gemm_utilization"] <= 1


def test_ice40_build_puts_the_large_memories_on_spram():
    engine = serial_engine_for_model("mlp-digits", n=4)
    assert engine.trace is False
    text = verilog.convert(engine, name="nitro_engine_serial", platform=ICE40)
    assert text.count("SB_SPRAM256KA ") == 4  # AF, AG (8 bits) one each, D (32 bits) two
    assert "SB_SPRAM256KA" not in verilog.convert(serial_engine_for_model("mlp-digits", n=4),
                                                  name="nitro_engine_serial")

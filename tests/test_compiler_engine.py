"""Program compiler of the training engine: layouts, instruction packing, memory map, schedule,
cycle model, and an ISA-level execution checked against the golden trainer."""

import numpy as np
import pytest

from nitro_hw.compiler import CompileError, compile_mlp, isa
from nitro_hw.compiler.cycles import estimate_cycles, instruction_cycles
from nitro_hw.compiler.interpreter import ProgramInterpreter
from nitro_hw.compiler.layout import (
    col_layout,
    lanes_to_bytes,
    row_layout,
    row_unlayout,
    wf_layout,
    wf_unlayout,
    words_to_lanes,
    wt_layout,
)
from nitro_hw.golden.models import build_model
from nitro_hw.golden.primitives import tdiv
from nitro_hw.golden.zoo import get_config


def test_layouts_place_every_element():
    rng = np.random.RandomState(0)
    n, b, f = 4, 8, 6
    a = rng.randint(-128, 128, size=(b, f))
    col = col_layout(a, n)
    assert col.shape == (b // n * 8, n)  # F padded to 8
    for bt in range(b // n):
        for j in range(8):
            for r in range(n):
                want = a[bt * n + r, j] if j < f else 0
                assert col[bt * 8 + j, r] == want
    row = row_layout(a, n)
    assert row.shape == (2 * b, n)
    for ft in range(2):
        for s in range(b):
            for c in range(n):
                j = ft * n + c
                assert row[ft * b + s, c] == (a[s, j] if j < f else 0)
    assert np.array_equal(row_unlayout(row, b, f, n), a)
    w = rng.randint(-1000, 1000, size=(5, 7))
    wf = wf_layout(w, n)
    for ot in range(2):
        for i in range(8):
            for c in range(n):
                o = ot * n + c
                assert wf[ot * 8 + i, c] == (w[o, i] if o < 5 and i < 7 else 0)
    assert np.array_equal(wf_unlayout(wf, 5, 7, n), w)
    wt = wt_layout(w, n)
    for it in range(2):
        for o in range(8):
            for r in range(n):
                i = it * n + r
                assert wt[it * 8 + o, r] == (w[o, i] if o < 5 and i < 7 else 0)


def test_lane_bytes_round_trip():
    rng = np.random.RandomState(1)
    lanes = rng.randint(-2**31, 2**31, size=(5, 8))
    raw = lanes_to_bytes(lanes, 32, 32)
    assert len(raw) == 5 * 32
    want = sum((int(v) % 2**32) << (32 * k) for k, v in enumerate(lanes[0]))
    assert int.from_bytes(raw[:32], "little") == want
    assert np.array_equal(words_to_lanes(raw, 5, 8, 32, 32), lanes)
    small = rng.randint(-128, 128, size=(3, 8))
    raw = lanes_to_bytes(small, 8, 32)
    assert np.array_equal(words_to_lanes(raw, 3, 8, 8, 32), small)


def test_pack_instruction_fields_and_errors():
    words = isa.pack_instruction({"op": isa.OP_GRAD, "k_len": 64, "sc_mult": 0xDEADBEEF})
    assert len(words) == isa.instr_words()
    value = sum(w << (isa.PROG_WORD_BITS * i) for i, w in enumerate(words))
    fields = dict(isa.INSTR_LAYOUT)
    assert (value >> fields["op"].offset) & 0x7 == isa.OP_GRAD
    assert (value >> fields["k_len"].offset) & 0xFFFF == 64
    assert (value >> fields["sc_mult"].offset) & 0xFFFFFFFF == 0xDEADBEEF
    with pytest.raises(ValueError, match="k_len"):
        isa.pack_instruction({"k_len": 1 << 16})
    with pytest.raises(ValueError, match="unknown field"):
        isa.pack_instruction({"bogus": 1})


def test_schedule_follows_spec_order():
    p = compile_mlp(get_config("mlp-digits"), n=8)
    lo, hi = p.entry_range(train=True)
    names = [ins["name"] for ins in p.instructions[lo:hi]]
    assert names == [
        "block0.forward", "block1.forward", "output.forward", "output.update",
        "block1.head", "block1.back_error", "block1.head_update", "block1.encoder_update",
        "block0.head", "block0.back_error", "block0.head_update", "block0.encoder_update",
    ]
    lo, hi = p.entry_range(train=False)
    assert [ins["op"] for ins in p.instructions[lo:hi]] == ["FWD_RELU", "FWD_RELU", "FWD_ERR"]
    # the back error uses the pre-update head weights: it comes before the head update
    assert names.index("block1.back_error") < names.index("block1.head_update")


def test_memory_map_has_no_overlap_and_fits():
    p = compile_mlp(get_config("mlp1"), n=8)
    by_mem: dict[str, list] = {}
    for t in p.tensors.values():
        by_mem.setdefault(t.mem, []).append((t.base, t.base + t.words))
    for mem, spans in by_mem.items():
        spans.sort()
        for (_, a1), (b0, _) in zip(spans, spans[1:], strict=False):
            assert a1 <= b0, mem
        assert spans[-1][1] <= p.depths[mem]
    # MLP1 784-100-50-10 on 8x8: encoder0 is 13 output tiles x 784 inputs
    assert p.tensors["block0.encoder"].words == 13 * 784


def test_constants_are_exact_reciprocals():
    cfg = get_config("mlp1")
    p = compile_mlp(cfg, n=8, lr_inv=512)
    rng = np.random.RandomState(2)
    a = np.concatenate([rng.randint(-2**31, 2**31, size=2000), [-2**31, 2**31 - 1, 0, -1, 1]])
    checks = []
    for ins in p.instructions:
        f = ins["fields"]
        if ins["op"] in ("FWD_RELU", "FWD_ERR"):
            checks.append((f["sc_mult"], f["sc_shift"], 256 * f["k_len"]))
        if ins["op"] == "GRAD":
            amp = 640 if ins["name"].endswith("encoder_update") else 1
            checks.append((f["lr_mult"], f["lr_shift"], 512 * amp))
    assert checks
    for mult, shift, d in checks:
        got = [(-((-int(v) * mult) >> shift) if v < 0 else (int(v) * mult) >> shift) for v in a]
        assert np.array_equal(np.array(got), tdiv(a, d)), d


def test_compile_errors_name_the_parameter():
    cfg = get_config("mlp-digits")
    with pytest.raises(CompileError, match="batch"):
        compile_mlp(cfg, batch=60, n=8)
    with pytest.raises(CompileError, match="n must be"):
        compile_mlp(cfg, n=2)
    with pytest.raises(CompileError, match="MLP"):
        compile_mlp(get_config("cnn-digits"), n=8)


def test_cycle_model_structure():
    p = compile_mlp(get_config("mlp1"), n=8)
    est = estimate_cycles(p)
    assert est["total"] == sum(ph["cycles"] for ph in est["phases"])
    fwd0 = p.instructions[0]
    assert fwd0["name"] == "block0.forward"
    # 8 batch tiles x 13 output tiles x 784 k-steps, plus a small fixed overhead
    assert 8 * 13 * 784 < instruction_cycles(fwd0, 8) < 8 * 13 * 784 + 64
    assert est["macs"] == p.useful_macs()
    # MLP1, batch 64, 8x8: the schedule keeps the array busy (issue targets)
    assert est["gemm_utilization"] >= 0.90
    assert est["utilization"] >= 0.75


@pytest.mark.parametrize("model,n", [("mlp-digits", 8), ("mlp-digits", 16), ("mlp-digits", 4), ("mlp1", 8),
                                     ("mlp2", 8)])
def test_isa_execution_matches_golden_trainer(model, n):
    cfg = get_config(model)
    p = compile_mlp(cfg, n=n)
    rng = np.random.RandomState(3)
    golden = build_model(cfg, rng)
    it = ProgramInterpreter(p)
    it.write_weights(golden.parameters())
    for _ in range(2):
        x = rng.randint(-128, 128, size=(64, cfg.input_features)).astype(np.int8)
        y = (np.eye(10, dtype=np.int64)[rng.randint(0, 10, 64)] * 32).astype(np.int8)
        it.write_batch(x, y)
        it.run(train=True)
        golden.train_step(x, y, 512)
        got = it.read_weights()
        for name, w in golden.parameters().items():
            assert got[name].dtype == np.int32
            assert np.array_equal(got[name], w), name
    it.write_batch(x)
    it.run(train=False)
    assert np.array_equal(it.predictions(), golden.predict(x))

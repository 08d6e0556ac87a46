"""Golden reference traces: reproducible, and the committed ones in golden/ are not stale."""

from pathlib import Path

import pytest

from nitro_hw.cli import main
from nitro_hw.commands.golden import DEFAULT_SEED, DEFAULT_TRACES, trace_dir_name
from nitro_hw.trace import compare_traces, format_result, open_trace
from nitro_hw.trace.golden_recorder import record_golden_trace

GOLDEN = Path(__file__).resolve().parents[1] / "golden"


def _meta(path):
    meta = dict(open_trace(path).meta)
    meta.pop("nitro_hw_version", None)
    return meta


def test_golden_trace_recorded_twice_is_identical(tmp_path):
    a = record_golden_trace("mlp-digits", tmp_path / "a", steps=3, seed=5)
    b = record_golden_trace("mlp-digits", tmp_path / "b", steps=3, seed=5, chunk_steps=1, compress=False)
    r = compare_traces(a, b)
    assert r.identical, format_result(r)
    assert r.tensors_compared == 3 * 35
    other_seed = record_golden_trace("mlp-digits", tmp_path / "c", steps=3, seed=6)
    assert not compare_traces(a, other_seed).identical


@pytest.mark.parametrize("model, steps", DEFAULT_TRACES)
def test_committed_golden_trace_is_current(tmp_path, model, steps):
    committed = GOLDEN / trace_dir_name(model, DEFAULT_SEED, steps)
    assert committed.is_dir(), f"{committed} missing: run `nitro-hw golden --out golden`"
    assert main(["golden", "--out", str(tmp_path), "--model", model, "--steps", str(steps)]) == 0
    fresh = tmp_path / committed.name
    r = compare_traces(committed, fresh, all_divergences=True)
    assert r.identical, "golden trace is stale; run `nitro-hw golden --out golden`\n" + format_result(r)
    assert _meta(committed) == _meta(fresh), "golden trace metadata is stale: run `nitro-hw golden`"
    t = open_trace(committed)
    assert t.complete and len(t.steps) == steps


def test_committed_golden_traces_are_small():
    size = sum(p.stat().st_size for p in GOLDEN.rglob("*") if p.is_file())
    assert size < 2 * 1024 * 1024, f"golden/ holds {size} bytes; keep it under 2 MB"


def test_golden_command_bad_input(tmp_path, capsys):
    assert main(["golden", "--out", str(tmp_path), "--steps", "0"]) == 2
    assert "--steps must be positive" in capsys.readouterr().err
    assert main(["golden", "--out", str(tmp_path), "--model", "no-such-model"]) == 2
    assert "no-such-model" in capsys.readouterr().err

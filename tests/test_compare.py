"""``compare``: a one-LSB error is found at exactly its step/block/phase/tensor/index."""

import json

import numpy as np
import pytest

from nitro_hw.cli import main
from nitro_hw.trace import TraceError, TraceWriter, compare_paths, compare_traces, open_trace
from nitro_hw.trace.golden_recorder import record_golden_trace


@pytest.fixture(scope="module")
def golden(tmp_path_factory):
    """Three steps of the golden trainer on mlp-digits (two chunks)."""
    path = tmp_path_factory.mktemp("golden") / "mlp"
    return record_golden_trace("mlp-digits", path, steps=3, seed=7, chunk_steps=2)


def _rewrite(src, dst, mutate=None, drop=None, chunk_steps=2):
    """Copy a trace record by record; ``mutate(key, arr)`` may return a replacement array."""
    t = open_trace(src)
    with TraceWriter(dst, dict(t.meta, source="mutated"), chunk_steps=chunk_steps) as w:
        for key, arr in t.records():
            if drop is not None and drop(key):
                continue
            new = mutate(key, arr) if mutate is not None else None
            w.add(key.step, key.block, key.phase, key.name, arr if new is None else new)
    return dst


def _all_keys(path):
    return [(k, v.shape, v.dtype) for k, v in open_trace(path).records()]


def test_identical_copy(golden, tmp_path):
    copy = _rewrite(golden, tmp_path / "copy", chunk_steps=3)  # other chunking, same records
    r = compare_traces(golden, copy)
    assert r.identical and r.steps_compared == 3 and r.tensors_compared == 3 * 35
    assert main(["compare", str(golden), str(copy)]) == 0


@pytest.mark.parametrize("seed", range(6))
def test_one_lsb_error_is_located_exactly(golden, tmp_path, seed):
    rng = np.random.RandomState(seed)
    keys = [k for k in _all_keys(golden) if np.prod(k[1]) > 0]
    target, shape, dtype = keys[rng.randint(len(keys))]
    index = tuple(int(rng.randint(n)) for n in shape)
    holder = {}

    def mutate(key, arr):
        if key != target:
            return None
        new = arr.copy()
        old = int(new[index])
        new[index] = old ^ 1  # flip the least significant bit
        holder.update(old=old, new=int(new[index]))
        return new

    bad = _rewrite(golden, tmp_path / "bad", mutate)
    r = compare_traces(golden, bad)
    assert not r.identical and len(r.divergences) == 1
    d = r.first
    assert (d.kind, d.step, d.block, d.phase, d.name, d.occurrence) == (
        "value", target.step, target.block, target.phase, target.name, target.occurrence)
    assert d.index == index and d.expected == holder["old"] and d.got == holder["new"]
    assert d.count == 1 and d.size == int(np.prod(shape))

    # the CLI says the same, as text and as JSON, with exit status 1
    assert main(["compare", str(golden), str(bad), "--json"]) == 1


def test_cli_text_and_json(golden, tmp_path, capsys):
    target = next(k for k, _, _ in _all_keys(golden)
                  if k.step == 1 and k.path() == "block1/encoder_update/grad")

    def mutate(key, arr):
        if key == target:
            new = arr.copy()
            new[2, 5] += 1
            return new
        return None

    bad = _rewrite(golden, tmp_path / "bad", mutate)
    capsys.readouterr()
    assert main(["compare", str(golden), str(bad)]) == 1
    out = capsys.readouterr().out
    assert "first divergence at step 1 block1/encoder_update/grad" in out
    assert "index [2, 5]" in out and "1 of 512 elements differ" in out
    assert main(["compare", str(golden), str(bad), "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    f = doc["first_divergence"]
    assert doc["identical"] is False
    assert (f["step"], f["block"], f["phase"], f["name"], f["index"], f["count"]) == (
        1, "block1", "encoder_update", "grad", [2, 5], 1)
    assert f["got"] == f["expected"] + 1


def test_all_lists_every_differing_tensor(golden, tmp_path):
    targets = {(0, "block0/forward/z"), (2, "output/output_update/weights"), (2, "block0/head/e")}

    def mutate(key, arr):
        if (key.step, key.path()) in targets:
            new = arr.copy()
            new.reshape(-1)[:3] ^= 1
            return new
        return None

    bad = _rewrite(golden, tmp_path / "bad", mutate)
    first = compare_traces(golden, bad)
    assert len(first.divergences) == 1 and first.first.where == "step 0 block0/forward/z"
    every = compare_traces(golden, bad, all_divergences=True)
    found = {(d.step, f"{d.block}/{d.phase}/{d.name}") for d in every.divergences}
    assert found == targets and all(d.count == 3 for d in every.divergences)
    # in execution order: the output layer is updated before block0's head
    assert [d.where for d in every.divergences] == [
        "step 0 block0/forward/z", "step 2 output/output_update/weights", "step 2 block0/head/e"]


def test_structural_differences(golden, tmp_path):
    def dtype_change(key, arr):
        return arr.astype(np.int32) if key.step == 0 and key.path() == "block0/forward/h" else None

    r = compare_traces(golden, _rewrite(golden, tmp_path / "dt", dtype_change))
    assert r.first.kind == "dtype" and r.first.count == 0 and "int8" in r.first.detail

    def shape_change(key, arr):
        return arr[:-1] if key.step == 1 and key.path() == "output/forward/z" else None

    r = compare_traces(golden, _rewrite(golden, tmp_path / "sh", shape_change))
    assert r.first.kind == "shape" and r.first.where == "step 1 output/forward/z"

    def no_d_s(k):
        return k.step == 2 and k.name == "d_s"

    r = compare_traces(golden, _rewrite(golden, tmp_path / "mi", drop=no_d_s))
    assert r.first.kind == "missing" and r.first.where == "step 2 block1/encoder_update/d_s"
    r = compare_traces(_rewrite(golden, tmp_path / "mi2", drop=no_d_s), golden)
    assert r.first.kind == "extra" and r.first.where == "step 2 block1/encoder_update/d_s"

    short = _rewrite(golden, tmp_path / "st", drop=lambda k: k.step == 2)
    r = compare_traces(golden, short, all_divergences=True)
    assert [d.kind for d in r.divergences] == ["missing_step"] and r.first.step == 2


def test_trace_against_golden_checkpoint(tmp_path, capsys):
    """One epoch of the golden trainer: its checkpoint equals the trace's last weights."""
    from nitro_hw.golden.checkpoint import load_checkpoint, save_checkpoint
    from nitro_hw.golden.experiment import RunSettings, config_for, run_experiment

    cfg, dataset = config_for("mlp-digits")
    run_experiment(cfg, RunSettings(dataset=dataset, epochs=1, seed=3), tmp_path / "run", progress=False)
    ck_path = tmp_path / "run" / "checkpoint.npz"
    ck = load_checkpoint(ck_path)
    steps = ck.metrics[0]["train_count"] // cfg.batch_size
    trace = record_golden_trace("mlp-digits", tmp_path / "trace", steps=steps, seed=3)
    r = compare_paths(trace, ck_path)
    assert r.identical and r.mode == "checkpoint" and r.tensors_compared == len(ck.parameters)
    assert main(["compare", str(ck_path), str(trace)]) == 0
    # an earlier step's weights differ from the end-of-epoch checkpoint
    assert not compare_paths(trace, ck_path, step=steps - 2).identical

    ck.parameters["block1.head"][3, 4] -= 1
    save_checkpoint(tmp_path / "bad.npz", ck)
    r = compare_paths(trace, tmp_path / "bad.npz")
    d = r.first
    assert (d.block, d.phase, d.name, d.index, d.count) == ("block1", "head_update", "weights", (3, 4), 1)
    assert d.got == d.expected - 1 and "block1.head" in d.detail
    capsys.readouterr()
    assert main(["compare", str(trace), str(tmp_path / "bad.npz"), "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["first_divergence"]["index"] == [3, 4]
    # checkpoint against checkpoint
    assert compare_paths(ck_path, ck_path).identical
    d = compare_paths(ck_path, tmp_path / "bad.npz").first
    assert (d.block, d.index, d.count, d.step) == ("block1.head", (3, 4), 1, None)
    with pytest.raises(TraceError, match="--subset applies only to two traces"):
        compare_paths(trace, ck_path, subset=True)

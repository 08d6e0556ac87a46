"""``nitro-hw report`` (plots of train/cosim runs, heat maps of trace divergences) and ``nitro-hw bench``."""

import json

import numpy as np
import pytest

from nitro_hw.cli import main
from nitro_hw.plots import plot_divergences
from nitro_hw.trace import TraceWriter, open_trace
from nitro_hw.trace.golden_recorder import record_golden_trace

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _is_png(path) -> bool:
    data = path.read_bytes()
    return data[:8] == PNG_MAGIC and len(data) > 2000


@pytest.fixture(scope="module")
def golden(tmp_path_factory):
    return record_golden_trace("mlp-digits", tmp_path_factory.mktemp("golden") / "mlp", steps=2, seed=3)


def test_report_of_a_training_run(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--model", "mlp-digits", "--dataset", "digits", "--epochs", "3", "--seed", "1",
                 "--out", str(run)]) == 0
    assert main(["report", str(run)]) == 0
    assert _is_png(run / "training.png")
    assert f"written: {run / 'training.png'}" in capsys.readouterr().out


def test_report_of_a_cosim_summary(tmp_path):
    # the fields nitro-hw cosim writes (tests/test_engine_cosim.py runs the real thing)
    summary = {"model": "mlp-digits", "array": "8x8", "simulator": "verilator", "mismatched_steps": 1,
               "mismatched_step_list": [2], "step_cycles": [8177, 8177, 8177],
               "estimated_cycles_per_step": 8177,
               "phase_cycles": [{"name": "block0.forward", "measured": 2082, "estimated": 2082},
                                {"name": "end", "measured": 5, "estimated": 5}]}
    (tmp_path / "cosim.json").write_text(json.dumps(summary))
    out = tmp_path / "plots"
    assert main(["report", str(tmp_path), "--out", str(out)]) == 0
    assert _is_png(out / "cosim_steps.png") and _is_png(out / "cosim_phases.png")


def test_heat_map_of_each_differing_tensor(golden, tmp_path):
    bad = tmp_path / "bad"
    changed = []
    t = open_trace(golden)
    with TraceWriter(bad, dict(t.meta, source="mutated")) as w:
        for key, arr in t.records():
            if key.step == 1 and key.block == "block0" and (key.phase, key.name) in (
                    ("forward", "z"), ("encoder_update", "grad")):
                arr = arr.copy()
                arr.flat[5] += 3
                changed.append((key.phase, key.name))
            w.add(key.step, key.block, key.phase, key.name, arr)
    assert len(changed) == 2
    paths = plot_divergences(golden, bad, tmp_path / "maps")
    assert len(paths) == 2 and all(_is_png(p) for p in paths)
    assert any("forward-z" in p.name for p in paths) and any("encoder_update-grad" in p.name for p in paths)
    assert plot_divergences(golden, golden, tmp_path / "none") == []
    assert main(["report", "--compare", str(golden), str(bad), "--out", str(tmp_path / "cli")]) == 0
    assert len(list((tmp_path / "cli").glob("diff-*.png"))) == 2


def test_report_bad_input(tmp_path, capsys):
    assert main(["report"]) == 2
    assert "give a run directory" in capsys.readouterr().err
    assert main(["report", str(tmp_path)]) == 2
    assert "neither metrics.jsonl" in capsys.readouterr().err
    (tmp_path / "metrics.jsonl").write_text('{"epoch": 1, "train_acc": 0.5}\n{"epoch": 2,')
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "metrics.jsonl:1: missing field(s) lr_inv, test_acc" in err
    (tmp_path / "metrics.jsonl").unlink()
    (tmp_path / "cosim.json").write_text("{truncated")
    assert main(["report", str(tmp_path)]) == 2
    assert "cosim.json: cannot read" in capsys.readouterr().err
    assert main(["report", "--compare", str(tmp_path), str(tmp_path), "--out", str(tmp_path)]) == 2
    assert "trace index not found" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.png"))


def test_bench_lists_and_rejects(capsys):
    assert main(["bench", "--list"]) == 0
    assert capsys.readouterr().out.split() == ["engine", "golden", "synth", "trace"]
    assert main(["bench", "nope"]) == 2
    assert "unknown benchmark 'nope'" in capsys.readouterr().err


def test_heat_map_values(golden, tmp_path):
    """The plotted difference is got - expected of the tensor, element for element."""
    from nitro_hw.plots import _as_2d

    a = np.arange(24).reshape(2, 3, 4)
    assert _as_2d(a).shape == (2, 12) and _as_2d(np.int64(3)).shape == (1, 1)
    assert np.array_equal(_as_2d(a)[1], np.arange(12, 24))

"""``nitro-hw train`` and ``nitro-hw eval``."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from nitro_hw.cli import main


def _metrics(out):
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_train_resume_eval(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--model", "mlp-digits", "--epochs", "3", "--seed", "42", "--out", str(out),
                 "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "mlp-digits on digits, seed 42" in text and "epochs run          3 of 3" in text
    assert "best test accuracy" in text and "last epoch" in text
    for f in ("metrics.jsonl", "summary.json", "checkpoint.npz", "best.npz"):
        assert (out / f).is_file()
    assert len(_metrics(out)) == 3

    assert main(["train", "--model", "mlp-digits", "--epochs", "5", "--out", str(out), "--no-progress"]) == 2
    assert "already holds a run" in capsys.readouterr().err

    assert main(["train", "--model", "mlp-digits", "--epochs", "5", "--seed", "42", "--out", str(out),
                 "--resume", "--no-progress"]) == 0
    capsys.readouterr()
    ref = tmp_path / "ref"
    assert main(["train", "--model", "mlp-digits", "--dataset", "digits", "--epochs", "5", "--out", str(ref),
                 "--no-progress"]) == 0
    capsys.readouterr()
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in _metrics(out)]
    assert strip == [{k: v for k, v in r.items() if k != "seconds"} for r in _metrics(ref)]

    assert main(["eval", "--checkpoint", str(out / "checkpoint.npz"), "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["epoch"] == 5 and r["test_acc"] == _metrics(out)[-1]["test_acc"] and r["test_count"] == 256
    assert main(["eval", "--checkpoint", str(out / "checkpoint.npz")]) == 0
    assert "test accuracy" in capsys.readouterr().out


def test_cli_errors(tmp_path, capsys):
    assert main(["eval", "--checkpoint", str(tmp_path / "nope.npz")]) == 2
    assert "checkpoint file not found" in capsys.readouterr().err
    (tmp_path / "bad.npz").write_bytes(b"xx")
    assert main(["eval", "--checkpoint", str(tmp_path / "bad.npz")]) == 2
    assert "not a readable .npz checkpoint" in capsys.readouterr().err
    assert main(["train", "--model", "mlp1", "--dataset", "mnist", "--out", str(tmp_path / "m"),
                 "--no-progress"]) == 2
    assert "needs --data-dir" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()
    assert main(["train", "--model", "mlp-digits", "--dataset", "imagenet",
                 "--out", str(tmp_path / "i")]) == 2
    assert "unknown dataset 'imagenet'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["train", "--model", "resnet"])
    assert info.value.code == 2


def test_help_via_console_entry():
    for cmd in ("train", "eval"):
        res = subprocess.run([sys.executable, "-m", "nitro_hw.cli", cmd, "--help"], capture_output=True,
                             text=True, check=True)
        assert "--checkpoint" in res.stdout if cmd == "eval" else "--resume" in res.stdout
        assert "reference" in res.stdout


def _write_idx_mnist(root, n_train=130, n_test=70):
    import struct

    import numpy as np

    r = np.random.RandomState(0)
    root.mkdir()
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        x = r.randint(0, 256, (n, 28, 28)).astype(np.uint8)
        y = r.randint(0, 10, n).astype(np.uint8)
        header = struct.pack(">IIII", 0x803, n, 28, 28)
        (root / f"{prefix}-images-idx3-ubyte").write_bytes(header + x.tobytes())
        (root / f"{prefix}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 0x801, n) + y.tobytes())


def test_train_on_user_idx_dir_and_eval_reuses_it(tmp_path, capsys):
    data = tmp_path / "mnist"
    _write_idx_mnist(data)
    out = tmp_path / "run"
    assert main(["train", "--model", "mlp1", "--dataset", "mnist", "--data-dir", str(data), "--epochs", "2",
                 "--out", str(out), "--no-progress"]) == 0
    assert "mlp1 on mnist" in capsys.readouterr().out
    m = _metrics(out)
    assert [r["train_count"] for r in m] == [128, 128] and m[0]["test_count"] == 64
    assert main(["eval", "--checkpoint", str(out / "checkpoint.npz"), "--json"]) == 0  # data dir from the run
    r = json.loads(capsys.readouterr().out)
    assert r["test_acc"] == m[-1]["test_acc"] and r["all_count"] == 70


def test_resume_without_checkpoint_starts_fresh(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "metrics.jsonl").write_text('{"epoch": 1, "partial')  # crashed inside the first epoch
    assert main(["train", "--model", "mlp-digits", "--epochs", "2", "--out", str(out), "--resume",
                 "--no-progress"]) == 0
    capsys.readouterr()
    assert [r["epoch"] for r in _metrics(out)] == [1, 2]

"""The epoch loop: reference figures, determinism, resume, RNG order, errors."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np
import pytest

from nitro_hw.golden import pipeline as pl
from nitro_hw.golden.checkpoint import load_checkpoint
from nitro_hw.golden.datasets import load_raw
from nitro_hw.golden.experiment import (
    Experiment,
    RunError,
    RunSettings,
    config_for,
    evaluate_checkpoint,
    format_summary,
    run_experiment,
)
from nitro_hw.golden.zoo import get_config


def _metrics(out):
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def _strip_time(records):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in records]


# ----------------------------------------------------------------- reference figures (real model)

def _lr_schedule(metrics):
    return [m["lr_inv"] for m in metrics]


def test_mlp_digits_reference_figures(tmp_path):
    cfg = get_config("mlp-digits")
    s = run_experiment(cfg, RunSettings("digits", epochs=100, seed=42), tmp_path, progress=False)
    assert s.early_stopped and s.epochs_run == 72
    assert s.best_test_acc == 0.9140625 and s.best_epoch == 51
    assert s.lr_changes == [{"after_epoch": 52, "lr_inv": 1536}, {"after_epoch": 67, "lr_inv": 4608}]
    m = _metrics(tmp_path)
    assert [r["epoch"] for r in m] == list(range(1, 73))
    assert _lr_schedule(m) == [512] * 52 + [1536] * 15 + [4608] * 5
    assert max(r["test_acc"] for r in m) == 0.9140625
    assert min(r["epoch"] for r in m if r["test_acc"] == 0.9140625) == 51
    assert all(r["test_count"] == 256 and r["train_count"] == 1472 for r in m)  # 4 and 23 full batches
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["best_test_acc"] == 0.9140625 and summary["epochs_run"] == 72
    assert summary["early_stopped"] and summary["finished"] and summary["seed"] == 42
    assert summary["config"]["name"] == "mlp-digits" and summary["last_test_acc"] == m[-1]["test_acc"]
    assert "0.9140625" in format_summary(s)
    # the best checkpoint reproduces the best epoch's accuracy
    r = evaluate_checkpoint(tmp_path / "best.npz")
    assert r["epoch"] == 51 and r["test_acc"] == 0.9140625 and r["test_correct"] == 234
    assert r["all_count"] == 297


@pytest.mark.slow
def test_mlp1_mnist5k_reference_figures(tmp_path):
    cfg, name = config_for("mlp1", "mnist5k")
    assert name == "mnist5k" and cfg.name == "mlp1"
    s = run_experiment(cfg, RunSettings("mnist5k", epochs=150, seed=42), tmp_path, progress=False)
    assert s.early_stopped and s.epochs_run == 86
    assert s.best_test_acc == 0.9427083333333334 and s.best_epoch == 51
    assert [c["after_epoch"] for c in s.lr_changes] == [46, 61, 76]
    assert [c["lr_inv"] for c in s.lr_changes] == [1536, 4608, 13824]
    assert all(r["test_count"] == 960 and r["train_count"] == 3968 for r in _metrics(tmp_path))


def test_seeded_run_repeats_exactly(tmp_path):
    cfg = get_config("mlp-digits")
    for d in ("a", "b"):
        run_experiment(cfg, RunSettings("digits", epochs=15, seed=7), tmp_path / d, progress=False)
    ca, cb = load_checkpoint(tmp_path / "a/checkpoint.npz"), load_checkpoint(tmp_path / "b/checkpoint.npz")
    for k in ca.parameters:
        assert np.array_equal(ca.parameters[k], cb.parameters[k])
    assert _strip_time(_metrics(tmp_path / "a")) == _strip_time(_metrics(tmp_path / "b"))
    # a different seed gives a different run
    run_experiment(cfg, RunSettings("digits", epochs=15, seed=8), tmp_path / "c", progress=False)
    cc = load_checkpoint(tmp_path / "c/checkpoint.npz")
    assert not np.array_equal(ca.parameters["output"], cc.parameters["output"])


def test_resume_is_bit_identical(tmp_path):
    cfg = get_config("mlp-digits")
    full = run_experiment(cfg, RunSettings("digits", epochs=60, seed=42), tmp_path / "full", progress=False)
    part = tmp_path / "part"
    run_experiment(cfg, RunSettings("digits", epochs=20, seed=42), part, progress=False)
    # simulate a crash after the checkpoint of epoch 20 but with a stray metrics line written
    with open(part / "metrics.jsonl", "a") as fh:
        fh.write('{"epoch": 21, "partial')
    run_experiment(cfg, RunSettings("digits", epochs=55, seed=42), part, resume=True, progress=False)
    res = run_experiment(cfg, RunSettings("digits", epochs=60, seed=42), part, resume=True, progress=False)
    a, b = load_checkpoint(tmp_path / "full/checkpoint.npz"), load_checkpoint(part / "checkpoint.npz")
    assert a.epoch == b.epoch == 60 and a.lr_inv == b.lr_inv == 1536
    assert a.parameters.keys() == b.parameters.keys()
    for k in a.parameters:
        assert a.parameters[k].dtype == np.int32 and np.array_equal(a.parameters[k], b.parameters[k])
    assert np.array_equal(a.rng_state[1], b.rng_state[1]) and a.rng_state[2:] == b.rng_state[2:]
    assert np.array_equal(a.train_order, b.train_order)
    assert a.schedulers == b.schedulers
    assert _strip_time(_metrics(tmp_path / "full")) == _strip_time(_metrics(part))
    assert _strip_time(a.metrics) == _strip_time(b.metrics)
    assert (res.best_test_acc, res.best_epoch, res.lr_changes) == (full.best_test_acc, full.best_epoch,
                                                                   full.lr_changes)
    # resuming a finished run does nothing
    again = run_experiment(cfg, RunSettings("digits", epochs=60, seed=42), part, resume=True, progress=False)
    assert again.epochs_run == 60


def test_run_errors(tmp_path):
    cfg = get_config("mlp-digits")
    run_experiment(cfg, RunSettings("digits", epochs=1, seed=1), tmp_path, progress=False)
    with pytest.raises(RunError, match="already holds a run"):
        run_experiment(cfg, RunSettings("digits", epochs=2, seed=1), tmp_path, progress=False)
    with pytest.raises(RunError, match="differ from the checkpoint's in seed"):
        run_experiment(cfg, RunSettings("digits", epochs=2, seed=2), tmp_path, resume=True, progress=False)
    with pytest.raises(RunError, match="another model config"):
        run_experiment(get_config("cnn-digits"), RunSettings("digits", epochs=2, seed=1), tmp_path,
                       resume=True, progress=False)
    with pytest.raises(RunError, match=r"expects inputs of shape \(1, 28, 28\)"):
        run_experiment(get_config("mlp1"), RunSettings("digits", epochs=1), tmp_path / "x", progress=False)
    assert not (tmp_path / "x").exists()
    with pytest.raises(ValueError, match="lr_inv must be positive"):
        RunSettings("digits", lr_inv=0)
    with pytest.raises(ValueError, match="lr_inv must be positive"):
        RunSettings("digits", lr_inv=-512)
    with pytest.raises(ValueError, match="epochs"):
        RunSettings("digits", epochs=0)


# ----------------------------------------------------------------- loop mechanics with a fake model

@dataclass(frozen=True)
class FakeConfig:
    name: str = "fake"
    input_shape: tuple = (1, 8, 8)
    augment: object = None
    target_value: int = 32

    def to_dict(self):
        return {"name": self.name, "augment": None if self.augment is None else vars(self.augment)}


@dataclass
class FakeModel:
    """Draws 'weights' at build time, one randint per step (like a dropout mask), logs batches."""

    rng_state_at_build: tuple
    w: np.ndarray
    log: list = field(default_factory=list)

    @classmethod
    def build(cls, cfg, rng):
        state = rng.get_state()
        return cls(state, rng.randint(-8, 9, size=(10, 64)).astype(np.int32))

    def train_step(self, x, y, lr_inv, rng, trace=None):
        self.log.append((x.copy(), y.copy(), lr_inv))
        self.w = (self.w + rng.randint(-1, 2, size=self.w.shape)).astype(np.int32)
        pred = self.predict(x)
        return SimpleNamespace(correct=int(np.sum(pred == y.argmax(1))), batch=len(x), overflow={"z": 1})

    def predict(self, x):
        return (x.reshape(len(x), -1).astype(np.int64) @ self.w.T.astype(np.int64)).argmax(1)

    def parameters(self):
        return {"w": self.w.copy()}

    def set_parameters(self, d):
        self.w = d["w"].copy()


@pytest.mark.parametrize("augment", [None, SimpleNamespace(crop_size=8, crop_pad=1, flip=True)])
def test_rng_order_and_batches(tmp_path, augment):
    cfg = FakeConfig(augment=augment)
    exp = Experiment(cfg, RunSettings("digits", epochs=2, seed=5), tmp_path, builder=FakeModel.build,
                     progress=False)
    exp.run()
    # independent replay of spec §5.3
    rng = np.random.RandomState(5)
    raw = load_raw("digits")
    perm = rng.permutation(1500)
    assert np.array_equal(exp.model.rng_state_at_build[1], rng.get_state()[1])
    xc = raw.x_train[perm].astype(np.int16) - 128
    mean, mad = pl.normalization_stats(xc)
    x = pl.normalize(xc, mean, mad)
    y = np.zeros((1500, 10), np.int8)
    y[np.arange(1500), raw.y_train[perm]] = 32
    rng.randint(-8, 9, size=(10, 64))
    order = np.arange(1500)
    expected = []
    for _epoch in range(2):
        order = order[rng.permutation(1500)]
        for b in range(1500 // 64):
            idx = order[b * 64:(b + 1) * 64]
            xb = x[idx]
            if augment is not None:
                if rng.binomial(1, 0.5) == 1:
                    xp = np.pad(xb, ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=xb.min())
                    t, left = rng.randint(0, 3), rng.randint(0, 3)
                    xb = xp[:, :, t:t + 8, left:left + 8]
                if rng.binomial(1, 0.5) == 1:
                    xb = xb[..., ::-1]
            expected.append((xb, y[idx]))
            rng.randint(-1, 2, size=(10, 64))
    assert len(exp.model.log) == len(expected) == 46
    for (gx, gy, lr), (ex, ey) in zip(exp.model.log, expected, strict=True):
        assert lr == 512 and np.array_equal(gx, ex) and np.array_equal(gy, ey)
    assert np.array_equal(exp.rng.get_state()[1], rng.get_state()[1])
    m = _metrics(tmp_path)
    assert m[0]["overflow"] == {"z": 23} and len(m) == 2


def test_test_accuracy_is_mean_of_full_batches(tmp_path):
    cfg = FakeConfig()
    exp = Experiment(cfg, RunSettings("digits", epochs=1, seed=3), tmp_path, builder=FakeModel.build,
                     progress=False)
    exp.run()
    xt, lt = exp.data.x_test, exp.data.labels_test
    accs = []
    for b in range(4):  # 297 test images: 4 full batches, 41 never evaluated
        hits = 0
        for i in range(b * 64, b * 64 + 64):
            scores = [sum(int(v) * int(w) for v, w in zip(xt[i].ravel(), exp.model.w[k], strict=True))
                      for k in range(10)]
            hits += scores.index(max(scores)) == lt[i]
        accs.append(hits / 64)
    assert _metrics(tmp_path)[0]["test_acc"] == sum(accs) / 4


def test_early_stop_and_plateau_in_loop(tmp_path):
    cfg = FakeConfig()

    class Constant(FakeModel):
        def predict(self, x):
            return np.zeros(len(x), dtype=np.int64)

    s = RunSettings("digits", epochs=50, seed=0, plateau_patience=2, plateau_from_epoch=1,
                    stop_patience=4, stop_from_epoch=2)
    summ = Experiment(cfg, s, tmp_path, builder=Constant.build, progress=False).run()
    m = _metrics(tmp_path)
    # constant accuracy: plateau best at epoch 1, fires at 3 and 5; stop best at 2, fires at 6
    assert summ.early_stopped and summ.epochs_run == 6
    assert [r["lr_inv"] for r in m] == [512, 512, 512, 1536, 1536, 4608]
    assert [r["early_stop"] for r in m] == [False] * 5 + [True]
    assert [r["lr_reduced"] for r in m] == [False, False, True, False, True, False]


def test_resume_with_dropout_and_augmentation(tmp_path):
    from dataclasses import replace

    from nitro_hw.golden.zoo import AugmentConfig

    cfg = replace(get_config("mlp-digits"), fc_dropout=0.1, augment=AugmentConfig(8, 1, True))
    run_experiment(cfg, RunSettings("digits", epochs=6, seed=3), tmp_path / "full", progress=False)
    run_experiment(cfg, RunSettings("digits", epochs=2, seed=3), tmp_path / "part", progress=False)
    run_experiment(cfg, RunSettings("digits", epochs=6, seed=3), tmp_path / "part", resume=True,
                   progress=False)
    a = load_checkpoint(tmp_path / "full/checkpoint.npz")
    b = load_checkpoint(tmp_path / "part/checkpoint.npz")
    for k in a.parameters:
        assert np.array_equal(a.parameters[k], b.parameters[k])
    assert _strip_time(a.metrics) == _strip_time(b.metrics)
    # augmentation and dropout really draw: without them the run differs
    run_experiment(replace(cfg, augment=None), RunSettings("digits", epochs=6, seed=3), tmp_path / "noaug",
                   progress=False)
    c = load_checkpoint(tmp_path / "noaug/checkpoint.npz")
    assert not np.array_equal(a.parameters["output"], c.parameters["output"])

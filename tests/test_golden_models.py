"""Whole training steps against a naive, independent int64 re-implementation of spec §3-§5.

The naive model below does not import anything from the golden model: it builds its own weights
from the RNG in spec §5.2 order, computes every product exactly in int64 (tiny shapes) and applies
its own wrap32 at the four points of spec §1.3.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from nitro_hw.golden import intmath
from nitro_hw.golden.models import build_model
from nitro_hw.golden.trace_names import BLOCK_TRACE_POINTS, OUTPUT_TRACE_POINTS, TRACE_POINTS
from nitro_hw.golden.zoo import ModelConfig, get_config

POINTS = ("z", "back_error", "grad", "update")


# ----------------------------------------------------------------------------- naive arithmetic
def tdiv(a, d: int):
    a = np.asarray(a, dtype=np.int64)
    q = np.abs(a) // d
    return np.where(a < 0, -q, q)


def wrap32(v, cnt=None, key=None):
    v = np.asarray(v, dtype=np.int64)
    r = ((v + 2**31) % 2**32) - 2**31
    if cnt is not None:
        cnt[key] += int(np.count_nonzero(r != v))
    return r


def wrap8(v):
    return ((np.asarray(v, dtype=np.int64) + 128) % 256) - 128


def scale(z, fan_in):
    return np.clip(tdiv(z, 256 * fan_in), -127, 127)


def relu(s):
    return np.where(s >= 0, s, tdiv(s, 4)) - 36


def relu_back(d, s):
    return np.where(s >= 127, tdiv(d, 2**31 - 1), np.where(s < 0, tdiv(d, 4), d))


def sgd(w, g, lr, amp, decay, cnt):
    u = tdiv(g, lr * amp)
    if decay:
        u = wrap32(u + tdiv(w, decay), cnt, "update")
    return wrap32(w - u, cnt, "update")


def kaiming(fan_in):
    return min(64, 1372 * 128 * 1732 // (math.isqrt(fan_in) * 10**6))


def conv(x, w, pad):
    xp = np.pad(np.asarray(x, np.int64), ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    k = w.shape[2]
    h, wd = xp.shape[2] - k + 1, xp.shape[3] - k + 1
    z = np.zeros((x.shape[0], w.shape[0], h, wd), dtype=np.int64)
    for u in range(k):
        for v in range(k):
            z += np.einsum("mchw,fc->mfhw", xp[:, :, u : u + h, v : v + wd], w[:, :, u, v])
    return z, xp


def conv_grad(xp, d, k):
    h, wd = d.shape[2:]
    g = np.zeros((d.shape[1], xp.shape[1], k, k), dtype=np.int64)
    for u in range(k):
        for v in range(k):
            g[:, :, u, v] = np.einsum("mfhw,mchw->fc", d, xp[:, :, u : u + h, v : v + wd])
    return g


def pool(x, kh, kw, ph, pw, neg_inf=False):
    """Max pool (stride = kernel), floor window count, first max; zero (or -inf) padding."""
    b, c, h, w = x.shape
    oh, ow = (h + 2 * ph - kh) // kh + 1, (w + 2 * pw - kw) // kw + 1
    out = np.zeros((b, c, oh, ow), dtype=np.int64)
    arg = {}
    for m, cc, i, j in np.ndindex(b, c, oh, ow):
        best, where = None, None
        for u in range(kh):
            for v in range(kw):
                r, q = i * kh + u - ph, j * kw + v - pw
                inside = 0 <= r < h and 0 <= q < w
                val = int(x[m, cc, r, q]) if inside else (-(2**40) if neg_inf else 0)
                if best is None or val > best:
                    best, where = val, (r, q) if inside else None
        out[m, cc, i, j] = best
        arg[(m, cc, i, j)] = where
    return out, arg


def unpool(d, arg, shape):
    full = np.zeros(shape, dtype=np.int64)
    for (m, c, i, j), cell in arg.items():
        if cell is not None:
            full[m, c, cell[0], cell[1]] = d[m, c, i, j]
    return full


def sizing(c, d, t):
    kh = kw = 1
    dh = dw = d
    n = c * d * d
    while n > t and kh < d:
        kh *= 2
        dh = math.ceil(d / kh)
        n = c * dh * dw
        if n > t:
            kw *= 2
            dw = math.ceil(d / kw)
            n = c * dh * dw
    if kh == 1 and kw == 1:
        return None, n
    return (kh, kw, (kh * (dh - d // kh)) // 2, (kw * (dw - d // kw)) // 2), n


# ----------------------------------------------------------------------------- naive model
class Naive:
    def __init__(self, cfg: ModelConfig, rng, compat=True):
        self.cfg, self.compat = cfg, compat
        self.params: dict[str, np.ndarray] = {}
        self.fe, self.convs, self.cls = [], [], []
        k = cfg.num_classes

        def draw(name, shape, fan_in):
            b = kaiming(fan_in)
            self.params[name] = rng.randint(-b, b + 1, size=shape, dtype=np.int32).astype(np.int64)

        c, _, d = cfg.input_shape
        for idx, spec in enumerate(cfg.arch):
            if spec[0] == "conv":
                _, co, ks, _, pad = spec
                name = f"conv{idx}"
                draw(f"{name}.encoder", (co, c, ks, ks), c * ks * ks)
                d = d + 2 * pad - ks + 1
                pl, ddec = sizing(co, d, cfg.pred_decoder_dim)
                draw(f"{name}.head", (k, ddec), ddec)
                amp = cfg.lr_amp_factor
                if not compat:  # the intended adjust_conv_amp (spec §3.2), kept >= 1
                    amp *= max(1, d * d // ((pl[0] * pl[1]) if pl else 1))
                blk = {
                    "name": name,
                    "k": ks,
                    "pad": pad,
                    "pool": pl,
                    "d_dec": ddec,
                    "fan": c * ks * ks,
                    "amp": amp,
                }
                self.fe.append(("conv", blk))
                self.convs.append(blk)
                if cfg.fe_dropout > 0:
                    self.fe.append(("drop", cfg.fe_dropout))
                c = co
            else:
                self.fe.append(("pool", spec[1]))
                d //= spec[1]
        if cfg.kind == "cnn" and cfg.fe_dropout == 0 and cfg.fc_dropout > 0:
            self.fe.insert(len(self.fe) - 1, ("drop", cfg.fc_dropout))
        f = c * d * d if cfg.kind == "cnn" else int(np.prod(cfg.input_shape))
        hidden = cfg.fc_hidden if cfg.kind == "cnn" else cfg.hidden
        for i, hsz in enumerate(hidden):
            draw(f"block{i}.encoder", (hsz, f), f)
            draw(f"block{i}.head", (k, hsz), hsz)
            self.cls.append(
                {"name": f"block{i}", "fan": f, "d_dec": hsz, "pool": None, "amp": cfg.lr_amp_factor}
            )
            f = hsz
        draw("output", (k, f), f)
        self.f_last = f

    def _dropout(self, a, p, rng, training):
        if not training:
            return a
        mask = rng.binomial(1, 1 - p, size=a.shape)
        return tdiv(a * mask * int(1000 / (1 - p)), 1000)

    def forward(self, x, rng, training, cnt):
        a = np.asarray(x, np.int64)
        P = self.params
        for kind, obj in self.fe:
            if kind == "conv":
                z, xp = conv(a, P[obj["name"] + ".encoder"], obj["pad"])
                z = wrap32(z, cnt, "z")
                s = scale(z, obj["fan"])
                obj.update(xp=xp, s=s, h=relu(s))
                a = obj["h"]
            elif kind == "pool":
                a = pool(a, obj, obj, 0, 0)[0]
            else:
                a = self._dropout(a, obj, rng, training)
        a = a.reshape(a.shape[0], -1)
        for blk in self.cls:
            z = wrap32(a @ P[blk["name"] + ".encoder"].T, cnt, "z")
            s = scale(z, blk["fan"])
            blk.update(x=a, s=s, h=relu(s))
            a = blk["h"]
            if self.cfg.fc_dropout > 0:
                a = self._dropout(a, self.cfg.fc_dropout, rng, training)
        y_hat = scale(wrap32(a @ P["output"].T, cnt, "z"), self.f_last)
        return a, y_hat

    def local(self, blk, y, lr, cnt):
        P, cfg = self.params, self.cfg
        h = blk["h"]
        if blk["pool"]:
            kh, kw, ph, pw = blk["pool"]
            p, arg = pool(h, kh, kw, ph, pw, neg_inf=not self.compat)
        else:
            p = h
        f = p.reshape(p.shape[0], -1)
        V = P[blk["name"] + ".head"]
        y_hat = scale(wrap32(f @ V.T, cnt, "z"), blk["d_dec"])
        e = wrap8(y_hat - y)
        d_f = wrap32(e @ V, cnt, "back_error")
        P[blk["name"] + ".head"] = sgd(V, wrap32(e.T @ f, cnt, "grad"), lr, 1, cfg.subnet_decay_inv, cnt)
        d_h = unpool(d_f.reshape(p.shape), arg, h.shape) if blk["pool"] else d_f.reshape(h.shape)
        d_s = relu_back(d_h, blk["s"])
        W = P[blk["name"] + ".encoder"]
        g = conv_grad(blk["xp"], d_s, blk["k"]) if "xp" in blk else d_s.T @ blk["x"]
        P[blk["name"] + ".encoder"] = sgd(W, wrap32(g, cnt, "grad"), lr, blk["amp"], cfg.fwd_decay_inv, cnt)

    def train_step(self, x, y, lr, rng):
        cnt = dict.fromkeys(POINTS, 0)
        y = np.asarray(y, np.int64)
        a, y_hat = self.forward(x, rng, True, cnt)
        correct = int(np.sum(np.argmax(y_hat, 1) == np.argmax(y, 1)))
        e = wrap8(y_hat - y)
        g = wrap32(e.T @ a, cnt, "grad")
        self.params["output"] = sgd(self.params["output"], g, lr, 1, self.cfg.subnet_decay_inv, cnt)
        for blk in reversed(self.cls):
            self.local(blk, y, lr, cnt)
        if self.cfg.kind == "cnn":
            if self.compat:
                for blk in reversed(self.cls):
                    self.local(blk, y, lr, cnt)
            for blk in reversed(self.convs):
                self.local(blk, y, lr, cnt)
        return correct, cnt


# ----------------------------------------------------------------------------- configs
def tiny_mlp(**kw) -> ModelConfig:
    base = dict(
        name="tiny-mlp",
        kind="mlp",
        dataset="none",
        input_shape=(1, 4, 5),
        hidden=(12, 8),
        fwd_decay_inv=300,
        subnet_decay_inv=200,
        fc_dropout=0.1,
    )
    return ModelConfig(**{**base, **kw})


def tiny_cnn(**kw) -> ModelConfig:
    base = dict(
        name="tiny-cnn",
        kind="cnn",
        dataset="none",
        input_shape=(2, 7, 7),
        arch=(
            ("conv", 4, 3, 1, 1),
            ("conv", 6, 3, 1, 1),
            ("maxpool", 2, 2),
            ("conv", 4, 3, 1, 1),
            ("maxpool", 2, 2),
        ),
        fc_hidden=(8, 6),
        pred_decoder_dim=40,
        fwd_decay_inv=400,
        subnet_decay_inv=150,
        fc_dropout=0.1,
    )
    return ModelConfig(**{**base, **kw})


def batch(cfg, rng, b=6):
    x = rng.randint(-128, 128, size=(b, *cfg.input_shape)).astype(np.int8)
    y = (np.eye(cfg.num_classes, dtype=np.int8)[rng.randint(0, cfg.num_classes, size=b)] * 32).astype(np.int8)
    return x, y


def run_pair(cfg, steps, lr_inv, compat=True, seed=7):
    model = build_model(cfg, np.random.RandomState(seed), reference_compat=compat)
    naive = Naive(cfg, np.random.RandomState(seed), compat)
    params = model.parameters()
    assert list(params) == list(naive.params)
    for n, v in params.items():
        assert v.dtype == np.int32 and np.array_equal(v, naive.params[n].astype(np.int32)), n
    data_rng = np.random.RandomState(seed + 1)
    rng_m, rng_n = np.random.RandomState(seed + 2), np.random.RandomState(seed + 2)
    total = dict.fromkeys(POINTS, 0)
    for step in range(steps):
        x, y = batch(cfg, data_rng)
        stats = model.train_step(x, y, lr_inv, rng_m)
        correct, cnt = naive.train_step(x, y, lr_inv, rng_n)
        assert stats.correct == correct and stats.batch == x.shape[0]
        assert stats.overflow == cnt, step
        for n, v in model.parameters().items():
            assert v.dtype == np.int32
            assert np.array_equal(v, naive.params[n].astype(np.int32)), (step, n)
            assert np.array_equal(
                naive.params[n], wrap32(naive.params[n])
            )  # naive weights stay in int32 range
        for k in POINTS:
            total[k] += cnt[k]
    x, _ = batch(cfg, data_rng)
    _, y_hat = naive.forward(x, None, False, dict.fromkeys(POINTS, 0))
    assert np.array_equal(model.forward_logits(x), y_hat.astype(np.int8))
    assert np.array_equal(model.predict(x), np.argmax(y_hat, axis=1))
    return total


def test_tiny_mlp_matches_naive():
    run_pair(tiny_mlp(), steps=6, lr_inv=2)


def test_tiny_mlp_no_dropout_no_decay():
    run_pair(tiny_mlp(fc_dropout=0.0, fwd_decay_inv=0, subnet_decay_inv=0, hidden=(9,)), steps=4, lr_inv=1)


def test_tiny_cnn_matches_naive():
    run_pair(tiny_cnn(), steps=4, lr_inv=2)


def test_tiny_cnn_fe_dropout_matches_naive():
    """Dropout after every conv block: int16 conv and pool inputs, masks drawn in layer order."""
    run_pair(tiny_cnn(fe_dropout=0.05, fc_dropout=0.1, fc_hidden=(7,)), steps=3, lr_inv=3, seed=9)


def test_tiny_cnn_clean_mode_matches_naive():
    run_pair(tiny_cnn(fc_dropout=0.0), steps=3, lr_inv=2, compat=False)


@pytest.mark.parametrize("limit", [2**53, 2**24])
def test_overflow_stress_mlp(monkeypatch, limit):
    """Huge learning rate: weights run into the int32 range and every point wraps; still bit-exact."""
    monkeypatch.setattr(intmath, "EXACT_LIMIT", limit)
    cfg = tiny_mlp(lr_amp_factor=1, fwd_decay_inv=0, subnet_decay_inv=0, fc_dropout=0.0)
    total = run_pair(cfg, steps=12, lr_inv=1, seed=3)
    assert total["z"] > 0 and total["grad"] > 0 and total["update"] > 0


@pytest.mark.parametrize("limit", [2**53, 2**24])
def test_overflow_stress_cnn(monkeypatch, limit):
    monkeypatch.setattr(intmath, "EXACT_LIMIT", limit)
    cfg = tiny_cnn(lr_amp_factor=1, fwd_decay_inv=0, subnet_decay_inv=0, fc_dropout=0.0)
    total = run_pair(cfg, steps=8, lr_inv=1, seed=5)
    assert total["z"] > 0 and total["grad"] > 0 and total["update"] > 0


def test_error_wrap8_reproduced():
    """A true-class logit <= -97 makes y_hat - 32 wrap to a positive int8 error (spec §1.3)."""
    cfg = tiny_mlp(fc_dropout=0.0, hidden=(4,))
    model = build_model(cfg, np.random.RandomState(0))
    p = model.parameters()
    p["block0.encoder"][:] = 0  # s = 0 -> h = -36 everywhere
    p["output"] = np.full_like(p["output"], 2**20)  # z = -36*4*2^20 -> every logit is -127
    model.set_parameters(p)
    seen = []
    x = np.full((2, 1, 4, 5), 100, np.int8)
    y = (np.eye(10, dtype=np.int8)[[0, 3]] * 32).astype(np.int8)
    model.train_step(
        x,
        y,
        512,
        None,
        trace=lambda b, ph, n, v: seen.append(v) if (b, ph, n) == ("output", "output_update", "e") else None,
    )
    e = seen[0]
    assert e.dtype == np.int8 and e[0, 0] == 97 and e[1, 3] == 97 and e[0, 1] == -127


def expected_trace(model):
    seq = []
    conv_names = [b.name for b in model.conv_blocks]
    cls_names = [b.name for b, _ in model.classifier]
    for n in conv_names + cls_names:
        seq += [(n, "forward", k) for k in ("x", "z", "s", "h")]
    seq += [("output", *p) for p in OUTPUT_TRACE_POINTS]

    def local(name):
        blk = {b.name: b for b in model.blocks}[name]
        pts = [("head", "pool")] if blk.pool is not None else []
        pts += [p for p in BLOCK_TRACE_POINTS if p[0] in ("head", "head_update")]
        pts += [("encoder_update", "d_h")] if blk.pool is not None else []
        pts += [p for p in BLOCK_TRACE_POINTS if p[0] == "encoder_update"]
        return [(name, *p) for p in pts]

    for n in reversed(cls_names):
        seq += local(n)
    if model.config.kind == "cnn":
        for n in reversed(cls_names):
            seq += local(n)
        for n in reversed(conv_names):
            seq += local(n)
    return seq


@pytest.mark.parametrize("make", [tiny_mlp, tiny_cnn])
def test_trace_hook(make):
    cfg = make()
    model = build_model(cfg, np.random.RandomState(1))
    before = model.parameters()
    x, y = batch(cfg, np.random.RandomState(2))
    calls = []
    model.train_step(x, y, 4, np.random.RandomState(3), trace=lambda *a: calls.append(a))
    assert [c[:3] for c in calls] == expected_trace(model)
    assert all((c[1], c[2]) in TRACE_POINTS for c in calls)
    last_w = {}
    for blk, phase, name, v in calls:
        assert isinstance(v, np.ndarray)
        if name in ("z", "back_error", "grad", "update", "weights", "d_s", "d_h"):
            assert v.dtype == np.int32, (blk, phase, name)
        if name in ("s", "h", "y_hat", "e", "pool"):
            assert v.dtype == np.int8, (blk, phase, name)
        if name == "weights":
            last_w[
                f"{blk}.{'head' if phase == 'head_update' else 'encoder'}" if blk != "output" else "output"
            ] = v
    after = model.parameters()
    assert set(last_w) == set(after)
    for n, v in last_w.items():
        assert np.array_equal(v, after[n])  # trace arrays are not mutated later
        assert not np.array_equal(v, before[n]) or n.endswith("head")
    # trace does not change the computation
    m2 = build_model(cfg, np.random.RandomState(1))
    m2.train_step(x, y, 4, np.random.RandomState(3))
    for n, v in m2.parameters().items():
        assert np.array_equal(v, after[n])
    first_x = [c[3] for c in calls if c[1:3] == ("forward", "x")][0]
    assert np.array_equal(first_x, x if cfg.kind == "cnn" else x.reshape(x.shape[0], -1))


@pytest.mark.parametrize(
    "name,count",
    [
        ("mlp1", 85400),
        ("mlp2", 185800),
        ("mlp3", 2940928),
        ("mlp4", 27336000),
        (("vgg8b", "cifar10"), 9149824),
        (("vgg8b", "mnist"), 7559296),
        ("vgg11b", 11926912),
    ],
)
def test_parameter_counts(name, count):
    cfg = get_config(*name) if isinstance(name, tuple) else get_config(name)
    model = build_model(cfg, np.random.RandomState(0))
    assert model.num_parameters() == count
    assert sum(v.size for v in model.parameters().values()) == count


def test_mlp1_structure_and_init_order():
    cfg = get_config("mlp1")
    model = build_model(cfg, np.random.RandomState(42))
    p = model.parameters()
    assert list(p) == ["block0.encoder", "block0.head", "block1.encoder", "block1.head", "output"]
    assert [v.shape for v in p.values()] == [(100, 784), (10, 100), (50, 100), (10, 50), (10, 50)]
    np.random.seed(42)
    for (n, v), b in zip(p.items(), (10, 30, 30, 43, 43), strict=True):
        assert np.array_equal(v, np.random.randint(-b, b + 1, size=v.shape, dtype=np.int32)), n
    sfs = [
        model.classifier[0][0].scaling.scale_factor,
        model.classifier[0][0].head_scaling.scale_factor,
        model.classifier[1][0].scaling.scale_factor,
        model.output.scaling.scale_factor,
    ]
    assert sfs == [200704, 25600, 25600, 12800]
    opt = [
        model.classifier[0][0].encoder.optimizer,
        model.classifier[0][0].head.optimizer,
        model.output.linear.optimizer,
    ]
    assert [(o.amp, o.decay_inv) for o in opt] == [(640, 12000), (1, 3000), (1, 3000)]


def test_bad_inputs():
    cfg = tiny_mlp()
    model = build_model(cfg, np.random.RandomState(0))
    x, y = batch(cfg, np.random.RandomState(1))
    rng = np.random.RandomState(2)
    with pytest.raises(TypeError, match="int8"):
        model.train_step(x.astype(np.int16), y, 4, rng)
    with pytest.raises(TypeError, match="int8"):
        model.train_step(x.astype(np.float32), y, 4, rng)
    with pytest.raises(TypeError, match="numpy array"):
        model.train_step(x.tolist(), y, 4, rng)
    with pytest.raises(ValueError, match="shape"):
        model.train_step(x[:, :, :3], y, 4, rng)
    with pytest.raises(ValueError, match="y has shape"):
        model.train_step(x, y[:, :5], 4, rng)
    with pytest.raises(TypeError, match="y must be"):
        model.train_step(x, y.astype(np.int32), 4, rng)
    for bad in (0, -512, 1.5):
        with pytest.raises(ValueError, match="lr_inv"):
            model.train_step(x, y, bad, rng)
    with pytest.raises(TypeError, match="rng"):
        model.train_step(x, y, 4, None)
    with pytest.raises(TypeError, match="int8"):
        model.predict(x.astype(np.int32))
    # flat [B, F] input is accepted for an MLP and gives the same step
    m2 = build_model(cfg, np.random.RandomState(0))
    model.train_step(x, y, 4, np.random.RandomState(5))
    m2.train_step(x.reshape(len(x), -1), y, 4, np.random.RandomState(5))
    assert all(
        np.array_equal(a, b)
        for a, b in zip(model.parameters().values(), m2.parameters().values(), strict=True)
    )
    with pytest.raises(TypeError, match="RandomState"):
        build_model(cfg, np.random.default_rng(0))


def test_set_parameters_validation():
    cfg = tiny_cnn()
    model = build_model(cfg, np.random.RandomState(0))
    p = model.parameters()
    p["conv0.encoder"][0, 0, 0, 0] = 12345
    model.set_parameters(p)
    p["conv0.encoder"][0, 0, 0, 1] = 777  # set_parameters copied: later edits do not leak in
    assert model.parameters()["conv0.encoder"][0, 0, 0, 0] == 12345
    assert model.parameters()["conv0.encoder"][0, 0, 0, 1] != 777 or p is None
    q = model.parameters()
    q.pop("output")
    with pytest.raises(ValueError, match="missing"):
        model.set_parameters(q)
    q = {**model.parameters(), "conv9.head": np.zeros((1,), np.int32)}
    with pytest.raises(ValueError, match="unknown"):
        model.set_parameters(q)
    q = model.parameters()
    q["output"] = q["output"].astype(np.int64)
    with pytest.raises(TypeError, match="int32"):
        model.set_parameters(q)
    q = model.parameters()
    q["output"] = q["output"][:, :-1].copy()
    with pytest.raises(ValueError, match="shape"):
        model.set_parameters(q)


def test_digits_configs_train():
    for name in ("mlp-digits", "cnn-digits"):
        cfg = get_config(name)
        model = build_model(cfg, np.random.RandomState(0))
        x, y = batch(cfg, np.random.RandomState(1), b=64)
        stats = model.train_step(x, y, cfg.lr_inv, np.random.RandomState(2))
        assert stats.batch == 64 and 0 <= stats.correct <= 64 and set(stats.overflow) == set(POINTS)
        assert model.predict(x).shape == (64,)

"""Local-loss blocks: decoder-pool sizing (spec §3.2, §7.3) and one local update against loops."""

from __future__ import annotations

import numpy as np
import pytest

from nitro_hw.golden.blocks import LocalConv2dBlock, LocalLinearBlock, decoder_pool_size
from nitro_hw.golden.models import build_model
from nitro_hw.golden.zoo import get_config

# spec §7.3: block -> (C_in, C_out, D, SF, decoder kernel, padding, d_dec)
VGG8B_CIFAR = {
    "conv0": (3, 128, 32, 6912, (8, 4), (0, 0), 4096),
    "conv1": (128, 256, 32, 294912, (8, 8), (0, 0), 4096),
    "conv3": (256, 256, 16, 589824, (4, 4), (0, 0), 4096),
    "conv4": (256, 512, 16, 589824, (8, 4), (0, 0), 4096),
    "conv6": (512, 512, 8, 1179648, (4, 2), (0, 0), 4096),
    "conv8": (512, 512, 4, 1179648, (2, 1), (0, 0), 4096),
}
VGG8B_28 = {
    "conv0": (1, 128, 28, 2304, (8, 4), (4, 0), 3584),
    "conv1": (128, 256, 28, 294912, (8, 8), (4, 4), 4096),
    "conv3": (256, 256, 14, 589824, (4, 4), (2, 2), 4096),
    "conv4": (256, 512, 14, 589824, (8, 4), (4, 2), 4096),
    "conv6": (512, 512, 7, 1179648, (4, 2), (2, 1), 4096),
    "conv8": (512, 512, 3, 1179648, (2, 1), (1, 0), 3072),
}
VGG11B = {  # channels @ D -> decoder kernel, no padding, d_dec 4096
    "conv0": (128, 32, (8, 4)),
    "conv1": (128, 32, (8, 4)),
    "conv2": (128, 32, (8, 4)),
    "conv3": (256, 32, (8, 8)),
    "conv5": (256, 16, (4, 4)),
    "conv6": (512, 16, (8, 4)),
    "conv8": (512, 8, (4, 2)),
    "conv9": (512, 8, (4, 2)),
    "conv11": (512, 4, (2, 1)),
}


@pytest.mark.parametrize("ds,table", [("cifar10", VGG8B_CIFAR), ("mnist", VGG8B_28)])
def test_vgg8b_decoder_pools(ds, table):
    m = build_model(get_config("vgg8b", ds), np.random.RandomState(0))
    got = {b.name: b for b in m.conv_blocks}
    assert list(got) == list(table)
    for name, (c_in, c_out, d, sf, kern, pad, d_dec) in table.items():
        b = got[name]
        assert (b.encoder.in_channels, b.encoder.out_channels, b.out_size) == (c_in, c_out, d)
        assert b.scaling.scale_factor == sf
        assert b.pool.kernel_size == kern and b.pool.padding == pad and b.d_dec == d_dec
        assert b.head.weight.shape == (10, d_dec) and b.head_scaling.scale_factor == 256 * d_dec
        sizing = decoder_pool_size(c_out, d, 4096)
        assert (sizing.kernel, sizing.padding, sizing.d_dec) == (kern, pad, d_dec)
    fc = m.classifier[0][0]
    if ds == "cifar10":
        assert (fc.encoder.in_features, fc.scaling.scale_factor, fc.head_scaling.scale_factor) == (
            2048,
            524288,
            262144,
        )
        assert (
            int(np.abs(got["conv0"].encoder.weight).max()) <= 60 and int(np.abs(fc.encoder.weight).max()) <= 6
        )
        assert int(np.abs(got["conv0"].head.weight).max()) <= 4
    else:
        assert (fc.encoder.in_features, fc.scaling.scale_factor) == (512, 131072)
        assert int(np.abs(fc.encoder.weight).max()) <= 13
    assert m.output.scaling.scale_factor == 262144


def test_vgg11b_decoder_pools():
    m = build_model(get_config("vgg11b"), np.random.RandomState(0))
    got = {b.name: b for b in m.conv_blocks}
    assert list(got) == list(VGG11B)
    for name, (c_out, d, kern) in VGG11B.items():
        b = got[name]
        assert (b.encoder.out_channels, b.out_size) == (c_out, d)
        assert (b.pool.kernel_size, b.pool.padding, b.d_dec) == (kern, (0, 0), 4096)


def test_sizing_rule_small_cases():
    s = decoder_pool_size(8, 8, 2048)
    assert not s.used and s.d_dec == 512 and s.kernel == (1, 1)
    s = decoder_pool_size(8, 8, 128)
    assert s.kernel == (2, 2) and s.d_dec == 128
    # 75 -> ks_h 2: 3*3*5=45 -> ks_w 2: 27 -> ks_h 4: 18 -> ks_w 4: 12 -> ks_h 8: 3*1*2 = 6 (stop)
    s = decoder_pool_size(3, 5, 10)
    assert (s.kernel, s.out_hw, s.d_dec) == ((8, 4), (1, 2), 6)
    assert s.padding == ((8 * (1 - 0)) // 2, (4 * (2 - 1)) // 2)
    with pytest.raises(ValueError):
        decoder_pool_size(0, 4, 4)


def tdiv(a, d):
    q = abs(a) // abs(d)
    return q if (a >= 0) == (d > 0) else -q


def w32(v):
    v %= 1 << 32
    return v - (1 << 32) if v >= 1 << 31 else v


def w8(v):
    v %= 256
    return v - 256 if v >= 128 else v


def test_linear_block_local_update_loops():
    rng = np.random.RandomState(4)
    blk = LocalLinearBlock(
        "block0", 6, 5, 3, rng, alpha=4, fwd_decay_inv=50, subnet_decay_inv=40, lr_amp_factor=7
    )
    blk.encoder.weight = rng.randint(-80, 81, size=(5, 6)).astype(np.int32)
    blk.head.weight = rng.randint(-80, 81, size=(3, 5)).astype(np.int32)
    W, V = blk.encoder.weight.tolist(), blk.head.weight.tolist()
    x = rng.randint(-128, 128, size=(4, 6)).astype(np.int8)
    y = (np.eye(3, dtype=np.int8)[[0, 2, 1, 2]] * 32).astype(np.int8)
    X, Y = x.tolist(), y.tolist()
    h = blk.forward(x, training=True)
    s = [
        [max(-127, min(127, tdiv(w32(sum(X[m][i] * W[o][i] for i in range(6))), 256 * 6))) for o in range(5)]
        for m in range(4)
    ]
    H = [[(v if v >= 0 else tdiv(v, 4)) - 36 for v in row] for row in s]
    assert h.tolist() == H
    blk.local_update(y, 2)
    yh = [
        [max(-127, min(127, tdiv(w32(sum(H[m][o] * V[k][o] for o in range(5))), 256 * 5))) for k in range(3)]
        for m in range(4)
    ]
    e = [[w8(yh[m][k] - Y[m][k]) for k in range(3)] for m in range(4)]
    d_f = [[w32(sum(e[m][k] * V[k][o] for k in range(3))) for o in range(5)] for m in range(4)]
    gv = [[w32(sum(e[m][k] * H[m][o] for m in range(4))) for o in range(5)] for k in range(3)]
    Vn = [[w32(V[k][o] - w32(tdiv(gv[k][o], 2) + tdiv(V[k][o], 40))) for o in range(5)] for k in range(3)]
    ginv = [[1 if 0 <= v < 127 else 4 if v < 0 else 2**31 - 1 for v in row] for row in s]
    d_s = [[tdiv(d_f[m][o], ginv[m][o]) for o in range(5)] for m in range(4)]
    gw = [[w32(sum(d_s[m][o] * X[m][i] for m in range(4))) for i in range(6)] for o in range(5)]
    Wn = [[w32(W[o][i] - w32(tdiv(gw[o][i], 14) + tdiv(W[o][i], 50))) for i in range(6)] for o in range(5)]
    assert blk.head.weight.tolist() == Vn
    assert blk.encoder.weight.tolist() == Wn


def test_conv_block_clean_mode_amp():
    rng = np.random.RandomState(0)
    compat = LocalConv2dBlock("conv0", 1, 8, 3, 1, 8, 10, rng, pred_decoder_dim=128)
    clean = LocalConv2dBlock("conv0", 1, 8, 3, 1, 8, 10, rng, pred_decoder_dim=128, reference_compat=False)
    assert compat.encoder.optimizer.amp == 640  # §9 A2: adjust_conv_amp is a no-op
    assert clean.encoder.optimizer.amp == 640 * (64 // 4)
    assert compat.pool.pad_value == "zero" and clean.pool.pad_value == "neg_inf"

"""The model zoo (spec §7): hyper-parameters per dataset, JSON round trip, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nitro_hw.golden.models import build_model
from nitro_hw.golden.zoo import AugmentConfig, ModelConfig, config_datasets, config_names, get_config

# spec §7.2: (model, dataset) -> (hidden/arch tag, fwd_decay_inv, subnet_decay_inv, dropout, augmentation)
TABLE = {
    ("mlp1", "mnist"): ((100, 50), 12000, 3000, 0.0, None),
    ("mlp2", "fashion-mnist"): ((200, 100, 50), 10000, 8000, 0.0, None),
    ("mlp3", "mnist"): ((1024, 1024, 1024), 28000, 500, 0.0, (28, 2, False)),
    ("mlp3", "fashion-mnist"): ((1024, 1024, 1024), 29000, 6000, 0.0, (28, 2, True)),
    ("mlp4", "cifar10"): ((3000, 3000, 3000), 19000, 7500, 0.1, (32, 4, True)),
    ("vgg8b", "mnist"): ("vgg8b", 30000, 3000, 0.0, (28, 2, False)),
    ("vgg8b", "fashion-mnist"): ("vgg8b", 28000, 3500, 0.1, (28, 2, True)),
    ("vgg8b", "cifar10"): ("vgg8b", 25000, 3000, 0.15, (32, 4, True)),
    ("vgg11b", "cifar10"): ("vgg11b", 28000, 4500, 0.0, (32, 4, True)),
}
INPUT = {"mnist": (1, 28, 28), "fashion-mnist": (1, 28, 28), "cifar10": (3, 32, 32)}


@pytest.mark.parametrize("key", sorted(TABLE))
def test_published_settings(key):
    name, ds = key
    hidden, fwd, sub, drop, aug = TABLE[key]
    cfg = get_config(name, ds)
    assert cfg.name == name and cfg.dataset == ds and cfg.input_shape == INPUT[ds]
    assert (cfg.fwd_decay_inv, cfg.subnet_decay_inv, cfg.fc_dropout, cfg.fe_dropout) == (fwd, sub, drop, 0.0)
    assert (cfg.lr_inv, cfg.lr_amp_factor, cfg.alpha, cfg.batch_size, cfg.max_epochs) == (
        512,
        640,
        4,
        64,
        150,
    )
    assert cfg.init == "uniform_kaiming_leaky_relu" and cfg.num_classes == 10 and cfg.target_value == 32
    if isinstance(hidden, tuple):
        assert cfg.kind == "mlp" and cfg.hidden == hidden
    else:
        assert cfg.kind == "cnn" and cfg.fc_hidden == (1024,) and cfg.pred_decoder_dim == 4096
    if aug is None:
        assert cfg.augment is None
    else:
        assert (cfg.augment.crop_size, cfg.augment.crop_pad, cfg.augment.flip) == aug


def test_vgg_architectures():
    convs = [s[1] for s in get_config("vgg8b").arch if s[0] == "conv"]
    assert convs == [128, 256, 256, 512, 512, 512]
    assert [i for i, s in enumerate(get_config("vgg8b").arch) if s[0] == "maxpool"] == [2, 5, 7, 9]
    convs = [s[1] for s in get_config("vgg11b").arch if s[0] == "conv"]
    assert convs == [128, 128, 128, 256, 256, 512, 512, 512, 512]
    assert all(s[2:] == (3, 1, 1) for s in get_config("vgg11b").arch if s[0] == "conv")


def test_digits_models():
    cfg = get_config("mlp-digits")
    assert (cfg.input_shape, cfg.hidden, cfg.dataset, cfg.max_epochs) == ((1, 8, 8), (32, 16), "digits", 100)
    assert (cfg.fwd_decay_inv, cfg.subnet_decay_inv, cfg.fc_dropout, cfg.augment) == (12000, 3000, 0.0, None)
    m = build_model(cfg, np.random.RandomState(0))
    assert m.num_parameters() == 64 * 32 + 32 * 10 + 32 * 16 + 16 * 10 + 16 * 10
    cnn = get_config("cnn-digits")
    m = build_model(cnn, np.random.RandomState(0))
    assert cnn.kind == "cnn" and cnn.dataset == "digits" and cnn.augment is None
    assert m.conv_blocks[0].pool is not None  # the small budget makes the head use a decoder pool
    assert m.conv_blocks[0].d_dec <= cnn.pred_decoder_dim


def test_default_datasets_and_aliases():
    assert get_config("mlp1").dataset == "mnist"
    assert get_config("vgg8b").dataset == "cifar10"
    assert (
        get_config("mlp3", "fashion_mnist")
        == get_config("mlp3", "fmnist")
        == get_config("mlp3", "fashion-mnist")
    )
    assert set(config_names()) >= {
        "mlp1",
        "mlp2",
        "mlp3",
        "mlp4",
        "vgg8b",
        "vgg11b",
        "mlp-digits",
        "cnn-digits",
    }
    assert config_datasets("vgg8b") == ("mnist", "fashion-mnist", "cifar10")


@pytest.mark.parametrize("name", config_names())
def test_json_round_trip(name):
    for ds in config_datasets(name):
        cfg = get_config(name, ds)
        d = cfg.to_dict()
        json.dumps(d)  # JSON-able
        back = ModelConfig.from_dict(json.loads(json.dumps(d)))
        assert back == cfg and back.to_dict() == d
        assert ModelConfig.from_json(cfg.to_json()) == cfg
        assert isinstance(back.input_shape, tuple) and all(isinstance(s, tuple) for s in back.arch)
        assert back.augment is None or isinstance(back.augment, AugmentConfig)


def test_errors():
    with pytest.raises(ValueError, match="unknown model config"):
        get_config("resnet")
    with pytest.raises(ValueError, match="no setting"):
        get_config("mlp1", "cifar10")
    with pytest.raises(ValueError, match="unknown ModelConfig keys"):
        ModelConfig.from_dict({**get_config("mlp1").to_dict(), "bogus": 1})
    with pytest.raises(ValueError, match="kind"):
        ModelConfig(
            name="x", kind="rnn", dataset="d", input_shape=(1, 2, 2), fwd_decay_inv=1, subnet_decay_inv=1
        )
    with pytest.raises(ValueError, match="alpha"):
        ModelConfig(
            name="x",
            kind="mlp",
            dataset="d",
            input_shape=(1, 2, 2),
            fwd_decay_inv=1,
            subnet_decay_inv=1,
            alpha=6,
        )
    with pytest.raises(ValueError, match="lr_inv"):
        ModelConfig(
            name="x",
            kind="mlp",
            dataset="d",
            input_shape=(1, 2, 2),
            fwd_decay_inv=1,
            subnet_decay_inv=1,
            lr_inv=0,
        )
    with pytest.raises(ValueError, match="0.05"):
        ModelConfig(
            name="x",
            kind="mlp",
            dataset="d",
            input_shape=(1, 2, 2),
            fwd_decay_inv=1,
            subnet_decay_inv=1,
            fc_dropout=0.12,
        )

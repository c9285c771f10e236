"""The translated custom-policy examples of SB3's documentation run, with tiny budgets, and build what they promise."""

import importlib
import sys
from pathlib import Path

import mlx.core as mx
import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture()
def load_example(monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLES))

    def load(name):
        sys.modules.pop(name, None)
        return importlib.import_module(name)

    return load


def test_custom_cnn_extractor(load_example):
    example = load_example("custom_cnn_extractor")
    model, mean_reward = example.main(["--timesteps", "256"])
    extractor = model.policy.features_extractor
    assert type(extractor).__name__ == "CustomCNN" and extractor.features_dim == 128
    # 36x36 input: 8x8 after the first convolution, 3x3 after the second, 64 channels.
    assert extractor.linear.layers[0].weight.shape == (128, 64 * 3 * 3)
    assert extractor.cnn.layers[0].weight.shape == (32, 8, 8, 1)  # OHWI
    assert 0.0 <= mean_reward <= 10.0
    features = model.policy.extract_features(mx.zeros((2, 1, 36, 36), dtype=mx.uint8), extractor)
    assert features.shape == (2, 128)


def test_custom_actor_critic(load_example):
    example = load_example("custom_actor_critic")
    model, mean_reward = example.main(["--timesteps", "256"])
    extractor = model.policy.mlp_extractor
    assert type(extractor).__name__ == "CustomNetwork" and (extractor.latent_dim_pi, extractor.latent_dim_vf) == (64, 64)
    assert model.policy.ortho_init is False
    assert model.policy.action_net.weight.shape == (2, 64) and model.policy.value_net.weight.shape == (1, 64)
    latent_pi, latent_vf = extractor(mx.ones((3, 4)))
    assert latent_pi.shape == (3, 64) and latent_vf.shape == (3, 64)
    assert mean_reward >= 8.0


def test_custom_multi_input_extractor(load_example):
    example = load_example("custom_multi_input_extractor")
    model, mean_reward = example.main(["--timesteps", "512"])
    extractor = model.policy.features_extractor
    assert type(extractor).__name__ == "CustomCombinedExtractor"
    # "img" (1, 64, 64) pooled by 4 -> 256 numbers; "vec" (5,) -> 16 units.
    assert extractor.features_dim == 256 + 16
    assert type(extractor.extractors["img"]).__name__ == "PoolAndFlatten"
    assert extractor.extractors["vec"].weight.shape == (16, 5)
    obs = {"img": mx.zeros((2, 1, 64, 64)), "vec": mx.zeros((2, 5))}
    assert extractor(obs).shape == (2, 272)
    assert np.isfinite(mean_reward)

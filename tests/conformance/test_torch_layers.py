"""Conformance with SB3 2.9.2's ``common.torch_layers``: layer lists, latent sizes, feature sizes and refusals."""

import importlib

import numpy as np
import pytest
from gymnasium import spaces

from mlx_baselines3.common import torch_layers
from mlx_baselines3.common.exceptions import UsageError

from ._outcome import assert_same_failure, outcome

IMAGE = spaces.Box(0, 255, (3, 40, 40), np.uint8)
DICT = spaces.Dict({"img": IMAGE, "vec": spaces.Box(0, 1, (5,)), "d": spaces.Discrete(3)})


def _libs():
    th_nn = pytest.importorskip("torch.nn")
    sb3_layers = importlib.import_module("stable_baselines3.common.torch_layers")
    return th_nn, sb3_layers


def _names(layers):
    return [type(layer).__name__ for layer in layers]


def _sequential_names(module):
    # torch's Sequential iterates over its layers, MLX's keeps them in `.layers`.
    return _names(module.layers if hasattr(module, "layers") else module)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(input_dim=4, output_dim=2, net_arch=[8, 8]),
        dict(input_dim=4, output_dim=2, net_arch=[8], squash_output=True),
        dict(input_dim=4, output_dim=0, net_arch=[8]),
        dict(input_dim=4, output_dim=-1, net_arch=[8]),
        dict(input_dim=4, output_dim=2, net_arch=[]),
    ],
)
def test_create_mlp_same_layers_as_sb3(kwargs):
    _, sb3_layers = _libs()
    assert _names(torch_layers.create_mlp(**kwargs)) == _names(sb3_layers.create_mlp(**kwargs))


def test_create_mlp_facts():
    import mlx.nn as nn

    layers = torch_layers.create_mlp(4, 2, [8], activation_fn=nn.Tanh, with_bias=False, squash_output=True)
    assert _names(layers) == ["Linear", "Tanh", "Linear", "Tanh"]
    assert "bias" not in layers[0] and layers[0].weight.shape == (8, 4)


@pytest.mark.parametrize("net_arch", [[64, 64], dict(pi=[32], vf=[16, 16]), dict(pi=[8]), [], dict(vf=[4])])
def test_mlp_extractor_same_as_sb3(net_arch):
    th_nn, sb3_layers = _libs()
    import mlx.nn as nn

    ours = torch_layers.MlpExtractor(5, net_arch, nn.Tanh)
    theirs = sb3_layers.MlpExtractor(5, net_arch, th_nn.Tanh)
    assert (ours.latent_dim_pi, ours.latent_dim_vf) == (theirs.latent_dim_pi, theirs.latent_dim_vf)
    assert _sequential_names(ours.policy_net) == _sequential_names(theirs.policy_net)
    assert _sequential_names(ours.value_net) == _sequential_names(theirs.value_net)


@pytest.mark.parametrize("net_arch", [[64], dict(pi=[1], qf=[2]), dict(pi=[1]), dict(qf=[3]), "bad"])
def test_get_actor_critic_arch_same_as_sb3(net_arch):
    _, sb3_layers = _libs()
    ours = outcome(torch_layers.get_actor_critic_arch, net_arch)
    theirs = outcome(sb3_layers.get_actor_critic_arch, net_arch)
    if theirs.error is not None:
        assert_same_failure(ours, theirs)
    else:
        assert ours.value == theirs.value


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda layers: layers.FlattenExtractor(spaces.Box(0, 1, (3, 4))).features_dim, 12),
        (lambda layers: int(layers.FlattenExtractor(spaces.MultiDiscrete([2, 3])).features_dim), 5),
        (lambda layers: layers.NatureCNN(IMAGE, features_dim=32).features_dim, 32),
        (lambda layers: layers.CombinedExtractor(DICT, cnn_output_dim=16).features_dim, 16 + 5 + 3),
        (
            lambda layers: (
                layers.CombinedExtractor(
                    spaces.Dict({"img": spaces.Box(0, 1, (3, 40, 40), np.float32)}), normalized_image=True
                ).features_dim
            ),
            256,
        ),
        # A float image without normalized_image is not an image: flattened.
        (lambda layers: layers.CombinedExtractor(spaces.Dict({"img": spaces.Box(0, 1, (3, 40, 40))})).features_dim, 4800),
    ],
)
def test_feature_sizes(make, expected):
    assert make(torch_layers) == expected
    _, sb3_layers = _libs()
    assert make(sb3_layers) == expected


@pytest.mark.parametrize("features_dim", [0, -1])
def test_features_dim_must_be_positive(features_dim):
    # SB3: a bare assert.
    with pytest.raises(AssertionError):
        torch_layers.BaseFeaturesExtractor(spaces.Box(0, 1, (3,)), features_dim)
    with pytest.raises(UsageError, match="features_dim must be > 0"):
        torch_layers.BaseFeaturesExtractor(spaces.Box(0, 1, (3,)), features_dim)
    _, sb3_layers = _libs()
    with pytest.raises(AssertionError):
        sb3_layers.BaseFeaturesExtractor(spaces.Box(0, 1, (3,)), features_dim)


def test_nature_cnn_refusals_same_as_sb3():
    _, sb3_layers = _libs()
    for space in (spaces.Discrete(3), spaces.Box(0, 1, (3, 40, 40), np.float32)):
        ours = outcome(torch_layers.NatureCNN, space)
        theirs = outcome(sb3_layers.NatureCNN, space)
        assert isinstance(theirs.error, AssertionError) and isinstance(ours.error, AssertionError)
        # SB3 passes a tuple to AssertionError for the non-Box case: compare the text without the tuple punctuation.
        first_part = theirs.error.args[0][0] if isinstance(theirs.error.args[0], tuple) else str(theirs.error)[:40]
        assert first_part.strip() in str(ours.error)
    # Normalized channel-first float images are accepted with normalized_image=True, as in SB3.
    accepted = spaces.Box(0, 1, (1, 36, 36), np.float32)
    assert torch_layers.NatureCNN(accepted, normalized_image=True).features_dim == 512
    assert sb3_layers.NatureCNN(accepted, normalized_image=True).features_dim == 512


def test_nature_cnn_too_small_is_a_clear_error():
    # SB3 fails inside torch's convolution (RuntimeError); we say which size is needed and why.
    with pytest.raises(ValueError, match=r"NatureCNN needs images of at least 36x36 pixels.*VecTransposeImage"):
        torch_layers.NatureCNN(spaces.Box(0, 1, (36, 36, 1), np.float32), normalized_image=True)

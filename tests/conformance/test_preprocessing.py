"""Conformance with SB3 2.9.2's ``common.preprocessing``: image detection, transposition, preprocessing, shapes."""

import mlx.core as mx
import numpy as np
import pytest
from gymnasium import spaces

from mlx_baselines3.common import preprocessing
from mlx_baselines3.common.exceptions import UsageError

from ._outcome import assert_same_failure, assert_same_value, outcome

UINT8_CHW = spaces.Box(0, 255, (3, 36, 36), np.uint8)
UINT8_HWC = spaces.Box(0, 255, (36, 36, 3), np.uint8)
FLOAT_CHW = spaces.Box(0, 1, (1, 36, 36), np.float32)
FLOAT_HWC = spaces.Box(0, 1, (36, 36, 1), np.float32)
STACKED = spaces.Box(0, 255, (36, 36, 5), np.uint8)
BAD_BOUNDS = spaces.Box(0, 1, (3, 36, 36), np.uint8)
MIDDLE_SMALLEST = spaces.Box(0, 255, (36, 3, 36), np.uint8)
FLAT = spaces.Box(0, 255, (36, 36), np.uint8)

# (space, check_channels, normalized_image) -> SB3's answer
IMAGE_CASES = [
    (UINT8_CHW, False, False, True),
    (UINT8_HWC, True, False, True),
    (FLOAT_CHW, False, False, False),
    (FLOAT_CHW, False, True, True),
    (FLOAT_HWC, True, True, True),
    (STACKED, False, False, True),
    (STACKED, True, False, False),
    (BAD_BOUNDS, False, False, False),
    (BAD_BOUNDS, False, True, True),
    (FLAT, False, True, False),
    (spaces.Discrete(3), False, True, False),
]


@pytest.fixture(scope="module")
def sb3_preprocessing():
    pytest.importorskip("stable_baselines3")
    from stable_baselines3.common import preprocessing as sb3_preprocessing

    return sb3_preprocessing


@pytest.mark.parametrize(("space", "check_channels", "normalized_image", "expected"), IMAGE_CASES)
def test_is_image_space(space, check_channels, normalized_image, expected):
    result = preprocessing.is_image_space(space, check_channels=check_channels, normalized_image=normalized_image)
    assert result is expected


@pytest.mark.parametrize(("space", "check_channels", "normalized_image", "expected"), IMAGE_CASES)
def test_is_image_space_same_as_sb3(sb3_preprocessing, space, check_channels, normalized_image, expected):
    kwargs = dict(check_channels=check_channels, normalized_image=normalized_image)
    assert_same_value(
        outcome(preprocessing.is_image_space, space, **kwargs), outcome(sb3_preprocessing.is_image_space, space, **kwargs)
    )


def test_channels_first_heuristic_warns_when_the_middle_axis_is_smallest():
    assert preprocessing.is_image_space_channels_first(UINT8_CHW) is True
    assert preprocessing.is_image_space_channels_first(UINT8_HWC) is False
    with pytest.warns(UserWarning, match="Treating image space as channels-last"):
        assert preprocessing.is_image_space_channels_first(MIDDLE_SMALLEST) is False


@pytest.mark.parametrize("obs_shape", [(36, 36, 3), (2, 36, 36, 3), (3, 36, 36), (2, 3, 36, 36), (5, 5)])
def test_maybe_transpose_same_as_sb3(sb3_preprocessing, obs_shape):
    observation = np.arange(np.prod(obs_shape), dtype=np.uint8).reshape(obs_shape)
    ours = outcome(preprocessing.maybe_transpose, observation, UINT8_CHW)
    theirs = outcome(sb3_preprocessing.maybe_transpose, observation, UINT8_CHW)
    if theirs.error is not None:
        assert_same_failure(ours, theirs)
    else:
        assert_same_value(ours, theirs)


def test_maybe_transpose_moves_channels_first():
    observation = np.arange(36 * 36 * 3, dtype=np.uint8).reshape(36, 36, 3)
    transposed = preprocessing.maybe_transpose(observation, UINT8_CHW)
    assert transposed.shape == (3, 36, 36)
    np.testing.assert_array_equal(transposed[1], observation[:, :, 1])


PREPROCESS_CASES = [
    (spaces.Box(-1, 1, (2,), np.float64), np.array([[0.25, -0.5]])),
    (spaces.Box(0, 255, (1, 2, 2), np.uint8), np.array([[[[0, 51], [255, 102]]]], dtype=np.uint8)),
    (spaces.Box(0, 255, (2,), np.uint8), np.array([[0, 255]], dtype=np.uint8)),
    (spaces.Discrete(3, start=0), np.array([2, 0])),
    (spaces.MultiDiscrete([2, 3]), np.array([[1, 2], [0, 0]])),
    (spaces.MultiBinary(3), np.array([[1, 0, 1]], dtype=np.int8)),
]


@pytest.mark.parametrize("normalize_images", [True, False])
@pytest.mark.parametrize(("space", "obs"), PREPROCESS_CASES)
def test_preprocess_obs_same_as_sb3(space, obs, normalize_images):
    th = pytest.importorskip("torch")
    from stable_baselines3.common.preprocessing import preprocess_obs as sb3_preprocess_obs

    ours = preprocessing.preprocess_obs(mx.array(obs), space, normalize_images=normalize_images)
    theirs = sb3_preprocess_obs(th.as_tensor(obs), space, normalize_images=normalize_images)
    assert ours.dtype == mx.float32 and theirs.dtype == th.float32
    np.testing.assert_allclose(np.array(ours), theirs.numpy(), rtol=1e-6)


def test_preprocess_obs_facts():
    image = preprocessing.preprocess_obs(
        mx.array(np.full((1, 1, 2, 2), 255, np.uint8)), spaces.Box(0, 255, (1, 2, 2), np.uint8)
    )
    np.testing.assert_array_equal(np.array(image), np.ones((1, 1, 2, 2), np.float32))
    one_hot = preprocessing.preprocess_obs(mx.array(np.array([1])), spaces.Discrete(3))
    np.testing.assert_array_equal(np.array(one_hot), [[0.0, 1.0, 0.0]])
    as_dict = preprocessing.preprocess_obs({"a": mx.array(np.array([0]))}, spaces.Dict({"a": spaces.Discrete(2)}))
    np.testing.assert_array_equal(np.array(as_dict["a"]), [[1.0, 0.0]])
    with pytest.raises(AssertionError, match="Expected dict, got"):
        preprocessing.preprocess_obs(mx.zeros((1, 2)), spaces.Dict({"a": spaces.Discrete(2)}))


SHAPE_CASES = [
    spaces.Box(-1, 1, (2, 3)),
    spaces.Discrete(4),
    spaces.MultiDiscrete([2, 3, 4]),
    spaces.MultiBinary(5),
    spaces.MultiBinary([2, 3]),
    spaces.Dict({"a": spaces.Discrete(2), "b": spaces.Box(0, 1, (3,))}),
    spaces.Tuple([spaces.Discrete(2)]),
]


@pytest.mark.parametrize("space", SHAPE_CASES, ids=lambda space: type(space).__name__)
@pytest.mark.parametrize("name", ["get_obs_shape", "get_flattened_obs_dim", "get_action_dim"])
def test_shapes_same_as_sb3(sb3_preprocessing, name, space):
    ours = outcome(getattr(preprocessing, name), space)
    theirs = outcome(getattr(sb3_preprocessing, name), space)
    if theirs.error is not None:
        assert_same_failure(ours, theirs)
    else:
        assert_same_value(ours, theirs)


def test_shape_facts():
    assert preprocessing.get_obs_shape(spaces.Discrete(4)) == (1,)
    assert preprocessing.get_obs_shape(spaces.MultiDiscrete([2, 3, 4])) == (3,)
    assert preprocessing.get_flattened_obs_dim(spaces.MultiDiscrete([2, 3, 4])) == 9
    assert preprocessing.get_action_dim(spaces.Box(-1, 1, (2, 3))) == 6
    assert type(preprocessing.get_action_dim(spaces.Box(-1, 1, (2, 3)))) is int
    # SB3 asserts: catchable as AssertionError, and as ValueError.
    with pytest.raises(AssertionError, match="Multi-dimensional MultiBinary"):
        preprocessing.get_action_dim(spaces.MultiBinary([2, 3]))
    with pytest.raises(UsageError, match="You can flatten it instead"):
        preprocessing.get_action_dim(spaces.MultiBinary([2, 3]))
    with pytest.raises(NotImplementedError):
        preprocessing.get_obs_shape(spaces.Tuple([spaces.Discrete(2)]))


@pytest.mark.parametrize(
    "space",
    [
        spaces.Dict({"a": spaces.Dict({"b": spaces.Discrete(2)})}),
        spaces.Tuple([spaces.Tuple([spaces.Discrete(2)])]),
        spaces.Dict({"a": spaces.Discrete(2)}),
    ],
)
def test_check_for_nested_spaces_same_as_sb3(sb3_preprocessing, space):
    ours = outcome(preprocessing.check_for_nested_spaces, space)
    theirs = outcome(sb3_preprocessing.check_for_nested_spaces, space)
    if theirs.error is not None:
        assert_same_failure(ours, theirs)
    else:
        assert ours.error is None and ours.value is None


@pytest.mark.parametrize(
    "space", [FLOAT_HWC, FLOAT_CHW, UINT8_HWC, UINT8_CHW], ids=["float-hwc", "float-chw", "u8-hwc", "u8-chw"]
)
@pytest.mark.parametrize("batch", [None, 2])
@pytest.mark.parametrize("reverse", [False, True])
def test_is_vectorized_observation_with_images_same_as_sb3(space, batch, reverse):
    pytest.importorskip("stable_baselines3")
    from stable_baselines3.common.utils import is_vectorized_observation as sb3_is_vectorized_observation

    from mlx_baselines3.common.utils import is_vectorized_observation

    shape = space.shape[::-1] if reverse else space.shape
    observation = np.zeros(shape if batch is None else (batch, *shape), dtype=space.dtype)
    ours = outcome(is_vectorized_observation, observation, space)
    theirs = outcome(sb3_is_vectorized_observation, observation, space)
    if theirs.error is not None:
        assert_same_failure(ours, theirs, fragment_length=30)
    else:
        assert ours.value is theirs.value

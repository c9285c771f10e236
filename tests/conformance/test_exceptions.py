"""
API misuse: where SB3 2.9.2 raises AssertionError, we raise UsageError (a ValueError and an AssertionError) with SB3's
message in ours. Each case runs the same call on both libraries when SB3 is installed, and on ours alone otherwise.
"""

import importlib
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

from mlx_baselines3.common.exceptions import UsageError


def _lib(name: str, path: str = ""):
    return importlib.import_module(f"{name}.{path}" if path else name)


class _Env(gym.Env):
    def __init__(self, action_space: spaces.Space, observation_space: spaces.Space | None = None):
        self.action_space = action_space
        self.observation_space = observation_space or spaces.Box(-1, 1, (3,))

    def reset(self, seed=None, options=None):
        return self.observation_space.sample(), {}

    def step(self, action):
        return self.observation_space.sample(), 0.0, False, False, {}


DICT_SPACE = spaces.Dict({"a": spaces.Box(-1, 1, (2,)), "b": spaces.Discrete(3)})


def _vec(lib, make_env, n_envs=1):
    return _lib(lib, "common.vec_env").DummyVecEnv([make_env] * n_envs)


def _noise(lib):
    return _lib(lib, "common.noise").NormalActionNoise(np.zeros(1), np.ones(1))


# name -> (call on a library name, SB3's message: a fragment that ours must contain)
CASES = {
    "action space the algorithm does not support": (
        lambda lib: _lib(lib).DQN("MlpPolicy", "Pendulum-v1"),
        "The algorithm only supports (<class 'gymnasium.spaces.discrete.Discrete'>,) as action spaces but Box(",
    ),
    "negative clip_range_vf": (
        lambda lib: _lib(lib).PPO("MlpPolicy", "CartPole-v1", clip_range_vf=-0.1),
        "`clip_range_vf` must be positive, pass `None` to deactivate vf clipping",
    ),
    "batch_size of 1": (
        lambda lib: _lib(lib).PPO("MlpPolicy", "CartPole-v1", batch_size=1),
        "`batch_size` must be greater than 1. See https://github.com/DLR-RM/stable-baselines3/issues/440",
    ),
    "rollout of one step": (
        lambda lib: _lib(lib).PPO("MlpPolicy", "CartPole-v1", n_steps=1, batch_size=2),
        "`n_steps * n_envs` must be greater than 1. Currently n_steps=1 and n_envs=1",
    ),
    "multi-dimensional MultiBinary": (
        lambda lib: _lib(lib).PPO("MlpPolicy", _Env(spaces.MultiBinary([2, 3]))),
        "Multi-dimensional MultiBinary((2, 3)) action space is not supported. You can flatten it instead.",
    ),
    "squash_output without gSDE": (
        lambda lib: _lib(lib).PPO("MlpPolicy", "Pendulum-v1", policy_kwargs=dict(squash_output=True)),
        "squash_output=True is only available when using gSDE (use_sde=True)",
    ),
    "DictRolloutBuffer with a Box space": (
        lambda lib: _lib(lib, "common.buffers").DictRolloutBuffer(10, spaces.Box(-1, 1, (2,)), spaces.Discrete(2)),
        "DictRolloutBuffer must be used with Dict obs space only",
    ),
    "DictReplayBuffer with a Box space": (
        lambda lib: _lib(lib, "common.buffers").DictReplayBuffer(10, spaces.Box(-1, 1, (2,)), spaces.Discrete(2)),
        "DictReplayBuffer must be used with Dict obs space only",
    ),
    "DictReplayBuffer with optimize_memory_usage": (
        lambda lib: _lib(lib, "common.buffers").DictReplayBuffer(
            10, DICT_SPACE, spaces.Discrete(2), optimize_memory_usage=True
        ),
        "DictReplayBuffer does not support optimize_memory_usage",
    ),
    "n-step returns with Dict observations": (
        lambda lib: _lib(lib).SAC("MultiInputPolicy", _Env(spaces.Box(-1, 1, (1,)), DICT_SPACE), n_steps=3),
        "N-step returns are not supported for Dict observation spaces yet.",
    ),
    "negative initial entropy coefficient": (
        lambda lib: _lib(lib).SAC("MlpPolicy", "Pendulum-v1", ent_coef="auto_-1.0"),
        "The initial value of ent_coef must be greater than 0",
    ),
    "episodic training with several envs": (
        lambda lib: (
            _lib(lib).SAC("MlpPolicy", _vec(lib, lambda: gym.make("Pendulum-v1"), 2), train_freq=(1, "episode")).learn(10)
        ),
        "You must use only one env when doing episodic training.",
    ),
    "unbounded continuous actions": (
        lambda lib: _lib(lib).PPO("MlpPolicy", _Env(spaces.Box(-np.inf, np.inf, (1,)))),
        "Continuous action space must have a finite lower and upper bound",
    ),
    "net_arch without pi": (
        lambda lib: _lib(lib).SAC("MlpPolicy", "Pendulum-v1", policy_kwargs=dict(net_arch=dict(qf=[8]))),
        "Error: no key 'pi' was provided in net_arch for the actor network",
    ),
    "net_arch without qf": (
        lambda lib: _lib(lib).SAC("MlpPolicy", "Pendulum-v1", policy_kwargs=dict(net_arch=dict(pi=[8]))),
        "Error: no key 'qf' was provided in net_arch for the critic network",
    ),
    "reset_noise without gSDE": (
        lambda lib: _lib(lib).PPO("MlpPolicy", "Pendulum-v1").policy.reset_noise(),
        "reset_noise() is only available when using gSDE",
    ),
    "scale_action with a Discrete space": (
        lambda lib: _lib(lib).PPO("MlpPolicy", "CartPole-v1").policy.scale_action(np.zeros(1)),
        "Trying to scale an action using an action space that is not a Box(): Discrete(2)",
    ),
    "unscale_action with a Discrete space": (
        lambda lib: _lib(lib).PPO("MlpPolicy", "CartPole-v1").policy.unscale_action(np.zeros(1)),
        "Trying to unscale an action using an action space that is not a Box(): Discrete(2)",
    ),
    "NatureCNN on a non-image Box": (
        lambda lib: _lib(lib, "common.torch_layers").NatureCNN(spaces.Box(0, 255, (3,), np.uint8)),
        "You should use NatureCNN only with images not with Box(0, 255, (3,), uint8)",
    ),
    "get_action_dim of a multi-dimensional MultiBinary": (
        lambda lib: _lib(lib, "common.preprocessing").get_action_dim(spaces.MultiBinary([2, 2])),
        "Multi-dimensional MultiBinary((2, 2)) action space is not supported",
    ),
    "schedule that is neither a number nor callable": (
        lambda lib: _lib(lib, "common.utils").FloatSchedule("abc"),
        "The learning rate schedule must be a float or a callable, not abc",
    ),
    "check_shape_equal on different shapes": (
        lambda lib: _lib(lib, "common.utils").check_shape_equal(spaces.Box(-1, 1, (2,)), spaces.Box(-1, 1, (3,))),
        "spaces must have the same shape: (2,) != (3,)",
    ),
    "VectorizedActionNoise given too few noises": (
        lambda lib: setattr(_lib(lib, "common.noise").VectorizedActionNoise(_noise(lib), 2), "noises", [_noise(lib)]),
        "Expected a list of 2 ActionNoises, found 1.",
    ),
    "VecExtractDictObs on a Box space": (
        lambda lib: _lib(lib, "common.vec_env").VecExtractDictObs(_vec(lib, lambda: gym.make("CartPole-v1")), "a"),
        "VecExtractDictObs can only be used with Dict obs space, not Box(",
    ),
    "VecFrameStack on a Discrete space": (
        lambda lib: _lib(lib, "common.vec_env").VecFrameStack(
            _vec(lib, lambda: _Env(spaces.Discrete(2), spaces.Discrete(3))), 2
        ),
        "VecFrameStack only works with gym.spaces.Box and gym.spaces.Dict observation spaces",
    ),
    "VecFrameStack with an unknown channels_order": (
        lambda lib: _lib(lib, "common.vec_env").VecFrameStack(
            _vec(lib, lambda: gym.make("CartPole-v1")), 2, channels_order="middle"
        ),
        "`channels_order` must be one of following: 'last', 'first'",
    ),
    "VecTransposeImage on a vector space": (
        lambda lib: _lib(lib, "common.vec_env").VecTransposeImage(_vec(lib, lambda: gym.make("CartPole-v1"))),
        "The observation space must be an image or dictionary observation space",
    ),
    "transpose_space of a vector space": (
        lambda lib: _lib(lib, "common.vec_env").VecTransposeImage.transpose_space(spaces.Box(-1, 1, (3,))),
        "The observation space must be an image",
    ),
    "transpose_space of a channel-first image": (
        lambda lib: _lib(lib, "common.vec_env").VecTransposeImage.transpose_space(spaces.Box(0, 255, (3, 32, 32), np.uint8)),
        "must follow the channel last convention",
    ),
    "sync_envs_normalization with a plain eval env": (
        lambda lib: _lib(lib, "common.vec_env").sync_envs_normalization(
            _lib(lib, "common.vec_env").VecNormalize(_vec(lib, lambda: gym.make("CartPole-v1"))),
            _vec(lib, lambda: gym.make("CartPole-v1")),
        ),
        "Error while synchronizing normalization stats: expected the eval env to be a VecEnvWrapper but got",
    ),
    "dict_to_obs with the wrong number of entries": (
        lambda lib: _lib(lib, "common.vec_env.util").dict_to_obs(spaces.Tuple([spaces.Discrete(2)] * 2), {0: 1}),
        "size of observation does not match size of observation space",
    ),
    "check_env on an object that is not an Env": (
        lambda lib: _lib(lib, "common.env_checker").check_env(object()),
        "Your environment must inherit from the gymnasium.Env class",
    ),
}


def _raised(call, lib: str) -> BaseException | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            call(lib)
        except Exception as e:
            return e
    return None


@pytest.mark.parametrize("case", list(CASES))
def test_usage_error_where_sb3_asserts(case):
    call, sb3_message = CASES[case]
    ours = _raised(call, "mlx_baselines3")
    assert isinstance(ours, UsageError), repr(ours)
    assert isinstance(ours, AssertionError) and isinstance(ours, ValueError)
    assert sb3_message in str(ours)
    try:
        importlib.import_module("stable_baselines3")
    except ImportError:
        return
    theirs = _raised(call, "stable_baselines3")
    assert type(theirs) is AssertionError, repr(theirs)
    assert sb3_message in str(theirs)


def test_subproc_illegal_start_method_keeps_multiprocessing_text():
    # SB3 lets multiprocessing's ValueError through; ours says more but keeps its text.
    from mlx_baselines3.common.vec_env import SubprocVecEnv

    with pytest.raises(ValueError, match="cannot find context for 'illegal'"):
        SubprocVecEnv([lambda: gym.make("CartPole-v1")], start_method="illegal")


def test_usage_error_is_caught_by_sb3_style_code():
    # What the RL Zoo and user code written for SB3 do.
    try:
        _lib("mlx_baselines3").PPO("MlpPolicy", "CartPole-v1", clip_range_vf=-1.0)
    except AssertionError as e:
        assert "clip_range_vf" in str(e)
    else:
        pytest.fail("no AssertionError")

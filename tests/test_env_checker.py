"""check_env: API violations raise, unsupported or risky choices warn; results and messages match SB3's check_env."""

import re
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

from mlx_baselines3.common.env_checker import check_env
from mlx_baselines3.common.envs import (
    BitFlippingEnv,
    FakeImageEnv,
    IdentityEnv,
    IdentityEnvBox,
    IdentityEnvMultiBinary,
    IdentityEnvMultiDiscrete,
    SimpleMultiObsEnv,
)


class ConfigurableEnv(gym.Env):
    """
    A valid env by default; each keyword replaces one piece to make it invalid or unusual. ``obs`` and
    ``step_obs`` may be callables (called at each reset/step) or fixed values.
    """

    metadata = {"render_modes": ["rgb_array"]}

    def __init__(
        self,
        observation_space=None,
        action_space=None,
        obs=None,
        step_obs=None,
        reward=0.0,
        terminated=False,
        truncated=False,
        info=None,
        reset_returns=None,
        step_returns=None,
    ):
        self.observation_space = observation_space or spaces.Box(-1, 1, (3,), np.float32)
        self.action_space = action_space or spaces.Box(-1, 1, (2,), np.float32)
        self.obs = obs
        self.step_obs = step_obs if step_obs is not None else obs
        self.reward, self.terminated, self.truncated = reward, terminated, truncated
        self.info = {} if info is None else info
        self.reset_returns, self.step_returns = reset_returns, step_returns
        self.render_calls = 0

    def _make_obs(self, obs):
        if obs is None:
            return self.observation_space.sample()
        return obs() if callable(obs) else obs

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        if seed is not None:
            self.observation_space.seed(seed)
        if self.reset_returns is not None:
            return self.reset_returns
        return self._make_obs(self.obs), {}

    def step(self, action):
        if self.step_returns is not None:
            return self.step_returns
        return self._make_obs(self.step_obs), self.reward, self.terminated, self.truncated, self.info

    def render(self):
        self.render_calls += 1
        return np.zeros((2, 2, 3), np.uint8)


class GoalEnv(gym.Env):
    """A goal-conditioned env; the keywords break one convention each."""

    def __init__(self, keys=("observation", "achieved_goal", "desired_goal"), vectorized=True, honest_reward=True):
        self.observation_space = spaces.Dict({key: spaces.MultiBinary(3) for key in keys})
        self.action_space = spaces.Discrete(3)
        self.vectorized, self.honest_reward = vectorized, honest_reward

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return {key: np.zeros(3, np.int8) for key in self.observation_space.spaces}, {}

    def step(self, action):
        obs = {key: np.zeros(3, np.int8) for key in self.observation_space.spaces}
        reward = float(self.compute_reward(obs["achieved_goal"], obs["desired_goal"], {})[0])
        return obs, reward + (0.0 if self.honest_reward else 1.0), False, False, {}

    def compute_reward(self, achieved_goal, desired_goal, info):
        distance = np.abs(np.asarray(achieved_goal) - np.asarray(desired_goal)).reshape(-1, 3).sum(axis=-1)
        rewards = -(distance > 0).astype(np.float32)
        return rewards if self.vectorized else rewards[:1]


class NoSeedResetEnv(ConfigurableEnv):
    def reset(self):  # type: ignore[override]
        return self.observation_space.sample(), {}


class NotAnEnv:
    observation_space = spaces.Discrete(2)
    action_space = spaces.Discrete(2)


def _run(check, env_factory, **kwargs):
    """Run a check_env and return (exception type, message or None, warning messages)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            check(env_factory(), **kwargs)
            error = (None, None)
        except (AssertionError, TypeError) as e:
            # Ours raises UsageError (an AssertionError subclass) where SB3 raises AssertionError for API misuse.
            error = (AssertionError if isinstance(e, AssertionError) else type(e), str(e))
    return (*error, [str(w.message) for w in caught])


def _check(env_factory, **kwargs):
    return _run(check_env, env_factory, **kwargs)


@pytest.mark.parametrize(
    "env_factory",
    [
        lambda: IdentityEnv(dim=3),
        lambda: IdentityEnvBox(),
        lambda: IdentityEnvMultiDiscrete(dim=3),
        lambda: IdentityEnvMultiBinary(dim=3),
        lambda: FakeImageEnv(),
        lambda: FakeImageEnv(channel_first=True, discrete=False),
        lambda: BitFlippingEnv(n_bits=4),
        lambda: BitFlippingEnv(n_bits=4, continuous=True, discrete_obs_space=True),
        lambda: BitFlippingEnv(n_bits=4, image_obs_space=True),
        lambda: SimpleMultiObsEnv(),
        lambda: gym.make("CartPole-v1"),
        lambda: ConfigurableEnv(),
    ],
)
def test_valid_envs_pass_without_warnings(env_factory):
    assert _check(env_factory) == (None, None, [])


def test_goal_env_is_announced(capsys):
    check_env(BitFlippingEnv(n_bits=3))
    assert "We detected your env to be a GoalEnv" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("env_factory", "error", "message"),
    [
        (NotAnEnv, AssertionError, "must inherit from the gymnasium.Env class"),
        (lambda: ConfigurableEnv(observation_space="box"), AssertionError, "observation space must inherit"),
        (lambda: ConfigurableEnv(action_space=[0, 1]), AssertionError, "action space must inherit"),
        (NoSeedResetEnv, TypeError, "must accept a `seed` parameter"),
        (lambda: ConfigurableEnv(reset_returns=np.zeros(3, np.float32)), AssertionError, r"must return a tuple \(obs, info\)"),
        (lambda: ConfigurableEnv(reset_returns=(np.zeros(3, np.float32), {}, 1)), AssertionError, "size 2 .* not 3"),
        (lambda: ConfigurableEnv(reset_returns=(np.zeros(3, np.float32), None)), AssertionError, "must be a dictionary not"),
        (
            lambda: ConfigurableEnv(step_returns=(np.zeros(3, np.float32), 0.0, False, {})),
            AssertionError,
            "must return five values.*Actual: 4",
        ),
        (lambda: ConfigurableEnv(obs=[0.0, 0.0, 0.0]), AssertionError, r"`reset\(\)` method must be a numpy array"),
        (lambda: ConfigurableEnv(obs=np.zeros(4, np.float32)), AssertionError, r"Expected: \(3,\), actual shape: \(4,\)"),
        (lambda: ConfigurableEnv(obs=np.zeros(3)), AssertionError, "cannot cast.*Expected: float32, actual dtype: float64"),
        (lambda: ConfigurableEnv(obs=(np.zeros(3, np.float32),)), AssertionError, "single value, not a tuple"),
        (
            lambda: ConfigurableEnv(observation_space=spaces.Discrete(3), obs=1.0),
            AssertionError,
            r"`reset\(\)` method must be an int",
        ),
        (
            lambda: ConfigurableEnv(observation_space=spaces.Discrete(3), obs=5),
            AssertionError,
            "does not match the given observation space Discrete",
        ),
        (lambda: ConfigurableEnv(reward=np.float32(1.0)), AssertionError, r"reward returned by `step\(\)` must be a float"),
        (lambda: ConfigurableEnv(terminated=np.bool_(False)), AssertionError, "`terminated` signal must be a boolean"),
        (lambda: ConfigurableEnv(truncated=0), AssertionError, "`truncated` signal must be a boolean"),
        (lambda: ConfigurableEnv(info=[]), AssertionError, r"`info` returned by `step\(\)` must be a python dictionary"),
        (
            lambda: ConfigurableEnv(action_space=spaces.Box(-np.inf, np.inf, (2,), np.float32)),
            AssertionError,
            "finite lower and upper bound",
        ),
    ],
)
def test_api_violations_raise(env_factory, error, message):
    raised, text, _ = _check(env_factory)
    assert raised is error
    assert re.search(message, text), text


def test_step_observation_is_checked_too():
    env = ConfigurableEnv(step_obs=np.zeros(2, np.float32))
    with pytest.raises(AssertionError, match=r"`step\(\)` method does not match the shape"):
        check_env(env)


def test_out_of_bounds_observation_lists_every_bad_element():
    space = spaces.Box(low=np.array([[0.0, 0.0], [0.0, 0.0]], np.float32), high=1.0, dtype=np.float32)
    env = ConfigurableEnv(observation_space=space, obs=np.array([[0.5, 2.0], [-1.0, 0.5]], np.float32))
    with pytest.raises(AssertionError) as info:
        check_env(env, warn=False)
    lines = str(info.value).split("\n")
    assert lines[0].startswith("The observation returned by the `reset()` method does not match the bounds")
    assert lines[1:] == [
        "2 invalid indices: ",
        "Expected: 0.0 <= obs[0,1] <= 1.0, actual value: 2.0 ",
        "Expected: 0.0 <= obs[1,0] <= 1.0, actual value: -1.0 ",
        "",
    ]


def test_dict_observations_are_checked_key_by_key():
    space = spaces.Dict({"a": spaces.Box(0, 1, (2,), np.float32), "b": spaces.Discrete(3)})
    with pytest.raises(AssertionError, match=r"must match the observation space keys"):
        check_env(ConfigurableEnv(observation_space=space, obs={"a": np.zeros(2, np.float32)}))
    with pytest.raises(
        AssertionError, match=r"Error while checking key=b: The observation returned by `reset\(\)` method must be an int"
    ):
        check_env(ConfigurableEnv(observation_space=space, obs={"a": np.zeros(2, np.float32), "b": 0.5}))
    with pytest.raises(AssertionError, match=r"`reset\(\)` must be a dictionary"):
        check_env(ConfigurableEnv(observation_space=space, obs=np.zeros(2, np.float32)))


@pytest.mark.parametrize(
    ("env_factory", "message"),
    [
        (lambda: GoalEnv(keys=("achieved_goal", "desired_goal")), "must contain at least 3 observation keys"),
        (lambda: GoalEnv(keys=("observation", "achieved_goal", "goal")), "requires the 'desired_goal' key"),
        (lambda: GoalEnv(honest_reward=False), r"reward was not computed with `compute_reward\(\)`"),
        (lambda: GoalEnv(vectorized=False), r"Unexpected shape for vectorized computation of reward: \(1,\) != \(2,\)"),
    ],
)
def test_goal_env_conventions(env_factory, message):
    with pytest.raises(AssertionError, match=message):
        check_env(env_factory())


def test_goal_env_needs_a_dict_observation_space():
    env = ConfigurableEnv()
    env.unwrapped.compute_reward = lambda achieved, desired, info: 0.0
    with pytest.raises(AssertionError, match=r"require the observation space to be gymnasium\.spaces\.Dict"):
        check_env(env)


IMAGE = spaces.Box(0, 255, (40, 40, 3), np.uint8)


@pytest.mark.parametrize(
    ("env_factory", "expected"),
    [
        (lambda: ConfigurableEnv(action_space=spaces.Box(-2, 2, (2,), np.float32)), ["symmetric and normalized"]),
        (lambda: ConfigurableEnv(action_space=spaces.Box(0, 1, (2,), np.float32)), ["symmetric and normalized"]),
        (lambda: ConfigurableEnv(action_space=spaces.Box(-1, 1, (2,), np.float64)), ["dtype float64"]),
        (lambda: ConfigurableEnv(observation_space=spaces.Box(0, 1, (3, 3), np.float32)), ["unconventional shape"]),
        (lambda: ConfigurableEnv(observation_space=spaces.Box(0, 255, (40, 40, 3), np.float32)), ["has to be `np.uint8`"]),
        (lambda: ConfigurableEnv(observation_space=spaces.Box(0, 1, (40, 40, 3), np.uint8)), ["not in [0, 255]"]),
        (lambda: ConfigurableEnv(observation_space=spaces.Box(0, 255, (20, 40, 3), np.uint8)), ["minimal resolution"]),
        (lambda: ConfigurableEnv(observation_space=spaces.Box(0, 255, (1, 40, 20), np.uint8)), ["minimal resolution"]),
        (
            lambda: ConfigurableEnv(observation_space=spaces.Discrete(3, start=1)),
            ["Discrete observation space  with a non-zero"],
        ),
        (lambda: ConfigurableEnv(action_space=spaces.MultiDiscrete([2, 3], start=[1, 0])), ["MultiDiscrete action space"]),
        (
            lambda: ConfigurableEnv(observation_space=spaces.Dict({"pos": spaces.Discrete(3, start=-1), "img": IMAGE})),
            ["observation space (key='pos') with a non-zero start (start=-1)"],
        ),
        (
            lambda: ConfigurableEnv(observation_space=spaces.Dict({"img": spaces.Box(0, 255, (40, 40, 3), np.float32)})),
            ["observation img is an image"],
        ),
        (lambda: ConfigurableEnv(observation_space=spaces.MultiDiscrete([[2, 2], [2, 2]])), ["multidimensional array"]),
        (lambda: ConfigurableEnv(action_space=spaces.MultiDiscrete([[2, 2], [2, 2]])), ["multidimensional array"]),
        (
            lambda: ConfigurableEnv(observation_space=spaces.Tuple([spaces.Discrete(2), spaces.Discrete(3)])),
            ["observation space is a Tuple"],
        ),
        (
            lambda: ConfigurableEnv(observation_space=spaces.Dict({"a": spaces.Dict({"b": spaces.Discrete(2)})})),
            ["Nested observation spaces"],
        ),
        (lambda: ConfigurableEnv(action_space=spaces.Dict({"a": spaces.Discrete(2)})), ["not based off a numpy array"]),
        (lambda: ConfigurableEnv(reward=float("nan")), ["found nan in rewards"]),
    ],
)
def test_warnings(env_factory, expected):
    error, _, messages = _check(env_factory)
    assert error is None
    # Leave out gymnasium's own warnings (e.g. about multi-dimensional MultiDiscrete spaces).
    messages = [message for message in messages if "WARN:" not in message]
    assert len(messages) == len(expected)
    for message, fragment in zip(messages, expected, strict=True):
        assert fragment in message, message


@pytest.mark.parametrize(
    ("space", "name"),
    [
        (spaces.Sequence(spaces.Discrete(2)), "Sequence"),
        (spaces.Dict({"seq": spaces.Sequence(spaces.Discrete(2))}), "Sequence"),
        (spaces.Tuple([spaces.Graph(spaces.Discrete(2), None)]), "Graph"),
        (spaces.OneOf([spaces.Discrete(2), spaces.Discrete(3)]), "OneOf"),
    ],
)
def test_unsupported_observation_spaces_skip_the_value_checks(space, name):
    # The observation returned is wrong on purpose: it is not looked at.
    error, _, messages = _check(lambda: ConfigurableEnv(observation_space=space, obs="anything"))
    assert error is None
    assert any(f"{name} observation space is not supported" in message for message in messages)
    assert any("checks for returned values are skipped" in message for message in messages)


def test_warn_false_is_silent_and_skips_space_checks():
    assert _check(lambda: ConfigurableEnv(action_space=spaces.Box(-np.inf, np.inf, (2,))), warn=False) == (None, None, [])
    assert _check(lambda: ConfigurableEnv(observation_space=spaces.Box(0, 1, (40, 40, 3), np.float32)), warn=False)[2] == []


def test_render_check():
    env = ConfigurableEnv()
    env.render_mode = "rgb_array"
    check_env(env, skip_render_check=False)
    assert env.render_calls == 1
    check_env(env)
    assert env.render_calls == 1
    env = ConfigurableEnv()
    env.metadata = {}
    with pytest.warns(UserWarning, match="No render modes was declared"):
        check_env(env, skip_render_check=False)
    assert env.render_calls == 0


PARITY_CASES = [
    lambda: IdentityEnv(dim=3),
    lambda: BitFlippingEnv(n_bits=4, discrete_obs_space=True),
    lambda: BitFlippingEnv(n_bits=4, image_obs_space=True, channel_first=False),
    NotAnEnv,
    NoSeedResetEnv,
    lambda: ConfigurableEnv(reset_returns=(np.zeros(3, np.float32), {}, 1)),
    lambda: ConfigurableEnv(step_returns=(np.zeros(3, np.float32), 0.0, False, {})),
    lambda: ConfigurableEnv(obs=np.zeros(3)),
    lambda: ConfigurableEnv(obs=np.full(3, 3.0, np.float32)),
    lambda: ConfigurableEnv(reward=np.float32(1.0)),
    lambda: ConfigurableEnv(observation_space=spaces.Discrete(3), obs=1.5),
    lambda: ConfigurableEnv(observation_space=spaces.Box(0, 255, (1, 40, 20), np.uint8)),
    lambda: ConfigurableEnv(observation_space=spaces.Box(0, 1, (30, 20, 3), np.float32)),
    lambda: ConfigurableEnv(observation_space=spaces.Dict({"pos": spaces.Discrete(3, start=-1), "img": IMAGE})),
    lambda: ConfigurableEnv(observation_space=spaces.Dict({"a": spaces.Box(0, 1, (2,)), "b": spaces.Discrete(3)}), obs={}),
    lambda: ConfigurableEnv(observation_space=spaces.Tuple([spaces.Sequence(spaces.Discrete(2))])),
    lambda: ConfigurableEnv(observation_space=spaces.MultiDiscrete([[2, 2], [2, 2]])),
    lambda: ConfigurableEnv(action_space=spaces.Box(-3, 1, (2,), np.float64)),
    lambda: ConfigurableEnv(action_space=spaces.Tuple([spaces.Discrete(2)])),
    lambda: ConfigurableEnv(obs=np.array([np.inf, 0, 0], np.float32)),
    lambda: GoalEnv(vectorized=False),
    lambda: GoalEnv(keys=("observation", "achieved_goal", "goal")),
]


@pytest.mark.parametrize("case", range(len(PARITY_CASES)))
def test_same_outcome_as_sb3(case):
    sb3_env_checker = pytest.importorskip("stable_baselines3.common.env_checker")
    ours = _run(check_env, PARITY_CASES[case])
    theirs = _run(sb3_env_checker.check_env, PARITY_CASES[case])
    assert ours == theirs

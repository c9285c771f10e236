"""RunningMeanStd and VecNormalize: statistics against NumPy, normalization maths, Dict keys, save/load, SB3 parity."""

import pickle

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

from mlx_baselines3.common.exceptions import LoadError
from mlx_baselines3.common.running_mean_std import RunningMeanStd
from mlx_baselines3.common.vec_env import (
    DummyVecEnv,
    VecFrameStack,
    VecNormalize,
    sync_envs_normalization,
)


class GaussianEnv(gym.Env):
    """Observations ~ N(offset, scale**2) per dimension from the seeded generator; reward = first obs entry."""

    def __init__(self, ep_len=5):
        self.observation_space = spaces.Box(-np.inf, np.inf, (3,), np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, (1,), np.float32)
        self.ep_len = ep_len
        self.t = 0

    def _obs(self):
        return (np.array([5.0, -2.0, 0.0]) + np.array([3.0, 0.5, 0.01]) * self.np_random.normal(size=3)).astype(np.float32)

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._obs(), {}

    def step(self, action):
        self.t += 1
        obs = self._obs()
        return obs, float(obs[0]), self.t == self.ep_len, False, {}


class DictEnv(gym.Env):
    """Dict observations: a Gaussian vector, an image and a discrete entry."""

    def __init__(self):
        self.observation_space = spaces.Dict(
            {
                "vec": spaces.Box(-np.inf, np.inf, (2,), np.float32),
                "img": spaces.Box(0, 255, (6, 6, 1), np.uint8),
                "disc": spaces.Discrete(3),
            }
        )
        self.action_space = spaces.Discrete(2)

    def _obs(self):
        return {
            "vec": self.np_random.normal(3.0, 2.0, size=2).astype(np.float32),
            "img": self.np_random.integers(0, 256, size=(6, 6, 1), dtype=np.uint8),
            "disc": int(self.np_random.integers(3)),
        }

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        return self._obs(), {}

    def step(self, action):
        return self._obs(), 1.0, False, False, {}


def expected_moments(groups):
    """Mean and variance of a union of groups, each given as (weight, mean, variance)."""
    total = sum(weight for weight, _, _ in groups)
    mean = sum(weight * np.asarray(m) for weight, m, _ in groups) / total
    m2 = sum(weight * (np.asarray(v) + (np.asarray(m) - mean) ** 2) for weight, m, v in groups)
    return mean, m2 / total


def test_running_mean_std_matches_numpy():
    rng = np.random.default_rng(0)
    batches = [rng.normal(3.0, 2.0, size=(n, 4)) for n in (1, 7, 50, 3)]
    rms = RunningMeanStd(shape=(4,))
    for batch in batches:
        rms.update(batch)
    data = np.concatenate(batches)
    # The initial statistics act as a pseudo-sample of weight epsilon with mean 0 and variance 1.
    mean, var = expected_moments([(1e-4, np.zeros(4), np.ones(4)), (len(data), data.mean(0), data.var(0))])
    np.testing.assert_allclose(rms.mean, mean, rtol=1e-12)
    np.testing.assert_allclose(rms.var, var, rtol=1e-12)
    assert rms.count == pytest.approx(len(data) + 1e-4)
    np.testing.assert_allclose(rms.mean, data.mean(0), rtol=1e-4)
    np.testing.assert_allclose(rms.var, data.var(0), rtol=1e-4)
    assert rms.mean.dtype == np.float64 and rms.var.dtype == np.float64


def test_running_mean_std_combine_and_copy():
    rng = np.random.default_rng(1)
    first, second = rng.normal(size=(20, 2)), rng.normal(5.0, 3.0, size=(30, 2))
    rms_a, rms_b = RunningMeanStd(shape=(2,)), RunningMeanStd(shape=(2,))
    rms_a.update(first)
    rms_b.update(second)
    snapshot = rms_a.copy()
    rms_a.combine(rms_b)
    prior = (1e-4, np.zeros(2), np.ones(2))
    mean, var = expected_moments([prior, prior, (20, first.mean(0), first.var(0)), (30, second.mean(0), second.var(0))])
    np.testing.assert_allclose(rms_a.mean, mean, rtol=1e-12)
    np.testing.assert_allclose(rms_a.var, var, rtol=1e-12)
    assert rms_a.count == pytest.approx(50 + 2e-4)
    # The copy kept the statistics from before the merge and shares no array.
    np.testing.assert_allclose(snapshot.mean, expected_moments([prior, (20, first.mean(0), first.var(0))])[0])
    assert snapshot.count == pytest.approx(20 + 1e-4)
    snapshot.mean[0] = 123.0
    assert rms_a.mean[0] != 123.0


def make_env(n_envs=2, ep_len=5):
    return DummyVecEnv([lambda: GaussianEnv(ep_len) for _ in range(n_envs)])


def test_vec_normalize_statistics_and_outputs():
    gamma, epsilon = 0.9, 1e-8
    venv = VecNormalize(make_env(), gamma=gamma, epsilon=epsilon, clip_obs=100.0, clip_reward=100.0)
    raw_env = make_env()
    venv.seed(0)
    raw_env.seed(0)
    obs_rms, ret_rms = RunningMeanStd(shape=(3,)), RunningMeanStd(shape=())
    returns = np.zeros(2)

    raw = raw_env.reset()
    obs_rms.update(raw)
    obs = venv.reset()
    np.testing.assert_array_equal(venv.get_original_obs(), raw)
    np.testing.assert_allclose(obs, (raw - obs_rms.mean) / np.sqrt(obs_rms.var + epsilon), rtol=1e-5)
    n_dones = 0
    for _ in range(12):
        actions = np.zeros((2, 1), dtype=np.float32)
        raw, raw_rewards, dones, raw_infos = raw_env.step(actions)
        obs, rewards, venv_dones, infos = venv.step(actions)
        obs_rms.update(raw)
        returns = returns * gamma + raw_rewards
        ret_rms.update(returns)
        np.testing.assert_array_equal(venv_dones, dones)
        np.testing.assert_array_equal(venv.get_original_obs(), raw)
        np.testing.assert_array_equal(venv.get_original_reward(), raw_rewards)
        assert obs.dtype == np.float32 and rewards.dtype == np.float32
        np.testing.assert_allclose(obs, (raw - obs_rms.mean) / np.sqrt(obs_rms.var + epsilon), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(rewards, raw_rewards / np.sqrt(ret_rms.var + epsilon), rtol=1e-5)
        for idx in np.flatnonzero(dones):
            n_dones += 1
            expected_terminal = (raw_infos[idx]["terminal_observation"] - obs_rms.mean) / np.sqrt(obs_rms.var + epsilon)
            np.testing.assert_allclose(infos[idx]["terminal_observation"], expected_terminal, rtol=1e-5, atol=1e-6)
        # The discounted return restarts with each episode.
        returns[dones] = 0
        np.testing.assert_allclose(venv.returns, returns)
        np.testing.assert_allclose(venv.obs_rms.mean, obs_rms.mean, rtol=1e-12)
        np.testing.assert_allclose(venv.obs_rms.var, obs_rms.var, rtol=1e-12)
        np.testing.assert_allclose(venv.ret_rms.var, ret_rms.var, rtol=1e-12)
    assert n_dones == 4


def test_vec_normalize_clipping_and_inverse():
    venv = VecNormalize(make_env(), clip_obs=0.5, clip_reward=0.1)
    venv.reset()
    obs, rewards, _, _ = venv.step(np.zeros((2, 1), dtype=np.float32))
    assert np.abs(obs).max() <= 0.5 and np.abs(rewards).max() <= 0.1
    assert np.isclose(np.abs(obs).max(), 0.5) and np.isclose(np.abs(rewards).max(), 0.1)

    wide = VecNormalize(make_env(), clip_obs=1e6, clip_reward=1e6)
    wide.reset()
    for _ in range(5):
        obs, rewards, _, _ = wide.step(np.zeros((2, 1), dtype=np.float32))
    np.testing.assert_allclose(wide.unnormalize_obs(obs), wide.get_original_obs(), rtol=1e-5)
    np.testing.assert_allclose(wide.unnormalize_reward(rewards), wide.get_original_reward(), rtol=1e-5)
    # normalize_obs does not modify its input nor the statistics.
    raw = wide.get_original_obs()
    before = wide.obs_rms.mean.copy()
    np.testing.assert_allclose(wide.normalize_obs(raw), obs, rtol=1e-6)
    np.testing.assert_array_equal(raw, wide.get_original_obs())
    np.testing.assert_array_equal(before, wide.obs_rms.mean)


def test_training_false_freezes_statistics_and_norm_flags():
    venv = VecNormalize(make_env())
    venv.reset()
    for _ in range(3):
        venv.step(np.zeros((2, 1), dtype=np.float32))
    venv.training = False
    mean, var, ret_var = venv.obs_rms.mean.copy(), venv.obs_rms.var.copy(), venv.ret_rms.var
    venv.reset()
    for _ in range(3):
        venv.step(np.zeros((2, 1), dtype=np.float32))
    np.testing.assert_array_equal(venv.obs_rms.mean, mean)
    np.testing.assert_array_equal(venv.obs_rms.var, var)
    assert venv.ret_rms.var == ret_var

    raw_rewards_env = VecNormalize(make_env(), norm_obs=False, norm_reward=False)
    assert not hasattr(raw_rewards_env, "obs_rms")
    obs = raw_rewards_env.reset()
    np.testing.assert_array_equal(obs, raw_rewards_env.get_original_obs())
    _, rewards, _, _ = raw_rewards_env.step(np.zeros((2, 1), dtype=np.float32))
    np.testing.assert_array_equal(rewards, raw_rewards_env.get_original_reward().astype(np.float32))


def test_dict_observations_and_norm_obs_keys():
    base = DummyVecEnv([DictEnv, DictEnv])
    with pytest.raises(ValueError, match="disc"):
        VecNormalize(base)
    with pytest.raises(ValueError, match=r"norm_obs_keys \['nope'\] are not keys"):
        VecNormalize(base, norm_obs_keys=["nope"])
    with pytest.raises(ValueError, match=r"only with `gym\.spaces\.Dict`"):
        VecNormalize(make_env(), norm_obs_keys=["vec"])
    with pytest.raises(ValueError, match=r"only supports `gym\.spaces\.Box` and `gym\.spaces\.Dict`"):
        VecNormalize(DummyVecEnv([lambda: gym.make("FrozenLake-v1")]))

    venv = VecNormalize(base, norm_obs_keys=["vec", "img"])
    assert set(venv.obs_rms) == {"vec", "img"}
    # Normalized images are no longer uint8 images; the wrapped env's space is unchanged.
    assert venv.observation_space["img"] == spaces.Box(-10.0, 10.0, (6, 6, 1), np.float32)
    assert base.observation_space["img"].dtype == np.uint8
    venv.seed(4)
    obs = venv.reset()
    for _ in range(4):
        obs, _, _, _ = venv.step(np.array([0, 0]))
    raw = venv.get_original_obs()
    np.testing.assert_array_equal(obs["disc"], raw["disc"])
    assert obs["img"].dtype == np.float32 and obs["vec"].dtype == np.float32
    for key in ("vec", "img"):
        rms = venv.obs_rms[key]
        expected = np.clip((raw[key] - rms.mean) / np.sqrt(rms.var + 1e-8), -10, 10)
        np.testing.assert_allclose(obs[key], expected, rtol=1e-5, atol=1e-6)
    # 5 batches of 2 envs: the statistics saw 10 observations per key.
    assert venv.obs_rms["vec"].count == pytest.approx(10 + 1e-4)
    assert venv.obs_rms["img"].mean.shape == (6, 6, 1)


def test_save_load_round_trip(tmp_path):
    venv = VecNormalize(make_env(), gamma=0.95, clip_obs=7.0, clip_reward=3.0)
    venv.reset()
    for _ in range(6):
        venv.step(np.zeros((2, 1), dtype=np.float32))
    path = tmp_path / "vec_normalize.pkl"
    venv.save(str(path))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".vecnormalize-")]  # no temp file left behind

    loaded = VecNormalize.load(str(path), make_env())
    np.testing.assert_array_equal(loaded.obs_rms.mean, venv.obs_rms.mean)
    np.testing.assert_array_equal(loaded.obs_rms.var, venv.obs_rms.var)
    assert loaded.obs_rms.count == venv.obs_rms.count and loaded.ret_rms.var == venv.ret_rms.var
    assert (loaded.gamma, loaded.clip_obs, loaded.clip_reward, loaded.training) == (0.95, 7.0, 3.0, True)
    np.testing.assert_array_equal(loaded.returns, np.zeros(2))
    raw = venv.get_original_obs()
    np.testing.assert_array_equal(loaded.normalize_obs(raw), venv.normalize_obs(raw))
    # The loaded wrapper works and keeps learning from where the saved one was.
    loaded.reset()
    loaded.step(np.zeros((2, 1), dtype=np.float32))
    assert loaded.obs_rms.count == pytest.approx(venv.obs_rms.count + 4)

    with pytest.raises(ValueError, match="already initialized"):
        loaded.set_venv(make_env())
    with pytest.raises(AssertionError, match="same shape"):
        VecNormalize.load(str(path), DummyVecEnv([lambda: gym.make("MountainCarContinuous-v0")]))


def test_dict_save_load(tmp_path):
    venv = VecNormalize(DummyVecEnv([DictEnv]), norm_obs_keys=["vec"])
    venv.reset()
    venv.save(str(tmp_path / "dict.pkl"))
    loaded = VecNormalize.load(str(tmp_path / "dict.pkl"), DummyVecEnv([DictEnv]))
    assert loaded.norm_obs_keys == ["vec"]
    np.testing.assert_array_equal(loaded.obs_rms["vec"].mean, venv.obs_rms["vec"].mean)


class Exploit:
    def __reduce__(self):
        return (print, ("this must never run",))


class MyVecNormalize(VecNormalize):
    """A user subclass: loading it needs trusted=True."""


def test_load_refuses_foreign_classes_unless_trusted(tmp_path, capsys):
    path = tmp_path / "evil.pkl"
    with open(path, "wb") as file:
        pickle.dump(Exploit(), file)
    with pytest.raises(LoadError, match=r"'builtins\.print'.*trusted=True"):
        VecNormalize.load(str(path), make_env())
    assert "this must never run" not in capsys.readouterr().out

    sub = MyVecNormalize(make_env())
    sub.save(str(tmp_path / "sub.pkl"))
    with pytest.raises(LoadError, match="MyVecNormalize"):
        VecNormalize.load(str(tmp_path / "sub.pkl"), make_env())
    loaded = VecNormalize.load(str(tmp_path / "sub.pkl"), make_env(), trusted=True)
    assert type(loaded) is MyVecNormalize

    with open(tmp_path / "list.pkl", "wb") as file:
        pickle.dump([1, 2], file)
    with pytest.raises(LoadError, match="holds a list, not a VecNormalize"):
        VecNormalize.load(str(tmp_path / "list.pkl"), make_env())


def test_sync_envs_normalization():
    train = VecNormalize(make_env())
    evaluation = VecNormalize(make_env(), training=False, norm_reward=False)
    train.reset()
    for _ in range(3):
        train.step(np.zeros((2, 1), dtype=np.float32))
    sync_envs_normalization(train, evaluation)
    np.testing.assert_array_equal(evaluation.obs_rms.mean, train.obs_rms.mean)
    assert evaluation.ret_rms.var == train.ret_rms.var
    # Copies: later training does not move the evaluation statistics.
    assert evaluation.obs_rms is not train.obs_rms
    train.step(np.zeros((2, 1), dtype=np.float32))
    assert not np.array_equal(evaluation.obs_rms.mean, train.obs_rms.mean)

    stacked_train = VecFrameStack(VecNormalize(make_env()), 2)
    stacked_eval = VecFrameStack(VecNormalize(make_env()), 2)
    sync_envs_normalization(stacked_train, stacked_eval)
    with pytest.raises(AssertionError, match="expected the eval env to be a VecEnvWrapper"):
        sync_envs_normalization(train, make_env())
    with pytest.raises(AssertionError, match="expected the eval env to be a VecNormalize"):
        sync_envs_normalization(train, VecFrameStack(make_env(), 2))


def sb3_or_skip():
    return pytest.importorskip("stable_baselines3.common.vec_env")


@pytest.mark.parametrize("env_id", ["Pendulum-v1", "MountainCarContinuous-v0"])
def test_parity_with_sb3(env_id):
    sb3 = sb3_or_skip()

    def run(dummy_cls, normalize_cls):
        venv = normalize_cls(dummy_cls([lambda: gym.make(env_id, max_episode_steps=30) for _ in range(3)]), gamma=0.97)
        venv.seed(11)
        trace = [venv.reset()]
        rng = np.random.default_rng(0)
        for _ in range(70):
            obs, rewards, dones, infos = venv.step(rng.uniform(-1, 1, size=(3, 1)).astype(np.float32))
            trace.append((obs, rewards, dones, [info.get("terminal_observation") for info in infos]))
        return venv, trace

    ours, our_trace = run(DummyVecEnv, VecNormalize)
    theirs, their_trace = run(sb3.DummyVecEnv, sb3.VecNormalize)
    np.testing.assert_array_equal(ours.obs_rms.mean, theirs.obs_rms.mean)
    np.testing.assert_array_equal(ours.obs_rms.var, theirs.obs_rms.var)
    assert ours.ret_rms.var == theirs.ret_rms.var and ours.ret_rms.count == theirs.ret_rms.count
    np.testing.assert_array_equal(our_trace[0], their_trace[0])
    for mine, ref in zip(our_trace[1:], their_trace[1:], strict=True):
        for a, b in zip(mine[:3], ref[:3], strict=True):
            np.testing.assert_array_equal(a, b)
        for a, b in zip(mine[3], ref[3], strict=True):
            assert (a is None and b is None) or np.array_equal(a, b)


def test_files_are_interchangeable_with_sb3(tmp_path):
    sb3 = sb3_or_skip()
    theirs = sb3.VecNormalize(sb3.DummyVecEnv([DictEnv]), norm_obs_keys=["vec"])
    theirs.reset()
    theirs.step(np.array([0]))
    theirs.save(str(tmp_path / "sb3.pkl"))
    # Loaded safely, with SB3's class paths mapped to ours.
    ours = VecNormalize.load(str(tmp_path / "sb3.pkl"), DummyVecEnv([DictEnv]))
    assert type(ours) is VecNormalize and type(ours.obs_rms["vec"]) is RunningMeanStd
    np.testing.assert_array_equal(ours.obs_rms["vec"].mean, theirs.obs_rms["vec"].mean)
    assert ours.ret_rms.var == theirs.ret_rms.var

    ours.save(str(tmp_path / "ours.pkl"))
    back = sb3.VecNormalize.load(str(tmp_path / "ours.pkl"), sb3.DummyVecEnv([DictEnv]))
    np.testing.assert_array_equal(back.obs_rms["vec"].var, theirs.obs_rms["vec"].var)
    obs = {"vec": np.ones((1, 2), np.float32), "img": np.zeros((1, 6, 6, 1), np.uint8), "disc": np.zeros(1, np.int64)}
    np.testing.assert_array_equal(back.normalize_obs(obs)["vec"], theirs.normalize_obs(obs)["vec"])

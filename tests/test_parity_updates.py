"""One PPO / A2C update from identical weights and rollout gives the same new weights as SB3 (torch)."""

import mlx.core as mx
import numpy as np
import pytest
from mlx.utils import tree_flatten

from mlx_baselines3 import A2C, PPO
from mlx_baselines3.common.logger import configure

th = pytest.importorskip("torch")
sb3 = pytest.importorskip("stable_baselines3")


def _sb3_key(mlx_key: str) -> str:
    return mlx_key.replace(".layers.", ".")


def _copy_weights_to_sb3(ours, theirs) -> None:
    state = {_sb3_key(k): th.as_tensor(np.array(v)) for k, v in tree_flatten(ours.policy.parameters())}
    missing, unexpected = theirs.policy.load_state_dict(state, strict=False)
    assert not unexpected and not [k for k in missing if "features_extractor" not in k], (missing, unexpected)


def _assert_same_weights(ours, theirs, atol=1e-5) -> int:
    theirs_state = theirs.policy.state_dict()
    compared = 0
    for key, value in tree_flatten(ours.policy.parameters()):
        np.testing.assert_allclose(np.array(value), theirs_state[_sb3_key(key)].numpy(), atol=atol, rtol=1e-4, err_msg=key)
        compared += 1
    return compared


def _prepare(algo_cls, sb3_cls, env_id, **kwargs):
    ours = algo_cls("MlpPolicy", env_id, seed=1, **kwargs)
    theirs = sb3_cls("MlpPolicy", env_id, seed=1, device="cpu", **kwargs)
    _copy_weights_to_sb3(ours, theirs)
    # Collect one rollout with SB3 and give our algorithm exactly the same data.
    theirs._setup_learn(total_timesteps=kwargs["n_steps"], callback=None)
    from stable_baselines3.common.callbacks import BaseCallback

    class Nothing(BaseCallback):
        def _on_step(self) -> bool:
            return True

    callback = Nothing()
    callback.init_callback(theirs)
    theirs.collect_rollouts(theirs.env, callback, theirs.rollout_buffer, n_rollout_steps=kwargs["n_steps"])
    for name in ("observations", "actions", "rewards", "returns", "episode_starts", "values", "log_probs", "advantages"):
        setattr(ours.rollout_buffer, name, getattr(theirs.rollout_buffer, name).copy())
    ours.rollout_buffer.full = True
    ours.rollout_buffer.generator_ready = False
    for model in (ours, theirs):
        model.set_logger(configure(None, [""]))
    return ours, theirs


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_ppo_update_parity(env_id):
    n_steps = 64
    ours, theirs = _prepare(
        PPO, sb3.PPO, env_id, n_steps=n_steps, batch_size=n_steps, n_epochs=2, ent_coef=0.01, clip_range_vf=0.2
    )
    ours.train()
    theirs.train()
    assert _assert_same_weights(ours, theirs) >= 12
    # The optimizer moved the weights away from the initial ones (the comparison is not trivially true).
    assert ours._n_updates == theirs._n_updates == 2


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_a2c_update_parity(env_id):
    ours, theirs = _prepare(A2C, sb3.A2C, env_id, n_steps=16, ent_coef=0.01, normalize_advantage=True)
    before = {k: np.array(v) for k, v in tree_flatten(ours.policy.parameters())}
    ours.train()
    theirs.train()
    assert _assert_same_weights(ours, theirs) >= 12
    moved = max(np.abs(np.array(v) - before[k]).max() for k, v in tree_flatten(ours.policy.parameters()))
    assert moved > 1e-4


def test_ppo_target_kl_early_stop_matches_sb3():
    # A tiny target_kl stops the update after the first minibatch on both sides.
    ours, theirs = _prepare(
        PPO, sb3.PPO, "CartPole-v1", n_steps=64, batch_size=16, n_epochs=3, learning_rate=0.01, target_kl=1e-6
    )
    # Same minibatch order on both sides: both buffers draw one NumPy permutation per epoch.
    np.random.seed(0)
    ours.train()
    np.random.seed(0)
    theirs.train()
    _assert_same_weights(ours, theirs)
    # Stopped during the first epoch, after one applied minibatch.
    assert ours._n_updates == theirs._n_updates == 1


def test_gae_parity_with_sb3():
    import gymnasium as gym
    from stable_baselines3.common.buffers import RolloutBuffer as SB3RolloutBuffer

    from mlx_baselines3.common.buffers import RolloutBuffer

    obs_space, act_space = gym.spaces.Box(-1, 1, (3,)), gym.spaces.Discrete(2)
    rng = np.random.default_rng(3)
    ours = RolloutBuffer(20, obs_space, act_space, gae_lambda=0.9, gamma=0.95, n_envs=3)
    theirs = SB3RolloutBuffer(20, obs_space, act_space, gae_lambda=0.9, gamma=0.95, n_envs=3)
    for _ in range(20):
        step = (
            rng.normal(size=(3, 3)).astype(np.float32),
            rng.integers(0, 2, size=(3, 1)),
            rng.normal(size=3).astype(np.float32),
            rng.random(3) < 0.2,
            rng.normal(size=(3, 1)).astype(np.float32),
            rng.normal(size=3).astype(np.float32),
        )
        ours.add(*step[:4], step[4], step[5])
        theirs.add(*step[:4], th.as_tensor(step[4]), th.as_tensor(step[5]))
    last_values, dones = rng.normal(size=(3, 1)).astype(np.float32), np.array([True, False, False])
    ours.compute_returns_and_advantage(last_values, dones)
    theirs.compute_returns_and_advantage(th.as_tensor(last_values), dones)
    np.testing.assert_allclose(ours.advantages, theirs.advantages, atol=1e-5)
    np.testing.assert_allclose(ours.returns, theirs.returns, atol=1e-5)
    batch = next(ours.get(batch_size=None))
    assert batch.observations.shape == (60, 3) and batch.advantages.shape == (60,)
    assert isinstance(batch.returns, mx.array)


def _prepare_multibinary(algo_cls, sb3_cls, **kwargs):
    from stable_baselines3.common.envs import IdentityEnvMultiBinary as Sb3IdentityEnvMultiBinary

    from mlx_baselines3.common.envs import IdentityEnvMultiBinary

    ours = algo_cls("MlpPolicy", IdentityEnvMultiBinary(4), seed=1, gamma=0.4, **kwargs)
    theirs = sb3_cls("MlpPolicy", Sb3IdentityEnvMultiBinary(4), seed=1, gamma=0.4, device="cpu", **kwargs)
    return ours, theirs


@pytest.mark.parametrize("algo", ["A2C", "PPO"])
def test_multibinary_update_parity(algo):
    # Issue 13 item 10: MultiBinary (Bernoulli) updates, int8 actions stored and float32 actions sampled, match SB3's.
    kwargs = dict(n_steps=32, ent_coef=0.01)
    if algo == "PPO":
        kwargs.update(batch_size=32, n_epochs=2)
    algo_cls, sb3_cls = {"A2C": (A2C, sb3.A2C), "PPO": (PPO, sb3.PPO)}[algo]
    ours, theirs = _prepare_multibinary(algo_cls, sb3_cls, **kwargs)
    _copy_weights_to_sb3(ours, theirs)
    theirs._setup_learn(total_timesteps=kwargs["n_steps"], callback=None)
    from stable_baselines3.common.callbacks import BaseCallback

    class Nothing(BaseCallback):
        def _on_step(self) -> bool:
            return True

    callback = Nothing()
    callback.init_callback(theirs)
    theirs.collect_rollouts(theirs.env, callback, theirs.rollout_buffer, n_rollout_steps=kwargs["n_steps"])
    assert theirs.rollout_buffer.actions.dtype == np.int8
    for name in ("observations", "actions", "rewards", "returns", "episode_starts", "values", "log_probs", "advantages"):
        setattr(ours.rollout_buffer, name, getattr(theirs.rollout_buffer, name).copy())
    ours.rollout_buffer.full = True
    ours.rollout_buffer.generator_ready = False
    for model in (ours, theirs):
        model.set_logger(configure(None, [""]))
    before = {k: np.array(v) for k, v in tree_flatten(ours.policy.parameters())}
    ours.train()
    theirs.train()
    assert _assert_same_weights(ours, theirs) >= 12
    assert max(np.abs(np.array(v) - before[k]).max() for k, v in tree_flatten(ours.policy.parameters())) > 1e-4

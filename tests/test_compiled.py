"""The compiled functions' plumbing: a failing compiled call leaves the process usable; models train side by side."""

import gymnasium as gym
import mlx.core as mx
import mlx.nn as nn
import numpy as np
import pytest
import torch

from mlx_baselines3 import A2C, DQN, PPO, SAC, TD3
from mlx_baselines3.common.compiled import CompiledFunction, compile_update, value_and_grad
from mlx_baselines3.common.policies import as_mlx_optimizer_class
from mlx_baselines3.common.torch_layers import BaseFeaturesExtractor, as_mlx_module_class
from mlx_baselines3.common.utils import TORCH_TO_MLX_CLASSES, polyak_update, torch_class_to_mlx, update_target_network


class FailingOnceExtractor(BaseFeaturesExtractor):
    """Flattens observations, but raises the first time it is traced for training (a bug in a user's network)."""

    failures = 0

    def __init__(self, observation_space: gym.Space):
        super().__init__(observation_space, features_dim=int(np.prod(observation_space.shape)))
        self.scale = nn.Linear(self.features_dim, self.features_dim)

    def __call__(self, observations: mx.array) -> mx.array:
        # Inference runs on one observation; the update on a minibatch of 8.
        if observations.shape[0] == 8 and FailingOnceExtractor.failures == 0:
            FailingOnceExtractor.failures += 1
            raise RuntimeError("bug in the features extractor")
        return self.scale(observations.reshape(observations.shape[0], -1))


@pytest.mark.parametrize("algo", [PPO, SAC])
def test_failure_while_tracing_leaves_every_model_usable(algo):
    FailingOnceExtractor.failures = 0
    env_id = "Pendulum-v1" if algo is SAC else "CartPole-v1"
    kwargs = dict(learning_starts=8, batch_size=8) if algo is SAC else dict(n_steps=8, batch_size=8, n_epochs=1)
    failing = algo("MlpPolicy", env_id, policy_kwargs=dict(features_extractor_class=FailingOnceExtractor), seed=0, **kwargs)
    weights_before = failing.policy.parameters_to_vector()
    with pytest.raises(RuntimeError, match="bug in the features extractor"):
        failing.learn(16)
    assert FailingOnceExtractor.failures == 1
    # The model's arrays are real arrays again (not the tracer's placeholders): they evaluate, unchanged.
    np.testing.assert_array_equal(failing.policy.parameters_to_vector(), weights_before)
    # The global random state works and can be seeded again.
    mx.random.seed(3)
    first = np.array(mx.random.normal((3,)))
    mx.random.seed(3)
    np.testing.assert_array_equal(np.array(mx.random.normal((3,))), first)
    # Another model trains and predicts, and the one that failed does too once its network stops failing.
    other = A2C("MlpPolicy", "CartPole-v1", n_steps=4, seed=0).learn(8)
    action, _ = other.predict(np.zeros(4, dtype=np.float32))
    assert other.action_space.contains(int(action))
    failing.learn(16)
    assert failing.num_timesteps == 16
    assert np.isfinite(failing.policy.parameters_to_vector()).all()


def test_compiled_function_restores_state_and_random_key():
    module = nn.Linear(2, 2)
    mx.eval(module.parameters())
    weight = module.weight

    def step(x):
        # Writes the module and draws from the random state, then fails while traced.
        module.update({"weight": module.weight + mx.random.normal(module.weight.shape)})
        if x.shape[0] == 3:
            raise ValueError("bad batch")
        return module(x).sum()

    compiled = compile_update(step, [module.state])
    assert isinstance(compiled, CompiledFunction)
    key = np.array(mx.random.state[0])
    with pytest.raises(ValueError, match="bad batch"):
        compiled(mx.ones((3, 2)))
    assert module.weight is weight
    np.testing.assert_array_equal(np.array(mx.random.state[0]), key)
    # A good call after the failure updates the module and advances the key.
    result = compiled(mx.ones((2, 2)))
    mx.eval(result, module.parameters())
    assert not np.array_equal(np.array(module.weight), np.array(weight))
    assert not np.array_equal(np.array(mx.random.state[0]), key)


def test_value_and_grad_of_a_parameter_subset():
    module = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 1))
    x = mx.ones((5, 3))

    def loss_fn(inputs):
        return module(inputs).sum()

    full_loss, full_grads = value_and_grad(module, loss_fn)(x)
    loss, grads = value_and_grad(module, loss_fn, lambda m: {"layers": [{}, m.layers[1].trainable_parameters()]})(x)
    assert loss.item() == pytest.approx(full_loss.item())
    assert grads["layers"][0] == {}
    np.testing.assert_array_equal(np.array(grads["layers"][1]["weight"]), np.array(full_grads["layers"][1]["weight"]))


def test_polyak_and_target_update():
    source, target = nn.BatchNorm(2), nn.BatchNorm(2)
    source.update({"weight": mx.array([3.0, 5.0]), "running_mean": mx.array([1.0, 2.0])})
    new = polyak_update({"w": mx.array([2.0])}, {"w": mx.array([4.0])}, 0.25)
    assert new["w"].item() == pytest.approx(3.5)
    update_target_network(source, target, mx.array(0.5))
    np.testing.assert_allclose(np.array(target.weight), [2.0, 3.0])
    # Running statistics are copied, not averaged (as SB3 does).
    np.testing.assert_array_equal(np.array(target.running_mean), [1.0, 2.0])
    update_target_network(source, target, 1.0)
    np.testing.assert_array_equal(np.array(target.weight), [3.0, 5.0])


def test_one_torch_name_table():
    # The class a user passes and the class named in a file map to the same MLX class.
    assert as_mlx_optimizer_class(torch.optim.Adadelta) is torch_class_to_mlx("torch.optim.adadelta", "Adadelta")
    assert as_mlx_optimizer_class(torch.optim.Adadelta).__name__ == "AdaDelta"
    assert as_mlx_module_class(torch.nn.Hardtanh) is nn.HardTanh
    for module, names in TORCH_TO_MLX_CLASSES.items():
        for name in names:
            torch_class = getattr(torch.optim if module.startswith("torch.optim") else torch.nn, name)
            assert torch_class.__module__ == module
            mapper = as_mlx_optimizer_class if module.startswith("torch.optim") else as_mlx_module_class
            assert mapper(torch_class) is torch_class_to_mlx(module, name)


def test_two_algorithms_trained_interleaved_in_one_process():
    ppo = PPO("MlpPolicy", "CartPole-v1", n_steps=32, batch_size=16, n_epochs=2, seed=1)
    dqn = DQN("MlpPolicy", "CartPole-v1", learning_starts=16, batch_size=16, train_freq=4, seed=1)
    td3 = TD3("MlpPolicy", "Pendulum-v1", learning_starts=16, batch_size=16, seed=1, policy_kwargs=dict(net_arch=[16]))
    initial = {model: model.policy.parameters_to_vector() for model in (ppo, dqn, td3)}
    for _ in range(2):
        ppo.learn(32, reset_num_timesteps=False)
        dqn.learn(32, reset_num_timesteps=False)
        td3.learn(32, reset_num_timesteps=False)
    assert (ppo.num_timesteps, dqn.num_timesteps, td3.num_timesteps) == (64, 64, 64)
    assert dqn._n_updates > 0 and td3._n_updates > 0
    for model, vector in initial.items():
        learned = model.policy.parameters_to_vector()
        assert np.isfinite(learned).all() and not np.array_equal(learned, vector)
    for model, obs in ((ppo, np.zeros(4, np.float32)), (dqn, np.zeros(4, np.float32)), (td3, np.zeros(3, np.float32))):
        action, _ = model.predict(obs, deterministic=True)
        assert model.action_space.contains(action if action.shape else int(action))

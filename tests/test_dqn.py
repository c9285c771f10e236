"""DQN: networks and parameter names, epsilon-greedy predict, exploration schedule, target updates, supported spaces,
the update's logs, determinism, save/load, and a small learning check."""

import re

import gymnasium as gym
import mlx.core as mx
import numpy as np
import pytest
from mlx.utils import tree_flatten

from mlx_baselines3 import DQN
from mlx_baselines3.common.envs import FakeImageEnv, IdentityEnv, SimpleMultiObsEnv
from mlx_baselines3.common.evaluation import evaluate_policy
from mlx_baselines3.common.logger import configure
from mlx_baselines3.common.vec_env import DummyVecEnv
from mlx_baselines3.dqn.policies import CnnPolicy, DQNPolicy, MultiInputPolicy, QNetwork


def make_dqn(env="CartPole-v1", **kwargs) -> DQN:
    kwargs.setdefault("policy_kwargs", dict(net_arch=[16]))
    kwargs.setdefault("learning_starts", 10)
    kwargs.setdefault("buffer_size", 1000)
    kwargs.setdefault("batch_size", 8)
    return DQN(kwargs.pop("policy", "MlpPolicy"), env, **kwargs)


def test_networks_and_parameter_names():
    model = make_dqn(policy_kwargs=dict(net_arch=[32, 16]))
    assert isinstance(model.policy, DQNPolicy) and isinstance(model.q_net, QNetwork)
    assert model.q_net is model.policy.q_net and model.q_net_target is model.policy.q_net_target
    shapes = {key: value.shape for key, value in tree_flatten(model.policy.parameters())}
    # SB3's keys q_net.q_net.0.weight ..., with MLX's `layers` list inside nn.Sequential.
    assert shapes == {
        f"{net}.q_net.layers.{idx}.{kind}": shape
        for net in ("q_net", "q_net_target")
        for idx, kind, shape in [
            (0, "weight", (32, 4)),
            (0, "bias", (32,)),
            (2, "weight", (16, 32)),
            (2, "bias", (16,)),
            (4, "weight", (2, 16)),
            (4, "bias", (2,)),
        ]
    }
    # The target starts as a copy, is frozen and stays in evaluation mode; the optimizer covers q_net only.
    for (_, online), (_, target) in zip(
        tree_flatten(model.q_net.parameters()), tree_flatten(model.q_net_target.parameters()), strict=True
    ):
        np.testing.assert_array_equal(np.array(online), np.array(target))
    assert {key.split(".")[0] for key, _ in tree_flatten(model.policy.trainable_parameters())} == {"q_net"}
    optimizer_state = model.policy.optimizer.state
    assert tree_flatten(optimizer_state["q_net"]) and not tree_flatten(optimizer_state.get("q_net_target", {}))
    model.policy.set_training_mode(True)
    assert model.q_net.training and not model.q_net_target.training


def test_default_hyperparameters():
    model = DQN("MlpPolicy", "CartPole-v1")
    assert (model.learning_rate, model.buffer_size, model.learning_starts, model.batch_size) == (1e-4, 1_000_000, 100, 32)
    assert (model.tau, model.gamma, model.train_freq.frequency, model.gradient_steps) == (1.0, 0.99, 4, 1)
    assert (model.target_update_interval, model.exploration_fraction, model.max_grad_norm) == (10000, 0.1, 10)
    assert (model.exploration_initial_eps, model.exploration_final_eps) == (1.0, 0.05)
    assert model.policy.net_arch == [64, 64]
    optimizer = model.policy.optimizer
    assert optimizer.learning_rate.item() == pytest.approx(1e-4) and optimizer.eps == 1e-8 and optimizer.bias_correction


@pytest.mark.parametrize("env_id", ["Pendulum-v1"])
def test_box_actions_are_refused(env_id):
    with pytest.raises(ValueError, match=r"only supports \(<class 'gymnasium.spaces.discrete.Discrete'>,\)"):
        DQN("MlpPolicy", env_id)


def test_dict_observations_need_multi_input_policy():
    with pytest.raises(ValueError, match="You must use `MultiInputPolicy`"):
        DQN("MlpPolicy", SimpleMultiObsEnv())


def test_predict_is_epsilon_greedy():
    model = make_dqn()
    obs = np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32)
    greedy = np.array(mx.argmax(model.q_net(mx.array(obs)), axis=1))
    actions, state = model.predict(obs, deterministic=True)
    assert state is None and actions.dtype == np.int64
    np.testing.assert_array_equal(actions, greedy)
    model.exploration_rate = 0.0
    np.testing.assert_array_equal(model.predict(obs)[0], greedy)
    # Always random: a batch of random actions, or a single one for a single observation.
    model.exploration_rate = 1.0
    random_actions = np.concatenate([model.predict(obs)[0] for _ in range(4)])
    assert random_actions.shape == (256,) and 0.3 < random_actions.mean() < 0.7
    assert model.predict(obs[0])[0].shape == () and model.predict(obs[0], deterministic=True)[0] == greedy[0]


def test_exploration_schedule():
    model = make_dqn(exploration_fraction=0.5, exploration_initial_eps=0.9, exploration_final_eps=0.1, learning_starts=0)
    rates = []
    model.learn(40, callback=lambda _locals, _globals: rates.append(model.exploration_rate) or True)
    # The callback runs before the step's update: rates[i] is the rate after step i.
    np.testing.assert_allclose(rates[1:], [max(0.9 - 0.8 * step / 20, 0.1) for step in range(1, 40)], atol=1e-9)
    assert model.exploration_rate == pytest.approx(0.1)
    assert model.logger.name_to_value["rollout/exploration_rate"] == pytest.approx(0.1)


@pytest.mark.parametrize(("n_envs", "interval", "expected"), [(1, 5, 4), (2, 5, 10), (4, 2, 20)])
def test_target_update_interval(n_envs, interval, expected, monkeypatch):
    env = DummyVecEnv([lambda: gym.make("CartPole-v1")] * n_envs)
    if n_envs > interval:
        with pytest.warns(UserWarning, match=f"greater than the target network update interval \\({n_envs} > {interval}\\)"):
            model = make_dqn(env, target_update_interval=interval)
    else:
        model = make_dqn(env, target_update_interval=interval)
    updates = []
    monkeypatch.setattr(model, "_update_target", lambda: updates.append(model.num_timesteps))
    model.learn(20 * n_envs)
    # Every max(interval // n_envs, 1) calls of env.step().
    period = max(interval // n_envs, 1) * n_envs
    assert updates == list(range(period, 20 * n_envs + 1, period)) and len(updates) == expected


@pytest.mark.parametrize("tau", [1.0, 0.25])
def test_target_update_is_polyak(tau):
    model = make_dqn(tau=tau)
    target_before = [np.array(p) for _, p in tree_flatten(model.q_net_target.parameters())]
    model.q_net.update({"q_net": {"layers": [{"weight": mx.ones((16, 4)), "bias": mx.ones(16)}]}}, strict=False)
    model._update_target()
    target_after = dict(tree_flatten(model.q_net_target.parameters()))
    np.testing.assert_allclose(np.array(target_after["q_net.layers.0.weight"]), (1 - tau) * target_before[0] + tau, rtol=1e-6)
    np.testing.assert_allclose(np.array(target_after["q_net.layers.0.bias"]), (1 - tau) * target_before[1] + tau, rtol=1e-6)
    np.testing.assert_array_equal(np.array(target_after["q_net.layers.2.weight"]), target_before[2])


def test_train_logs_and_updates():
    model = make_dqn(learning_rate=lambda progress: 1e-3 * progress, train_freq=5, gradient_steps=3)
    model.set_logger(configure(None, [""]))
    weights_before = np.array(model.q_net.q_net.layers[0].weight)
    target_before = np.array(model.q_net_target.q_net.layers[0].weight)
    model.learn(50)
    values = model.logger.name_to_value
    assert values["train/n_updates"] == 3 * 8 and np.isfinite(values["train/loss"]) and values["train/loss"] > 0
    # The last train() call ran at 50 steps: progress remaining 0.
    assert values["train/learning_rate"] == pytest.approx(0.0)
    assert not np.array_equal(np.array(model.q_net.q_net.layers[0].weight), weights_before)
    # The default target interval (10000 steps) was not reached: the target did not move.
    np.testing.assert_array_equal(np.array(model.q_net_target.q_net.layers[0].weight), target_before)


def test_same_seed_same_model():
    def train(seed):
        model = make_dqn(seed=seed, train_freq=2, exploration_fraction=0.5)
        model.learn(200)
        return [np.array(p) for _, p in tree_flatten(model.policy.parameters())], model.replay_buffer.actions[:200].copy()

    (params_a, actions_a), (params_b, actions_b), (_, actions_c) = train(3), train(3), train(4)
    np.testing.assert_array_equal(actions_a, actions_b)
    for a, b in zip(params_a, params_b, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(actions_a, actions_c)


@pytest.mark.parametrize(
    ("policy", "env", "policy_class"),
    [
        ("CnnPolicy", FakeImageEnv(screen_height=40, screen_width=40, n_channels=1, discrete=True), CnnPolicy),
        ("MultiInputPolicy", SimpleMultiObsEnv(random_start=False), MultiInputPolicy),
    ],
)
def test_image_and_dict_observations(policy, env, policy_class):
    model = make_dqn(env, policy=policy, policy_kwargs=None, buffer_size=200, learning_starts=20, train_freq=8)
    assert type(model.policy) is policy_class
    model.learn(60)
    assert model._n_updates > 0


def test_n_step_returns():
    model = make_dqn(n_steps=3, learning_starts=20)
    model.learn(60)
    assert model.replay_buffer.n_steps == 3 and model._n_updates > 0


def test_save_load(tmp_path):
    model = make_dqn(exploration_final_eps=0.2, target_update_interval=50, seed=0)
    model.learn(100)
    model.save(tmp_path / "dqn")
    loaded = DQN.load(tmp_path / "dqn", env=gym.make("CartPole-v1"))
    obs = np.random.default_rng(1).normal(size=(16, 4)).astype(np.float32)
    np.testing.assert_array_equal(loaded.predict(obs, deterministic=True)[0], model.predict(obs, deterministic=True)[0])
    assert (loaded.exploration_final_eps, loaded.target_update_interval, loaded.num_timesteps) == (0.2, 50, 100)
    for (key, a), (_, b) in zip(
        tree_flatten(model.policy.parameters()), tree_flatten(loaded.policy.parameters()), strict=True
    ):
        np.testing.assert_array_equal(np.array(a), np.array(b), err_msg=key)
    loaded.learn(50, reset_num_timesteps=False)
    # Rollouts of train_freq=4 steps: 100 + 13 * 4.
    assert loaded.num_timesteps == 152


def test_learns_identity():
    env = IdentityEnv(dim=4, ep_length=20)
    model = DQN(
        "MlpPolicy",
        env,
        learning_rate=5e-3,
        learning_starts=200,
        exploration_fraction=0.2,
        target_update_interval=100,
        train_freq=1,
        batch_size=32,
        policy_kwargs=dict(net_arch=[32]),
        seed=0,
    )
    model.learn(1500)
    mean_reward, _ = evaluate_policy(model, model.get_env(), n_eval_episodes=5, deterministic=True)
    assert mean_reward >= 19


def test_training_loop_matches_sb3(monkeypatch):
    """
    The RL Zoo CartPole schedule, scaled down (train_freq 16 / 8 gradient steps instead of 256 / 128, a target update
    every 10 env steps, 50 warm-up steps, epsilon decaying over 16% of the run), from SB3's initial weights: the same
    exploration rate, update count and target-update count after every env step, train() at the same steps with the same
    gradient steps and learning rate, the same transitions (actions, episode ends) and the same sampled minibatches.
    """
    th = pytest.importorskip("torch")
    sb3 = pytest.importorskip("stable_baselines3")
    import stable_baselines3.dqn.dqn as sb3_dqn_module
    from mlx.utils import tree_unflatten
    from stable_baselines3.common.env_util import make_vec_env as sb3_make_vec_env

    from mlx_baselines3.common.env_util import make_vec_env

    kwargs = dict(
        learning_rate=2.3e-3,
        batch_size=16,
        buffer_size=1000,
        learning_starts=50,
        target_update_interval=10,
        train_freq=16,
        gradient_steps=8,
        exploration_fraction=0.16,
        exploration_final_eps=0.04,
        policy_kwargs=dict(net_arch=[32, 32]),
        seed=0,
    )
    total_timesteps = 400

    def record(model, target_updates):
        steps, trains = [], []
        on_step, train = model._on_step, model.train

        def recorded_on_step():
            on_step()
            steps.append((model.num_timesteps, model.exploration_rate, model._n_updates, len(target_updates)))

        def recorded_train(gradient_steps, batch_size=100):
            train(gradient_steps=gradient_steps, batch_size=batch_size)
            values = model.logger.name_to_value
            trains.append(
                (model.num_timesteps, gradient_steps, batch_size, values["train/learning_rate"], values["train/loss"])
            )

        monkeypatch.setattr(model, "_on_step", recorded_on_step)
        monkeypatch.setattr(model, "train", recorded_train)
        return steps, trains

    theirs = sb3.DQN("MlpPolicy", sb3_make_vec_env("CartPole-v1", n_envs=1, seed=0), device="cpu", **kwargs)
    initial_weights = {key: value.detach().numpy().copy() for key, value in theirs.policy.state_dict().items()}
    their_targets: list[int] = []
    polyak_update = sb3_dqn_module.polyak_update

    def counted_polyak_update(params, target_params, tau):
        # SB3 calls it twice per target update: parameters (tau), then batch-norm statistics (1.0).
        params = list(params)
        if params:
            their_targets.append(theirs.num_timesteps)
        polyak_update(params, target_params, tau)

    monkeypatch.setattr(sb3_dqn_module, "polyak_update", counted_polyak_update)
    their_steps, their_trains = record(theirs, their_targets)
    th.set_num_threads(1)
    theirs.learn(total_timesteps)

    # Built after SB3's run: construction seeds NumPy's global generator, so both runs start from the same state.
    ours = DQN("MlpPolicy", make_vec_env("CartPole-v1", n_envs=1, seed=0), **kwargs)
    ours.policy.update(
        tree_unflatten(
            [(re.sub(r"\.(\d+)\.", r".layers.\1.", key), mx.array(value)) for key, value in initial_weights.items()]
        )
    )
    our_targets: list[int] = []
    update_target = ours._update_target
    monkeypatch.setattr(ours, "_update_target", lambda: our_targets.append(ours.num_timesteps) or update_target())
    our_steps, our_trains = record(ours, our_targets)
    ours.learn(total_timesteps)

    # Train freq 16 over 400 steps: 25 rollouts, the first 3 before learning_starts=50 is passed.
    assert [t[0] for t in their_trains] == list(range(64, 401, 16))
    assert our_steps == their_steps and len(our_steps) == total_timesteps
    assert our_targets == their_targets == list(range(10, 401, 10))
    assert [t[:4] for t in our_trains] == [t[:4] for t in their_trains]
    assert ours._n_updates == theirs._n_updates == 8 * 22
    # Epsilon after step 8 of a 64-step decay (16% of 400) from 1 to 0.04.
    assert their_steps[7][1] == pytest.approx(1 - 0.96 * 8 / 64)
    # The same transitions and, from identical weights, the same minibatches: equal losses at the first train() calls
    # (float rounding differences grow over many Adam steps, as they do between two SB3 runs).
    np.testing.assert_array_equal(ours.replay_buffer.actions[:64], theirs.replay_buffer.actions[:64])
    np.testing.assert_array_equal(ours.replay_buffer.dones[:64], theirs.replay_buffer.dones[:64])
    np.testing.assert_allclose([t[4] for t in our_trains[:3]], [t[4] for t in their_trains[:3]], rtol=1e-4)

"""MaskablePPO and RecurrentPPO files move both ways between sb3-contrib (torch) and mlx_baselines3.contrib."""

import json
import subprocess
import sys

import gymnasium as gym
import mlx.core as mx
import numpy as np
import pytest

from mlx_baselines3.common.env_util import make_vec_env
from mlx_baselines3.contrib import MaskablePPO, RecurrentPPO
from mlx_baselines3.contrib.common.envs import InvalidActionEnvDiscrete
from mlx_baselines3.contrib.common.maskable.policies import MaskableActorCriticPolicy

th = pytest.importorskip("torch")
# One torch thread: on a small shared CPU, torch's thread pool spins against everything else (LSTM backward 50x slower).
th.set_num_threads(1)
sb3_contrib = pytest.importorskip("sb3_contrib")

RECURRENT = dict(n_steps=16, batch_size=16, n_epochs=2, policy_kwargs=dict(lstm_hidden_size=8, n_lstm_layers=2))
MASKABLE = dict(n_steps=16, batch_size=8, n_epochs=2)
MASK_ENV = dict(dim=10, n_invalid_actions=5)


def _cartpole_observations() -> np.ndarray:
    # Large enough to make the policy's choice depend on the observation.
    return np.random.default_rng(0).normal(scale=2.0, size=(6, 8, 4)).astype(np.float32)


def _recurrent_rollout(model, episode_start_at: int = 3) -> tuple[np.ndarray, list[np.ndarray]]:
    # Deterministic actions and actor LSTM states over a sequence of 8 envs, with an episode start halfway.
    actions, hidden = [], []
    state = None
    for step, obs in enumerate(_cartpole_observations()):
        starts = np.full(8, step in (0, episode_start_at))
        action, state = model.predict(obs, state=state, episode_start=starts, deterministic=True)
        actions.append(action)
        hidden.append(np.asarray(state[0]))
    return np.stack(actions), hidden


def _masked_inputs() -> tuple[np.ndarray, np.ndarray]:
    obs = np.arange(10)
    masks = np.array([[(i + j) % 3 != 0 or i == j for i in range(10)] for j in range(10)])
    return obs, masks


def _assert_same_recurrent_behaviour(ours, theirs) -> None:
    ours_actions, ours_hidden = _recurrent_rollout(ours)
    theirs_actions, theirs_hidden = _recurrent_rollout(theirs)
    np.testing.assert_array_equal(ours_actions, theirs_actions)
    for ours_h, theirs_h in zip(ours_hidden, theirs_hidden, strict=True):
        np.testing.assert_allclose(ours_h, theirs_h, atol=1e-5)
    # The states do carry information (not all zeros), and actions vary across envs and steps.
    assert np.abs(ours_hidden[-1]).max() > 1e-3


def _assert_same_optimizer_state(ours, theirs) -> None:
    ours_state = ours.get_parameters()["policy.optimizer"]["state"]
    theirs_state = theirs.policy.optimizer.state_dict()["state"]
    assert len(ours_state) == len(theirs_state) > 0
    for index, values in theirs_state.items():
        np.testing.assert_allclose(np.asarray(ours_state[index]["exp_avg"]), values["exp_avg"].numpy(), atol=1e-6)


def test_sb3_contrib_recurrent_file_loads_and_training_continues(tmp_path):
    theirs = sb3_contrib.RecurrentPPO("MlpLstmPolicy", "CartPole-v1", seed=0, **RECURRENT).learn(32)
    theirs.save(tmp_path / "theirs.zip")
    ours = RecurrentPPO.load(tmp_path / "theirs.zip", env=gym.make("CartPole-v1"))
    assert ours.policy.lstm_actor.num_layers == 2 and ours.policy.lstm_actor.hidden_size == 8
    _assert_same_recurrent_behaviour(ours, theirs)
    _assert_same_optimizer_state(ours, theirs)
    before = np.array(ours.policy.lstm_actor.weight_hh_l1)
    ours.learn(32)
    assert np.abs(np.array(ours.policy.lstm_actor.weight_hh_l1) - before).max() > 0


def test_our_recurrent_file_loads_in_sb3_contrib_and_training_continues(tmp_path):
    ours = RecurrentPPO("MlpLstmPolicy", make_vec_env("CartPole-v1", n_envs=2), seed=0, **RECURRENT).learn(32)
    ours.save(tmp_path / "ours.zip")
    theirs = sb3_contrib.RecurrentPPO.load(tmp_path / "ours.zip", env=gym.make("CartPole-v1"))
    assert isinstance(theirs.policy, sb3_contrib.common.recurrent.policies.RecurrentActorCriticPolicy)
    _assert_same_recurrent_behaviour(ours, theirs)
    _assert_same_optimizer_state(ours, theirs)
    before = theirs.policy.lstm_actor.weight_hh_l1.detach().clone()
    theirs.learn(32)
    assert not th.equal(before, theirs.policy.lstm_actor.weight_hh_l1)


def test_maskable_files_move_both_ways(tmp_path):
    env = InvalidActionEnvDiscrete(**MASK_ENV)
    obs, masks = _masked_inputs()
    theirs = sb3_contrib.MaskablePPO("MlpPolicy", env, seed=0, **MASKABLE).learn(32)
    theirs.save(tmp_path / "theirs.zip")
    ours = MaskablePPO.load(tmp_path / "theirs.zip", env=env)
    expected = theirs.predict(obs, action_masks=masks, deterministic=True)[0]
    np.testing.assert_array_equal(ours.predict(obs, action_masks=masks, deterministic=True)[0], expected)
    assert masks[np.arange(10), expected].all()
    _assert_same_optimizer_state(ours, theirs)
    ours.learn(32)
    ours.save(tmp_path / "ours.zip")
    again = sb3_contrib.MaskablePPO.load(tmp_path / "ours.zip", env=env)
    np.testing.assert_array_equal(
        again.predict(obs, action_masks=masks, deterministic=True)[0],
        ours.predict(obs, action_masks=masks, deterministic=True)[0],
    )
    again.learn(32)


def test_maskable_policy_file_moves_both_ways(tmp_path):
    space = gym.spaces.Box(-1, 1, (3,))
    theirs = sb3_contrib.common.maskable.policies.MaskableActorCriticPolicy(
        space, gym.spaces.MultiDiscrete([3, 2]), lambda _: 1e-3, net_arch=[16], activation_fn=th.nn.ReLU
    )
    theirs.save(tmp_path / "theirs.pth")
    ours = MaskableActorCriticPolicy.load(tmp_path / "theirs.pth")
    obs = np.random.default_rng(1).uniform(-1, 1, (16, 3)).astype(np.float32)
    masks = np.tile([True, False, True, True, True], (16, 1))
    expected = theirs.predict(obs, action_masks=masks, deterministic=True)[0]
    np.testing.assert_array_equal(ours.predict(obs, action_masks=masks, deterministic=True)[0], expected)
    ours.save(tmp_path / "ours.pth")
    again = sb3_contrib.common.maskable.policies.MaskableActorCriticPolicy.load(tmp_path / "ours.pth")
    assert again.activation_fn is th.nn.ReLU
    for key, value in theirs.state_dict().items():
        assert th.equal(again.state_dict()[key], value), key


_TORCH_FREE_SCRIPT = """
import json, sys

class BlockTorch:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "stable_baselines3", "sb3_contrib"):
            raise ImportError(f"{name} is blocked in this test")
        return None

sys.meta_path.insert(0, BlockTorch())
import numpy as np
from mlx_baselines3.contrib import MaskablePPO, RecurrentPPO

recurrent = RecurrentPPO.load(sys.argv[1])
obs = np.array(json.loads(sys.argv[3]), dtype=np.float32)
actions, state = recurrent.predict(obs, deterministic=True)
masked = MaskablePPO.load(sys.argv[2])
masked_actions, _ = masked.predict(np.arange(10), action_masks=np.array(json.loads(sys.argv[4])), deterministic=True)
print(json.dumps({"recurrent": actions.tolist(), "state": np.asarray(state[0]).tolist(), "masked": masked_actions.tolist()}))
"""


def test_sb3_contrib_files_load_without_torch(tmp_path):
    recurrent = sb3_contrib.RecurrentPPO("MlpLstmPolicy", "CartPole-v1", seed=1, **RECURRENT).learn(16)
    recurrent.save(tmp_path / "recurrent.zip")
    masked = sb3_contrib.MaskablePPO("MlpPolicy", InvalidActionEnvDiscrete(**MASK_ENV), seed=1, **MASKABLE).learn(16)
    masked.save(tmp_path / "masked.zip")
    obs = _cartpole_observations()[0]
    _, masks = _masked_inputs()
    args = [
        str(tmp_path / "recurrent.zip"),
        str(tmp_path / "masked.zip"),
        json.dumps(obs.tolist()),
        json.dumps(masks.tolist()),
    ]
    result = subprocess.run([sys.executable, "-c", _TORCH_FREE_SCRIPT, *args], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    expected, state = recurrent.predict(obs, deterministic=True)
    assert loaded["recurrent"] == expected.tolist()
    np.testing.assert_allclose(np.array(loaded["state"]), state[0], atol=1e-5)
    assert loaded["masked"] == masked.predict(np.arange(10), action_masks=masks, deterministic=True)[0].tolist()


def test_lstm_parameters_use_torch_keys():
    model = RecurrentPPO("MlpLstmPolicy", "CartPole-v1", policy_kwargs=dict(lstm_hidden_size=4, n_lstm_layers=2))
    keys = list(model.get_parameters()["policy"])
    lstm_keys = [key for key in keys if key.startswith("lstm_")]
    expected = [
        f"{lstm}.{kind}_{part}_l{layer}"
        for lstm in ("lstm_actor", "lstm_critic")
        for layer in range(2)
        for kind in ("weight", "bias")
        for part in ("ih", "hh")
    ]
    # torch orders each layer weight_ih, weight_hh, bias_ih, bias_hh.
    ordered = [key for key in expected if "weight" in key.split(".")[1]]
    assert sorted(lstm_keys) == sorted(expected)
    assert (
        lstm_keys.index("lstm_actor.weight_ih_l0")
        < lstm_keys.index("lstm_actor.bias_hh_l0")
        < lstm_keys.index("lstm_actor.weight_ih_l1")
    )
    assert ordered[0] == "lstm_actor.weight_ih_l0"
    torch_policy = sb3_contrib.RecurrentPPO(
        "MlpLstmPolicy", "CartPole-v1", policy_kwargs=dict(lstm_hidden_size=4, n_lstm_layers=2)
    ).policy
    assert keys == list(torch_policy.state_dict())
    assert mx.array(model.policy.lstm_actor.bias_hh_l1).shape == (16,)

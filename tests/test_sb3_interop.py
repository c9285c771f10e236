"""Files move both ways between Stable-Baselines3 (torch) and mlx_baselines3: same actions, same optimizer state."""

import io
import json
import os
import pathlib
import subprocess
import sys
import zipfile

import gymnasium as gym
import mlx.core as mx
import numpy as np
import pytest
from gymnasium import spaces

import mlx_baselines3
from mlx_baselines3 import A2C, PPO
from mlx_baselines3.common import torch_format
from mlx_baselines3.common.policies import ActorCriticCnnPolicy, ActorCriticPolicy
from mlx_baselines3.common.save_util import load_module_state_dict, module_state_dict, optimizer_state_dict

th = pytest.importorskip("torch")
sb3 = pytest.importorskip("stable_baselines3")

ALGOS = {"PPO": (PPO, sb3.PPO), "A2C": (A2C, sb3.A2C)}
HYPERPARAMETERS = {"PPO": dict(n_steps=16, batch_size=8, n_epochs=2), "A2C": dict(n_steps=8)}
CASES = [("PPO", "CartPole-v1"), ("PPO", "Pendulum-v1"), ("A2C", "CartPole-v1"), ("A2C", "Pendulum-v1")]


def _observations(env_id: str) -> np.ndarray:
    space = gym.make(env_id).observation_space
    space.seed(0)
    return np.stack([space.sample() for _ in range(32)])


def _assert_same_actions(ours: np.ndarray, theirs: np.ndarray, env_id: str) -> None:
    if env_id == "CartPole-v1":
        np.testing.assert_array_equal(ours, theirs)
    else:
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-5)


def _assert_same_optimizer_state(ours_model, theirs_model) -> None:
    # Our MLX optimizer's state, written as a torch state dict, against torch's own.
    ours = optimizer_state_dict(ours_model.policy.optimizer, ours_model.policy)
    theirs = theirs_model.policy.optimizer.state_dict()
    assert ours["param_groups"] == theirs["param_groups"]
    assert sorted(ours["state"]) == sorted(theirs["state"]) and len(theirs["state"]) > 0
    for index, state in theirs["state"].items():
        assert list(ours["state"][index]) == list(state)
        for key, value in state.items():
            np.testing.assert_array_equal(np.asarray(ours["state"][index][key]), value.numpy(), err_msg=f"{index}/{key}")


@pytest.fixture(scope="module")
def sb3_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sb3")
    files = {}
    for algo, env_id in CASES:
        model = ALGOS[algo][1]("MlpPolicy", env_id, seed=0, **HYPERPARAMETERS[algo]).learn(32)
        files[(algo, env_id)] = folder / f"{algo}_{env_id}.zip"
        model.save(files[(algo, env_id)])
    return files


@pytest.mark.parametrize("algo, env_id", CASES)
def test_sb3_file_loads_in_mlx_and_training_continues(sb3_files, algo, env_id):
    ours_cls, sb3_cls = ALGOS[algo]
    theirs = sb3_cls.load(sb3_files[(algo, env_id)])
    ours = ours_cls.load(sb3_files[(algo, env_id)], env=gym.make(env_id))
    obs = _observations(env_id)
    _assert_same_actions(ours.predict(obs, deterministic=True)[0], theirs.predict(obs, deterministic=True)[0], env_id)
    _assert_same_optimizer_state(ours, theirs)
    assert ours.num_timesteps == theirs.num_timesteps == 32
    steps = int(ours.policy.optimizer.state["step"])
    ours.learn(32, reset_num_timesteps=False)
    assert ours.num_timesteps == 64 and int(ours.policy.optimizer.state["step"]) > steps


@pytest.mark.parametrize("algo, env_id", CASES)
def test_mlx_file_loads_in_sb3_and_training_continues(sb3_files, tmp_path, algo, env_id):
    ours_cls, sb3_cls = ALGOS[algo]
    ours = ours_cls("MlpPolicy", env_id, seed=0, **HYPERPARAMETERS[algo]).learn(32)
    ours.save(tmp_path / "ours.zip")
    with zipfile.ZipFile(tmp_path / "ours.zip") as archive, zipfile.ZipFile(sb3_files[(algo, env_id)]) as reference:
        # The same attributes as SB3's own file, nothing MLX-specific.
        assert sorted(json.loads(archive.read("data"))) == sorted(json.loads(reference.read("data")))
        assert archive.namelist() == reference.namelist()
    theirs = sb3_cls.load(tmp_path / "ours.zip", env=gym.make(env_id))
    obs = _observations(env_id)
    _assert_same_actions(ours.predict(obs, deterministic=True)[0], theirs.predict(obs, deterministic=True)[0], env_id)
    _assert_same_optimizer_state(ours, theirs)
    steps = theirs.policy.optimizer.state_dict()["state"][0]["step"].item()
    theirs.learn(32, reset_num_timesteps=False)
    assert theirs.num_timesteps == 64 and theirs.policy.optimizer.state_dict()["state"][0]["step"].item() > steps
    # And back: SB3's continued model loads here and acts as in SB3.
    theirs.save(tmp_path / "theirs.zip")
    back = ours_cls.load(tmp_path / "theirs.zip")
    _assert_same_actions(back.predict(obs, deterministic=True)[0], theirs.predict(obs, deterministic=True)[0], env_id)


def test_policy_files_move_both_ways(tmp_path):
    observation_space, action_space = spaces.Box(-1, 1, (3,)), spaces.Box(-2, 2, (2,))
    theirs = sb3.common.policies.ActorCriticPolicy(
        observation_space, action_space, lambda _: 1e-3, net_arch=dict(pi=[16], vf=[8]), activation_fn=th.nn.ReLU
    )
    theirs.save(tmp_path / "sb3_policy.pth")
    ours = ActorCriticPolicy.load(tmp_path / "sb3_policy.pth")
    obs = np.random.default_rng(0).uniform(-1, 1, (32, 3)).astype(np.float32)
    _assert_same_actions(ours.predict(obs, deterministic=True)[0], theirs.predict(obs, deterministic=True)[0], "box")
    ours.save(tmp_path / "our_policy.pth")
    again = sb3.common.policies.ActorCriticPolicy.load(tmp_path / "our_policy.pth")
    assert again.activation_fn is th.nn.ReLU and again.net_arch == dict(pi=[16], vf=[8])
    for key, value in theirs.state_dict().items():
        assert th.equal(again.state_dict()[key], value), key


def test_cnn_weights_move_both_ways():
    image = spaces.Box(0, 255, (3, 36, 36), np.uint8)
    kwargs = dict(features_extractor_kwargs=dict(features_dim=16))
    theirs = sb3.common.policies.ActorCriticCnnPolicy(image, spaces.Discrete(4), lambda _: 1e-3, **kwargs)
    ours = ActorCriticCnnPolicy(image, spaces.Discrete(4), lambda _: 1e-3, **kwargs)
    buffer = io.BytesIO()
    th.save(theirs.state_dict(), buffer)
    load_module_state_dict(ours, torch_format.load(buffer.getvalue(), map_tensor=mx.array))
    image.seed(0)
    obs = np.stack([image.sample() for _ in range(8)])
    _assert_same_actions(ours.predict(obs, deterministic=True)[0], theirs.predict(obs, deterministic=True)[0], "CartPole-v1")
    with th.no_grad():
        values = theirs.predict_values(th.as_tensor(obs)).numpy()
    np.testing.assert_allclose(np.asarray(ours.predict_values(mx.array(obs))), values, rtol=0, atol=1e-5)
    buffer = io.BytesIO()
    torch_format.save(module_state_dict(ours), buffer)
    fresh = sb3.common.policies.ActorCriticCnnPolicy(image, spaces.Discrete(4), lambda _: 1e-3, **kwargs)
    fresh.load_state_dict(th.load(io.BytesIO(buffer.getvalue()), weights_only=True))
    for key, value in theirs.state_dict().items():
        assert th.equal(fresh.state_dict()[key], value), key


# Runs in a fresh interpreter where importing torch or stable_baselines3 fails.
_TORCH_FREE_SCRIPT = """
import json, sys

class BlockTorch:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "stable_baselines3"):
            raise ImportError(f"{name} is blocked in this test")
        return None

sys.meta_path.insert(0, BlockTorch())
import numpy as np
from mlx_baselines3 import A2C, PPO

results = {}
for name, path, obs in json.loads(sys.argv[1]):
    model = {"PPO": PPO, "A2C": A2C}[name].load(path)
    results[path] = model.predict(np.asarray(obs, dtype=np.float32), deterministic=True)[0].tolist()
assert not any(module.split(".")[0] in ("torch", "stable_baselines3") for module in sys.modules)
print(json.dumps(results))
"""


def test_sb3_files_load_and_predict_without_torch(sb3_files):
    # A2C's default file names torch.optim.RMSprop in its data; Pendulum checks continuous actions.
    cases = [("A2C", "CartPole-v1"), ("PPO", "Pendulum-v1")]
    jobs = [(algo, str(sb3_files[(algo, env_id)]), _observations(env_id).tolist()) for algo, env_id in cases]
    root = pathlib.Path(mlx_baselines3.__file__).parent.parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    completed = subprocess.run(
        [sys.executable, "-c", _TORCH_FREE_SCRIPT, json.dumps(jobs)], capture_output=True, text=True, env=env, timeout=300
    )
    assert completed.returncode == 0, completed.stderr
    results = json.loads(completed.stdout.strip().splitlines()[-1])
    for (algo, env_id), (_, path, obs) in zip(cases, jobs, strict=True):
        expected = ALGOS[algo][1].load(path).predict(np.asarray(obs, dtype=np.float32), deterministic=True)[0]
        _assert_same_actions(np.asarray(results[path]), expected, env_id)

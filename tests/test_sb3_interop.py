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
from mlx_baselines3.common import torch_format
from mlx_baselines3.common.policies import ActorCriticCnnPolicy, ActorCriticPolicy
from mlx_baselines3.common.save_util import load_module_state_dict, module_state_dict

th = pytest.importorskip("torch")
sb3 = pytest.importorskip("stable_baselines3")

OFF_POLICY = dict(learning_starts=8, buffer_size=200, train_freq=4, batch_size=8)
HYPERPARAMETERS = {
    "PPO": dict(n_steps=16, batch_size=8, n_epochs=2),
    "A2C": dict(n_steps=8),
    "DQN": OFF_POLICY,
    "SAC": OFF_POLICY,
    "TD3": OFF_POLICY,
    "DDPG": OFF_POLICY,
}
ALL_CASES = [
    ("PPO", "CartPole-v1"),
    ("PPO", "Pendulum-v1"),
    ("A2C", "CartPole-v1"),
    ("A2C", "Pendulum-v1"),
    ("DQN", "CartPole-v1"),
    ("SAC", "Pendulum-v1"),
    ("TD3", "Pendulum-v1"),
    ("DDPG", "Pendulum-v1"),
]
# The off-policy algorithms are tested as soon as the package exports them.
CASES = [(algo, env_id) for algo, env_id in ALL_CASES if hasattr(mlx_baselines3, algo)]
IDS = ["-".join(case) for case in CASES]


def _classes(algo: str):
    return getattr(mlx_baselines3, algo), getattr(sb3, algo)


def _observations(env_id: str) -> np.ndarray:
    space = gym.make(env_id).observation_space
    space.seed(0)
    return np.stack([space.sample() for _ in range(32)])


def _assert_same_actions(ours: np.ndarray, theirs: np.ndarray, env_id: str) -> None:
    if env_id == "CartPole-v1":
        np.testing.assert_array_equal(ours, theirs)
    else:
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-5)


def _assert_same_state_dicts(ours_model, theirs_model, variables: bool = True) -> None:
    # Every network's weights and every optimizer's state, as torch state dicts, against torch's own.
    ours, theirs = ours_model.get_parameters(), theirs_model.get_parameters()
    assert list(ours) == list(theirs)
    for name, expected in theirs.items():
        if "param_groups" not in expected:
            assert list(ours[name]) == list(expected), name
            for key, value in expected.items():
                np.testing.assert_array_equal(np.asarray(ours[name][key]), value.numpy(), err_msg=f"{name}/{key}")
            continue
        assert ours[name]["param_groups"] == expected["param_groups"], name
        assert sorted(ours[name]["state"]) == sorted(expected["state"]) and len(expected["state"]) > 0, name
        for index, state in expected["state"].items():
            assert list(ours[name]["state"][index]) == list(state), name
            for key, value in state.items():
                np.testing.assert_array_equal(np.asarray(ours[name]["state"][index][key]), value.numpy(), err_msg=f"{name}")
    for name in theirs_model._get_torch_save_params()[1] if variables else []:
        theirs_value = getattr(theirs_model, name)
        np.testing.assert_array_equal(np.asarray(getattr(ours_model, name)), theirs_value.detach().numpy(), err_msg=name)


def _first_steps(parameters: dict) -> dict[str, float]:
    return {name: float(value["state"][0]["step"]) for name, value in parameters.items() if "param_groups" in value}


@pytest.fixture(scope="module")
def sb3_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sb3")
    files = {}
    for algo, env_id in CASES:
        model = getattr(sb3, algo)("MlpPolicy", env_id, seed=0, **HYPERPARAMETERS[algo]).learn(32)
        files[(algo, env_id)] = folder / f"{algo}_{env_id}.zip"
        model.save(files[(algo, env_id)])
    return files


@pytest.mark.parametrize("algo, env_id", CASES, ids=IDS)
def test_sb3_file_loads_in_mlx_and_training_continues(sb3_files, algo, env_id):
    ours_cls, sb3_cls = _classes(algo)
    theirs = sb3_cls.load(sb3_files[(algo, env_id)])
    ours = ours_cls.load(sb3_files[(algo, env_id)], env=gym.make(env_id))
    obs = _observations(env_id)
    _assert_same_actions(ours.predict(obs, deterministic=True)[0], theirs.predict(obs, deterministic=True)[0], env_id)
    _assert_same_state_dicts(ours, theirs)
    assert ours.num_timesteps == theirs.num_timesteps == 32
    # SB3's get_parameters() (torch tensors) goes straight into set_parameters (which, as SB3's, leaves
    # pytorch_variables such as log_ent_coef alone).
    fresh = ours_cls("MlpPolicy", env_id, seed=1, **HYPERPARAMETERS[algo])
    fresh.set_parameters(theirs.get_parameters())
    _assert_same_state_dicts(fresh, theirs, variables=False)
    steps = _first_steps(ours.get_parameters())
    ours.learn(32, reset_num_timesteps=False)
    new_steps = _first_steps(ours.get_parameters())
    assert ours.num_timesteps == 64 and all(new_steps[name] > step for name, step in steps.items())


@pytest.mark.parametrize("algo, env_id", CASES, ids=IDS)
def test_mlx_file_loads_in_sb3_and_training_continues(sb3_files, tmp_path, algo, env_id):
    ours_cls, sb3_cls = _classes(algo)
    ours = ours_cls("MlpPolicy", env_id, seed=0, **HYPERPARAMETERS[algo]).learn(32)
    ours.save(tmp_path / "ours.zip")
    with zipfile.ZipFile(tmp_path / "ours.zip") as archive, zipfile.ZipFile(sb3_files[(algo, env_id)]) as reference:
        # SB3's members and attributes, nothing MLX-specific; our off-policy algorithms have no BatchNorm statistics
        # (SB3 saves empty lists for networks without BatchNorm).
        ours_keys, sb3_keys = set(json.loads(archive.read("data"))), set(json.loads(reference.read("data")))
        assert ours_keys <= sb3_keys and all("batch_norm_stats" in key for key in sb3_keys - ours_keys)
        assert archive.namelist() == reference.namelist()
    theirs = sb3_cls.load(tmp_path / "ours.zip", env=gym.make(env_id))
    obs = _observations(env_id)
    _assert_same_actions(ours.predict(obs, deterministic=True)[0], theirs.predict(obs, deterministic=True)[0], env_id)
    _assert_same_state_dicts(ours, theirs)
    steps = _first_steps(theirs.get_parameters())
    theirs.learn(32, reset_num_timesteps=False)
    new_steps = _first_steps(theirs.get_parameters())
    assert theirs.num_timesteps == 64 and all(new_steps[name] > step for name, step in steps.items())
    # And back: SB3's continued model loads here and acts as in SB3.
    theirs.save(tmp_path / "theirs.zip")
    back = ours_cls.load(tmp_path / "theirs.zip")
    _assert_same_actions(back.predict(obs, deterministic=True)[0], theirs.predict(obs, deterministic=True)[0], env_id)
    _assert_same_state_dicts(back, theirs)


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
import mlx_baselines3

results = {}
for name, path, obs in json.loads(sys.argv[1]):
    model = getattr(mlx_baselines3, name).load(path)
    results[path] = model.predict(np.asarray(obs, dtype=np.float32), deterministic=True)[0].tolist()
assert not any(module.split(".")[0] in ("torch", "stable_baselines3") for module in sys.modules)
print(json.dumps(results))
"""


def test_sb3_files_load_and_predict_without_torch(sb3_files):
    # A2C's default file names torch.optim.RMSprop in its data; Pendulum checks continuous actions.
    cases = [("A2C", "CartPole-v1"), ("PPO", "Pendulum-v1"), *[case for case in CASES if case[0] == "SAC"]]
    jobs = [(algo, str(sb3_files[(algo, env_id)]), _observations(env_id).tolist()) for algo, env_id in cases]
    root = pathlib.Path(mlx_baselines3.__file__).parent.parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    completed = subprocess.run(
        [sys.executable, "-c", _TORCH_FREE_SCRIPT, json.dumps(jobs)], capture_output=True, text=True, env=env, timeout=300
    )
    assert completed.returncode == 0, completed.stderr
    results = json.loads(completed.stdout.strip().splitlines()[-1])
    for (algo, env_id), (_, path, obs) in zip(cases, jobs, strict=True):
        expected = getattr(sb3, algo).load(path).predict(np.asarray(obs, dtype=np.float32), deterministic=True)[0]
        _assert_same_actions(np.asarray(results[path]), expected, env_id)

"""Saving and loading in SB3's zip format on our side: state-dict mapping, optimizer state, files, errors."""

import io
import json
import os
import warnings
import zipfile

import gymnasium as gym
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
import pytest
from gymnasium import spaces
from mlx.utils import tree_flatten

import mlx_baselines3
from mlx_baselines3 import A2C, PPO
from mlx_baselines3.common import torch_format
from mlx_baselines3.common.exceptions import LoadError
from mlx_baselines3.common.policies import ActorCriticCnnPolicy, ActorCriticPolicy
from mlx_baselines3.common.save_util import (
    data_to_json,
    json_to_data,
    load_from_pkl,
    load_from_zip_file,
    load_module_state_dict,
    load_optimizer_state_dict,
    module_state_dict,
    open_path,
    optimizer_state_dict,
    recursive_getattr,
    save_to_pkl,
    save_to_zip_file,
)
from mlx_baselines3.common.utils import ConstantSchedule, FloatSchedule, LinearSchedule

OBS = np.random.default_rng(0).uniform(-1, 1, size=(16, 4)).astype(np.float32)
PENDULUM_OBS = np.random.default_rng(1).uniform(-1, 1, size=(16, 3)).astype(np.float32)
OFF_POLICY = dict(learning_starts=8, buffer_size=200, train_freq=4, batch_size=8)
HYPERPARAMETERS = {
    "PPO": dict(n_steps=16, batch_size=8, n_epochs=1),
    "A2C": dict(n_steps=8),
    "DQN": OFF_POLICY,
    "SAC": OFF_POLICY,
    "TD3": OFF_POLICY,
    "DDPG": OFF_POLICY,
}
CASES = [
    (algo, env_id)
    for algo, env_id in [
        ("PPO", "CartPole-v1"),
        ("PPO", "Pendulum-v1"),
        ("A2C", "CartPole-v1"),
        ("DQN", "CartPole-v1"),
        ("SAC", "Pendulum-v1"),
        ("TD3", "Pendulum-v1"),
        ("DDPG", "Pendulum-v1"),
    ]
    # The off-policy algorithms are tested as soon as the package exports them.
    if hasattr(mlx_baselines3, algo)
]


def _make(algo: str, env, seed: int = 0):
    return getattr(mlx_baselines3, algo)("MlpPolicy", env, seed=seed, **HYPERPARAMETERS[algo])


def _observations(model):
    return OBS if model.observation_space.shape == (4,) else PENDULUM_OBS


def _optimizer_steps(model) -> dict[str, int]:
    optimizers = {name: recursive_getattr(model, name) for name in model._get_torch_save_params()[0]}
    return {name: int(opt.state["step"]) for name, opt in optimizers.items() if isinstance(opt, optim.Optimizer)}


@pytest.fixture(scope="module", params=CASES, ids=["-".join(case) for case in CASES])
def trained(request):
    return _make(*request.param).learn(32)


def _members(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


# --- MLX modules <-> torch state dicts ----------------------------------------------------------------------------


def test_state_dict_keys_order_and_layout_follow_torch():
    policy = ActorCriticPolicy(spaces.Box(-1, 1, (3,)), spaces.Box(-1, 1, (2,)), lambda _: 1e-3, net_arch=[8])
    state = module_state_dict(policy)
    # torch lists a module's own parameters (log_std) before its submodules'; Sequential drops "layers".
    assert list(state) == [
        "log_std",
        "mlp_extractor.policy_net.0.weight",
        "mlp_extractor.policy_net.0.bias",
        "mlp_extractor.value_net.0.weight",
        "mlp_extractor.value_net.0.bias",
        "action_net.weight",
        "action_net.bias",
        "value_net.weight",
        "value_net.bias",
    ]
    assert state["mlp_extractor.policy_net.0.weight"] is policy.mlp_extractor.policy_net.layers[0].weight
    assert state["log_std"].shape == (2,) and state["action_net.weight"].shape == (2, 8)


def test_shared_cnn_extractor_is_listed_under_sb3s_three_names_with_torch_conv_layout():
    image = spaces.Box(0, 255, (3, 36, 36), np.uint8)
    policy = ActorCriticCnnPolicy(image, spaces.Discrete(3), lambda _: 1e-3, features_extractor_kwargs=dict(features_dim=16))
    state = module_state_dict(policy)
    prefixes = [key.split(".")[0] for key in state]
    # NatureCNN: three convolutions and a linear layer, weight and bias each.
    assert prefixes[:24] == ["features_extractor"] * 8 + ["pi_features_extractor"] * 8 + ["vf_features_extractor"] * 8
    conv = policy.features_extractor.cnn.layers[0].weight
    assert conv.shape == (32, 8, 8, 3)  # MLX: OHWI
    assert state["features_extractor.cnn.0.weight"].shape == (32, 3, 8, 8)  # torch: OIHW
    np.testing.assert_array_equal(state["pi_features_extractor.cnn.0.weight"], np.moveaxis(np.asarray(conv), -1, 1))
    # Only the real parameters go to the optimizer (torch's parameters() lists a shared module once).
    assert len(optimizer_state_dict(policy.optimizer, policy)["param_groups"][0]["params"]) == 12
    # The aliases repeat their target: a state dict without them loads.
    target = ActorCriticCnnPolicy(image, spaces.Discrete(3), lambda _: 1e-3, features_extractor_kwargs=dict(features_dim=16))
    load_module_state_dict(target, {key: value for key, value in state.items() if not key.startswith(("pi_", "vf_"))})
    np.testing.assert_array_equal(target.features_extractor.cnn.layers[0].weight, conv)


class _Tree(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
        self.scale = mx.ones((2,))
        self._cache = mx.zeros((5,))  # private: not a parameter, not saved


def test_load_module_state_dict_values_and_errors():
    tree = _Tree()
    state = module_state_dict(tree)
    assert list(state) == ["scale", "body.0.weight", "body.0.bias", "body.2.weight", "body.2.bias"]
    new = {key: np.full(value.shape, 0.5, dtype=np.float64) for key, value in state.items()}
    load_module_state_dict(tree, new)
    assert tree.body.layers[2].weight.dtype == mx.float32  # cast to the parameter's dtype, as torch's copy_
    np.testing.assert_array_equal(tree.body.layers[2].weight, np.full((2, 4), 0.5))
    with pytest.raises(
        RuntimeError, match=r"Missing key\(s\) in state_dict: \['scale'\].*Unexpected key\(s\) in state_dict: \['extra'\]"
    ):
        load_module_state_dict(tree, {**{k: v for k, v in new.items() if k != "scale"}, "extra": np.zeros(1)})
    with pytest.raises(RuntimeError, match=r"size mismatch for body.0.weight: .* shape \(4, 5\) .* is \(4, 3\)"):
        load_module_state_dict(tree, {**new, "body.0.weight": np.zeros((4, 5))})
    load_module_state_dict(tree, {"scale": np.array([2.0, 3.0])}, exact_match=False)
    np.testing.assert_array_equal(tree.scale, [2.0, 3.0])
    np.testing.assert_array_equal(tree._cache, np.zeros(5))


def _fixed_gradients(params):
    return {key: mx.full(value.shape, 0.1 * (i + 1)) for i, (key, value) in enumerate(tree_flatten(params))}


@pytest.mark.parametrize(
    "make_optimizer, torch_keys",
    [
        (lambda: optim.Adam(1e-3, eps=1e-5, bias_correction=True), ["step", "exp_avg", "exp_avg_sq"]),
        (lambda: optim.AdamW(1e-3, weight_decay=0.02, bias_correction=True), ["step", "exp_avg", "exp_avg_sq"]),
        (lambda: optim.RMSprop(7e-4, alpha=0.99, eps=1e-5), ["step", "square_avg"]),
        (lambda: optim.SGD(1e-2, momentum=0.9), ["momentum_buffer"]),
        (lambda: optim.Adagrad(1e-2), ["step", "sum"]),
    ],
)
def test_optimizer_state_round_trip(make_optimizer, torch_keys):
    from mlx.utils import tree_unflatten

    source = _Tree()
    optimizer = make_optimizer()
    optimizer.init(source.trainable_parameters())
    for _ in range(3):
        grads = tree_unflatten(list(_fixed_gradients(source.trainable_parameters()).items()))
        optimizer.update(source, grads)
    saved = optimizer_state_dict(optimizer, source)
    assert saved["param_groups"][0]["params"] == [0, 1, 2, 3, 4]
    assert sorted(saved["state"]) == [0, 1, 2, 3, 4]
    assert list(saved["state"][0]) == torch_keys
    if "step" in torch_keys:
        assert saved["state"][0]["step"].shape == () and saved["state"][0]["step"].item() == 3.0
    # Index 0 is "scale", the module's own parameter, as in torch.
    first_key = torch_keys[-1]
    mlx_key = {"exp_avg_sq": "v", "square_avg": "v", "momentum_buffer": "v", "sum": "v"}[first_key]
    np.testing.assert_array_equal(saved["state"][0][first_key], optimizer.state["scale"][mlx_key])

    # Through the file format, into a fresh optimizer on a copy of the weights: the next update is identical.
    buffer = io.BytesIO()
    torch_format.save(saved, buffer)
    restored = torch_format.load(buffer.getvalue(), map_tensor=mx.array)
    target = _Tree()
    load_module_state_dict(target, module_state_dict(source))
    fresh = make_optimizer()
    fresh.learning_rate = 0.5
    load_optimizer_state_dict(fresh, restored, target)
    # torch's SGD keeps no step count (MLX's SGD does not use it either).
    assert int(fresh.state["step"]) == (3 if "step" in torch_keys else 0)
    assert fresh.learning_rate.item() == pytest.approx(optimizer.learning_rate.item())
    grads = tree_unflatten(list(_fixed_gradients(source.trainable_parameters()).items()))
    optimizer.update(source, grads)
    fresh.update(target, grads)
    for (key, a), (_, b) in zip(tree_flatten(source.parameters()), tree_flatten(target.parameters()), strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-7, err_msg=key)


def test_optimizer_state_errors():
    tree = _Tree()
    adam = optim.Adam(1e-3, bias_correction=True)
    adam.init(tree.trainable_parameters())
    rmsprop = optim.RMSprop(1e-3)
    rmsprop.init(tree.trainable_parameters())
    grads = tree.trainable_parameters()
    rmsprop.update(tree, grads)
    with pytest.raises(ValueError, match="saved with another optimizer class"):
        load_optimizer_state_dict(adam, optimizer_state_dict(rmsprop, tree), tree)
    saved = optimizer_state_dict(adam, tree)
    saved["param_groups"][0]["params"] = [0, 1]
    with pytest.raises(ValueError, match="covers 2 parameters, but this Adam updates 5"):
        load_optimizer_state_dict(adam, saved, tree)
    saved = optimizer_state_dict(adam, tree)
    saved["param_groups"][0]["amsgrad"] = True
    with pytest.raises(ValueError, match="amsgrad=True"):
        load_optimizer_state_dict(adam, saved, tree)


# --- Algorithms ---------------------------------------------------------------------------------------------------


def test_save_load_save_is_byte_identical(trained, tmp_path):
    trained.save(tmp_path / "first.zip")
    loaded = type(trained).load(tmp_path / "first.zip")
    loaded.save(tmp_path / "second.zip")
    first, second = _members(tmp_path / "first.zip"), _members(tmp_path / "second.zip")
    state_dicts = [f"{name}.pth" for name in trained._get_torch_save_params()[0]]
    assert list(first) == ["data", "pytorch_variables.pth", *state_dicts, "_stable_baselines3_version", "system_info.txt"]
    for name in ["pytorch_variables.pth", *state_dicts]:
        assert first[name] == second[name], name
    # The pickles in data may share objects differently (a NumPy dtype unpickles as a new object), their values not.
    first_data, second_data = json.loads(first["data"]), json.loads(second["data"])
    assert sorted(first_data) == sorted(second_data)
    for key, value in first_data.items():
        if isinstance(value, dict) and ":serialized:" in value:
            value, second_data[key] = ({k: v for k, v in d.items() if k != ":serialized:"} for d in (value, second_data[key]))
        assert value == second_data[key], key
    assert first["_stable_baselines3_version"] == b"2.9.2"
    assert b"- PyTorch:" in first["system_info.txt"] and b"- GPU Enabled:" in first["system_info.txt"]


def _assert_same_parameters(ours: dict, expected: dict) -> None:
    assert list(ours) == list(expected)
    for name in expected:
        ours_flat, expected_flat = tree_flatten(ours[name]), tree_flatten(expected[name])
        assert [key for key, _ in ours_flat] == [key for key, _ in expected_flat], name
        for (key, a), (_, b) in zip(ours_flat, expected_flat, strict=True):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=f"{name}/{key}")


def test_loaded_model_predicts_the_same_and_keeps_optimizer_state(trained, tmp_path):
    trained.save(tmp_path / "model.zip")
    loaded = type(trained).load(tmp_path / "model.zip")
    obs = _observations(trained)
    np.testing.assert_array_equal(loaded.predict(obs, deterministic=True)[0], trained.predict(obs, deterministic=True)[0])
    # Weights and every optimizer's moments and step count survive.
    _assert_same_parameters(loaded.get_parameters(), trained.get_parameters())
    assert _optimizer_steps(loaded) == _optimizer_steps(trained) and min(_optimizer_steps(trained).values()) > 0
    for name in trained._get_torch_save_params()[1]:
        np.testing.assert_array_equal(recursive_getattr(loaded, name), recursive_getattr(trained, name), err_msg=name)
    assert loaded.num_timesteps == trained.num_timesteps == 32
    assert isinstance(loaded.lr_schedule, FloatSchedule) and loaded.policy_class is type(trained.policy)


def test_get_set_parameters_round_trip(trained, tmp_path):
    algo = type(trained).__name__
    params = trained.get_parameters()
    assert list(params) == trained._get_torch_save_params()[0]
    other = _make(algo, trained.env, seed=1)
    other.set_parameters(params)
    obs = _observations(trained)
    np.testing.assert_array_equal(other.predict(obs, deterministic=True)[0], trained.predict(obs, deterministic=True)[0])
    _assert_same_parameters(other.get_parameters(), params)
    # From a file, and partially (exact_match=False updates only what is given).
    trained.save(tmp_path / "model.zip")
    fresh = _make(algo, trained.env, seed=2)
    fresh.set_parameters(str(tmp_path / "model.zip"))
    np.testing.assert_array_equal(fresh.predict(obs, deterministic=True)[0], trained.predict(obs, deterministic=True)[0])
    last_key, last_value = list(params["policy"].items())[-1]
    fresh.set_parameters({"policy": {last_key: np.full(last_value.shape, 42.0)}}, exact_match=False)
    assert np.all(np.asarray(fresh.get_parameters()["policy"][last_key]) == 42.0)
    with pytest.raises(ValueError, match=r"missing \[.*\.pth'\]"):
        fresh.set_parameters({"policy": params["policy"]})


def test_training_continues_after_loading(trained, tmp_path):
    trained.save(tmp_path / "model.zip")
    env_id = "CartPole-v1" if trained.observation_space.shape == (4,) else "Pendulum-v1"
    loaded = type(trained).load(tmp_path / "model.zip", env=gym.make(env_id))
    weights = {key: np.asarray(value) for key, value in tree_flatten(loaded.policy.parameters())}
    loaded.learn(32, reset_num_timesteps=False)
    assert loaded.num_timesteps == 64
    saved_steps, new_steps = _optimizer_steps(trained), _optimizer_steps(loaded)
    assert all(new_steps[name] > steps for name, steps in saved_steps.items()), (saved_steps, new_steps)
    assert any(not np.array_equal(weights[key], value) for key, value in tree_flatten(loaded.policy.parameters()))


def test_kwargs_and_custom_objects(tmp_path):
    model = PPO("MlpPolicy", "CartPole-v1", n_steps=16, batch_size=8, learning_rate=LinearSchedule(1e-3, 1e-4, 1.0))
    model.save(tmp_path / "model")
    assert (tmp_path / "model.zip").is_file()
    loaded = PPO.load(tmp_path / "model", custom_objects={"learning_rate": 5e-4, "lr_schedule": None}, gamma=0.9)
    assert loaded.learning_rate == 5e-4 and loaded.lr_schedule(0.0) == 5e-4 and loaded.gamma == 0.9
    with pytest.raises(ValueError, match="do not equal the stored policy kwargs"):
        PPO.load(tmp_path / "model.zip", policy_kwargs=dict(net_arch=[8]))
    # A lambda learning rate is pickled by value: skipped by default (one warning, the constant in use instead), loaded
    # with trusted=True.
    lambda_model = PPO("MlpPolicy", "CartPole-v1", n_steps=16, batch_size=8, learning_rate=lambda progress: 1e-3 * progress)
    lambda_model.save(tmp_path / "lambda.zip")
    with pytest.warns(UserWarning, match=r"skipped the saved entries \['learning_rate'\].*custom_objects.*trusted=True"):
        assert PPO.load(tmp_path / "lambda.zip").learning_rate == pytest.approx(1e-3)
    assert PPO.load(tmp_path / "lambda.zip", trusted=True).lr_schedule(0.5) == pytest.approx(5e-4)
    assert PPO.load(tmp_path / "lambda.zip", custom_objects={"learning_rate": 1e-3, "lr_schedule": None}).learning_rate == 1e-3


# --- Errors -------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ppo_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("ppo") / "ppo.zip"
    PPO("MlpPolicy", "CartPole-v1", n_steps=16, batch_size=8, n_epochs=1).learn(16).save(path)
    return path


def _rewrite(source, target, drop=(), replace=None):
    with zipfile.ZipFile(source) as archive, zipfile.ZipFile(target, "w") as out:
        for name in archive.namelist():
            if name not in drop:
                out.writestr(name, (replace or {}).get(name, archive.read(name)))
    return target


def test_wrong_algorithm_class(ppo_file, tmp_path):
    with pytest.raises(
        ValueError, match=r"A2C.load: .* was saved by PPO, not A2C: it has the hyperparameters \['clip_range', 'n_epochs'\]"
    ):
        A2C.load(ppo_file)
    A2C("MlpPolicy", "CartPole-v1", n_steps=8).save(tmp_path / "a2c.zip")
    with pytest.raises(ValueError, match=r"PPO.load: .* not PPO: .* lacks \['clip_range', 'n_epochs'\]"):
        PPO.load(tmp_path / "a2c.zip")


class _CartPoleThreeActions(gym.Wrapper):
    def __init__(self):
        super().__init__(gym.make("CartPole-v1"))
        self.action_space = spaces.Discrete(3)


def test_mismatched_env_spaces(ppo_file):
    with pytest.raises(ValueError, match="does not match the saved model: Observation spaces do not match"):
        PPO.load(ppo_file, env=gym.make("MountainCar-v0"))
    with pytest.raises(ValueError, match="does not match the saved model: Action spaces do not match"):
        PPO.load(ppo_file, env=_CartPoleThreeActions())


def test_missing_members_and_corrupt_files(ppo_file, tmp_path):
    with pytest.raises(ValueError, match=r"missing \['policy.pth'\]"):
        PPO.load(_rewrite(ppo_file, tmp_path / "no_policy.zip", drop=("policy.pth",)))
    with pytest.raises(ValueError, match="has no 'data' member"):
        PPO.load(_rewrite(ppo_file, tmp_path / "no_data.zip", drop=("data",)))
    data = json.loads(_members(ppo_file)["data"])
    del data["observation_space"]
    with pytest.raises(KeyError, match="observation_space and action_space were not given"):
        PPO.load(_rewrite(ppo_file, tmp_path / "no_space.zip", replace={"data": json.dumps(data)}))
    with pytest.raises(ValueError, match=r"member 'policy\.pth': Not a torch file"):
        PPO.load(_rewrite(ppo_file, tmp_path / "bad_pth.zip", replace={"policy.pth": b"not a torch file"}))
    (tmp_path / "text.zip").write_text("not a zip")
    with pytest.raises(ValueError, match="wasn't a zip-file"):
        PPO.load(tmp_path / "text.zip")
    content = ppo_file.read_bytes()
    (tmp_path / "truncated.zip").write_bytes(content[: len(content) // 2])
    with pytest.raises(ValueError, match="is truncated or corrupt"):
        PPO.load(tmp_path / "truncated.zip")
    (tmp_path / "cut_directory.zip").write_bytes(content[:-30])
    with pytest.raises(ValueError, match="is truncated or corrupt"):
        PPO.load(tmp_path / "cut_directory.zip")
    with pytest.raises(FileNotFoundError):
        PPO.load(tmp_path / "absent.zip")


# --- Files --------------------------------------------------------------------------------------------------------


def test_paths_file_objects_and_atomic_writes(ppo_file, tmp_path, monkeypatch):
    model = PPO.load(ppo_file)
    buffer = io.BytesIO()
    model.save(buffer)
    buffer.seek(0)
    from_buffer = PPO.load(buffer)
    np.testing.assert_array_equal(from_buffer.predict(OBS, deterministic=True)[0], model.predict(OBS, deterministic=True)[0])
    with pytest.warns(UserWarning, match="does not exist. Will create it"):
        model.save(str(tmp_path / "new" / "dir" / "model"))
    assert (tmp_path / "new" / "dir" / "model.zip").is_file()
    (tmp_path / "folder.zip").mkdir()
    with pytest.warns(UserWarning, match="is a folder. Will save instead"):
        model.save(tmp_path / "folder.zip")
    assert (tmp_path / "folder.zip_2").is_file()

    # A save that fails half-way leaves the previous file as it was and no temporary file behind.
    target = tmp_path / "kept.zip"
    model.save(target)
    before = target.read_bytes()

    def failing_save(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch_format, "save", failing_save)
    with pytest.raises(OSError, match="disk full"):
        model.save(target)
    assert target.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["folder.zip", "folder.zip_2", "kept.zip", "new"]


def test_open_path_variants(tmp_path):
    with open_path(str(tmp_path / "file"), "w", suffix="txt") as file:
        file.write(b"x")
    assert (tmp_path / "file.txt").read_bytes() == b"x"
    with open_path(tmp_path / "file", "r", suffix="txt") as file:
        assert file.read() == b"x"
    with pytest.raises(ValueError, match="Expected mode to be either 'w' or 'r', got 'a'"):
        open_path(tmp_path / "file.txt", "a")
    with pytest.raises(TypeError, match="has invalid type"):
        open_path(io.StringIO(), "r")
    with open(tmp_path / "file.txt", "rb") as file, pytest.raises(ValueError, match="Expected a writable file"):
        open_path(file, "w")


def test_data_json_encoding():
    space = spaces.Box(-1.0, 1.0, (2,), np.float32)
    data = {
        "gamma": 0.99,
        "net_arch": [64, 64],
        "observation_space": space,
        "lr_schedule": FloatSchedule(ConstantSchedule(3e-4)),
        "_last_obs": np.arange(4.0).reshape(2, 2),
    }
    text = data_to_json(data)
    raw = json.loads(text)
    assert raw["gamma"] == 0.99 and raw["net_arch"] == [64, 64]
    assert raw["observation_space"][":type:"] == "<class 'gymnasium.spaces.box.Box'>"
    assert raw["observation_space"]["_shape"] == [2]  # readable copy of the attributes, as SB3 writes
    assert raw["lr_schedule"][":serialized:"].startswith("gAWV")  # protocol 5, as SB3's cloudpickle
    decoded = json_to_data(text)
    assert decoded["observation_space"] == space and decoded["lr_schedule"](0.5) == pytest.approx(3e-4)
    np.testing.assert_array_equal(decoded["_last_obs"], data["_last_obs"])
    assert json_to_data(text, custom_objects={"observation_space": "replaced"})["observation_space"] == "replaced"
    with pytest.raises(ValueError, match="custom_objects must be a dict or None"):
        json_to_data(text, custom_objects=[("gamma", 1)])
    with pytest.raises(ValueError, match="not valid JSON"):
        json_to_data(text[:-3])


def test_zip_file_functions_and_pickles(tmp_path):
    state = {"w": mx.ones((2, 3))}
    save_to_zip_file(
        tmp_path / "weights", data={"gamma": 0.9}, params={"policy": state}, pytorch_variables={"log_ent_coef": mx.zeros(1)}
    )
    data, params, variables = load_from_zip_file(tmp_path / "weights")
    assert data == {"gamma": 0.9}
    np.testing.assert_array_equal(params["policy"]["w"], np.ones((2, 3)))
    np.testing.assert_array_equal(variables["log_ent_coef"], [0.0])
    assert load_from_zip_file(tmp_path / "weights.zip", load_data=False)[0] is None

    save_to_pkl(tmp_path / "buffer", {"obs": np.arange(3), "space": spaces.Discrete(4)})
    loaded = load_from_pkl(tmp_path / "buffer")
    np.testing.assert_array_equal(loaded["obs"], np.arange(3))
    assert loaded["space"] == spaces.Discrete(4)
    save_to_pkl(tmp_path / "custom.pkl", _Opaque())
    with pytest.raises(LoadError, match=r"_Opaque.*trusted=True"):
        load_from_pkl(tmp_path / "custom.pkl")
    assert isinstance(load_from_pkl(tmp_path / "custom.pkl", trusted=True), _Opaque)


class _Opaque:
    pass


def test_policy_save_and_load(tmp_path):
    policy = ActorCriticPolicy(
        spaces.Box(-1, 1, (4,)), spaces.Discrete(2), lambda _: 1e-3, net_arch=[8], activation_fn=nn.ReLU
    )
    policy.save(tmp_path / "policy.pth")
    first = (tmp_path / "policy.pth").read_bytes()
    loaded = ActorCriticPolicy.load(tmp_path / "policy.pth")
    assert loaded.activation_fn is nn.ReLU and loaded.net_arch == [8]
    np.testing.assert_array_equal(loaded.predict(OBS, deterministic=True)[0], policy.predict(OBS, deterministic=True)[0])
    loaded.save(tmp_path / "again.pth")
    assert ActorCriticPolicy.load(tmp_path / "again.pth").activation_fn is nn.ReLU
    with zipfile.ZipFile(io.BytesIO(first)) as archive:
        # torch names the archive folder after the file.
        assert archive.namelist()[0] == "policy/data.pkl"
    with pytest.raises(ValueError, match="is not a policy file"):
        buffer = io.BytesIO()
        torch_format.save({"weights": mx.ones(2)}, buffer)
        buffer.seek(0)
        ActorCriticPolicy.load(buffer)


def test_save_names_the_attribute_that_cannot_be_pickled(tmp_path):
    model = PPO("MlpPolicy", "CartPole-v1", n_steps=16, batch_size=8)
    model.unpicklable = mx.compile(lambda x: x)
    with pytest.raises(TypeError, match=r"Cannot save the attribute 'unpicklable'.*_excluded_save_params"):
        model.save(tmp_path / "model.zip")
    model.save(tmp_path / "model.zip", exclude=["unpicklable"])
    assert "unpicklable" not in json.loads(_members(tmp_path / "model.zip")["data"])


def test_no_warnings_on_a_plain_round_trip(tmp_path):
    model = PPO("MlpPolicy", "CartPole-v1", n_steps=16, batch_size=8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.save(tmp_path / "model.zip")
        PPO.load(tmp_path / "model.zip")


@pytest.mark.skipif(not hasattr(mlx_baselines3, "DQN"), reason="DQN is not exported yet")
def test_dqn_files_of_sb3_before_2_4_list_the_target_network_in_the_optimizer(tmp_path):
    model = _make("DQN", "CartPole-v1").learn(32)
    model.save(tmp_path / "dqn.zip")
    members = _members(tmp_path / "dqn.zip")
    optimizer = torch_format.load(members["policy.optimizer.pth"])
    n_params = len(optimizer["param_groups"][0]["params"])
    # Before SB3 2.4 the target network's parameters followed the online network's, without state.
    optimizer["param_groups"][0]["params"] = list(range(2 * n_params))
    buffer = io.BytesIO()
    torch_format.save(optimizer, buffer)
    _rewrite(tmp_path / "dqn.zip", tmp_path / "old.zip", replace={"policy.optimizer.pth": buffer.getvalue()})
    with pytest.warns(UserWarning, match=r"DQN model saved with SB3 < 2\.4\.0"):
        loaded = mlx_baselines3.DQN.load(tmp_path / "old.zip")
    _assert_same_parameters(loaded.get_parameters(), model.get_parameters())


def test_a2c_ppo_files_of_sb3_before_1_7_without_extractor_aliases_load(tmp_path):
    image = spaces.Box(0, 255, (1, 36, 36), np.uint8)
    model = PPO(
        "CnnPolicy",
        _ImageEnv(image),
        n_steps=8,
        batch_size=8,
        policy_kwargs=dict(features_extractor_kwargs=dict(features_dim=8)),
    )
    model.save(tmp_path / "ppo.zip")
    state = torch_format.load(_members(tmp_path / "ppo.zip")["policy.pth"])
    buffer = io.BytesIO()
    torch_format.save({key: mx.array(value) for key, value in state.items() if not key.startswith(("pi_", "vf_"))}, buffer)
    _rewrite(tmp_path / "ppo.zip", tmp_path / "old.zip", replace={"policy.pth": buffer.getvalue()})
    loaded = PPO.load(tmp_path / "old.zip")
    _assert_same_parameters(loaded.get_parameters(), model.get_parameters())


class _ImageEnv(gym.Env):
    def __init__(self, observation_space):
        self.observation_space, self.action_space = observation_space, spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        return self.observation_space.sample(), {}

    def step(self, action):
        return self.observation_space.sample(), 0.0, False, False, {}

"""``device="auto"``: the GPU where a gradient step holds enough work to pay for it, the CPU for small networks."""

import mlx.core as mx
import pytest

import mlx_baselines3.common.base_class as base_class
from mlx_baselines3 import DQN, PPO, SAC, TD3
from mlx_baselines3.common.envs import FakeImageEnv


@pytest.fixture
def pretend_gpu(monkeypatch):
    """
    Pretend that MLX has a GPU: ``get_device("auto")`` answers the GPU, and the default device the algorithms set is
    recorded instead of applied (this machine may have no GPU to run on).

    :return: the list of devices set as MLX's default, in order
    """
    chosen = []
    monkeypatch.setattr(base_class, "get_device", lambda device: mx.cpu if str(device) == "cpu" else mx.gpu)
    monkeypatch.setattr(mx, "set_default_device", chosen.append)
    return chosen


@pytest.mark.parametrize(
    "make_model, expected",
    [
        # SB3's default networks: a few thousand parameters, minibatches of 32-64.
        (lambda: PPO("MlpPolicy", "CartPole-v1", n_steps=64, batch_size=64), mx.cpu),
        (lambda: DQN("MlpPolicy", "CartPole-v1", buffer_size=1000), mx.cpu),
        # 2 x 256 hidden units, minibatches of 256: about 2e5 parameters x 256 samples.
        (lambda: SAC("MlpPolicy", "Pendulum-v1", buffer_size=1000), mx.gpu),
        (lambda: TD3("MlpPolicy", "Pendulum-v1", buffer_size=1000), mx.gpu),
        (
            lambda: PPO("MlpPolicy", "CartPole-v1", n_steps=256, batch_size=256, policy_kwargs=dict(net_arch=[256, 256])),
            mx.gpu,
        ),
        # Convolutions always go to the GPU.
        (lambda: DQN("CnnPolicy", FakeImageEnv(screen_height=36, screen_width=36), buffer_size=100), mx.gpu),
    ],
    ids=["ppo-default", "dqn-default", "sac-default", "td3-default", "ppo-256x256-batch256", "dqn-cnn"],
)
def test_auto_device_follows_the_work_per_gradient_step(pretend_gpu, make_model, expected):
    model = make_model()
    assert model.device == expected
    assert pretend_gpu[-1] == expected


def test_explicit_devices_are_kept(pretend_gpu):
    assert PPO("MlpPolicy", "CartPole-v1", n_steps=64, batch_size=64, device="cpu").device == mx.cpu
    # The user's choice wins over the measurement; PPO warns about small MLPs on the GPU as SB3 does.
    with pytest.warns(UserWarning, match="primarily intended to run on the CPU"):
        assert PPO("MlpPolicy", "CartPole-v1", n_steps=64, batch_size=64, device="gpu").device == mx.gpu


def test_auto_is_settled_when_loading(pretend_gpu, tmp_path):
    SAC("MlpPolicy", "Pendulum-v1", buffer_size=1000).save(tmp_path / "sac.zip")
    PPO("MlpPolicy", "CartPole-v1", n_steps=64, batch_size=64).save(tmp_path / "ppo.zip")
    assert SAC.load(tmp_path / "sac.zip").device == mx.gpu
    assert PPO.load(tmp_path / "ppo.zip").device == mx.cpu


def test_verbose_names_the_chosen_device(pretend_gpu, capsys):
    PPO("MlpPolicy", "CartPole-v1", n_steps=64, batch_size=64, verbose=1)
    assert capsys.readouterr().out.count("Using cpu device") == 1

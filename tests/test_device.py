"""``device="auto"``: the GPU where a gradient step holds enough work to pay for it, the CPU for small networks."""

import pickle

import mlx.core as mx
import pytest

import mlx_baselines3.common.base_class as base_class
from mlx_baselines3 import DQN, PPO, SAC, TD3
from mlx_baselines3.common.envs import FakeImageEnv
from mlx_baselines3.common.utils import Device, get_device


@pytest.fixture
def pretend_gpu(monkeypatch):
    """
    Pretend that MLX has a GPU: ``get_device("auto")`` answers the GPU, and the devices models run their work on are
    recorded, while the work runs on the CPU (this machine may have no GPU to run on).

    :return: the list of devices entered with ``mx.stream``, in order
    """
    chosen = []
    real_stream = mx.stream

    def recording_stream(device):
        chosen.append(get_device(device))
        return real_stream(mx.cpu)

    monkeypatch.setattr(base_class, "get_device", lambda device: Device("cpu" if str(device) == "cpu" else "cuda"))
    monkeypatch.setattr(mx, "stream", recording_stream)
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
    assert model.policy.device == expected
    # The model's work runs on its device.
    entered = len(pretend_gpu)
    model.predict(model.observation_space.sample())
    assert pretend_gpu[entered] == expected


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


def test_device_object_has_torch_devices_surface():
    cpu = get_device("cpu")
    assert (cpu.type, cpu.index, str(cpu), repr(cpu)) == ("cpu", None, "cpu", "device(type='cpu')")
    assert cpu == "cpu" and cpu == cpu and cpu == get_device("cpu") and cpu != "cuda" and cpu != "nonsense"
    assert cpu == mx.cpu and cpu == mx.Device(mx.cpu) and cpu != mx.gpu
    assert hash(cpu) == hash("cpu") and {cpu: 1}[get_device("cpu")] == 1
    gpu = Device("cuda", 1)
    assert (gpu.type, gpu.index, str(gpu), repr(gpu)) == ("cuda", 1, "cuda:1", "device(type='cuda', index=1)")
    assert gpu == "cuda:1" and gpu != "cuda" and gpu != Device("cuda") and gpu == mx.Device(mx.gpu, 1)
    assert gpu.mlx_device == mx.Device(mx.gpu, 1) and Device("cuda").mlx_device == mx.Device(mx.gpu, 0)
    assert Device.from_mlx(mx.Device(mx.gpu, 1)) == gpu and Device.from_mlx(mx.cpu) == cpu
    assert pickle.loads(pickle.dumps(gpu)) == gpu
    assert get_device(gpu) is gpu and get_device(mx.cpu) == cpu
    with pytest.raises(ValueError, match="Unknown device 'tpu'"):
        get_device("tpu")
    with pytest.raises(ValueError, match="Unknown device type 'gpu'"):
        Device("gpu")


@pytest.mark.skipif(mx.is_available(mx.gpu), reason="checks the fallback of a machine without GPU")
def test_gpu_names_fall_back_to_the_cpu_without_a_gpu():
    for name in ("gpu", "cuda", "cuda:0", "mps"):
        with pytest.warns(UserWarning, match="MLX has no GPU backend here; using the CPU"):
            assert get_device(name) == "cpu"
    assert get_device("auto") == "cpu"
    model = PPO("MlpPolicy", "CartPole-v1", n_steps=64, batch_size=64)
    # SB3 user code reads the device like torch's.
    assert model.device.type == "cpu" and str(model.device) == "cpu" and model.policy.device == model.device


def test_building_training_and_loading_leave_mlxs_default_device_alone(tmp_path):
    original = mx.default_stream(mx.default_device())
    # The user's own default (here a stream of their own; on a GPU machine it could be the GPU) must survive.
    users_stream = mx.new_stream(mx.cpu)
    mx.set_default_stream(users_stream)
    try:
        model = SAC("MlpPolicy", "Pendulum-v1", learning_starts=8, batch_size=8, buffer_size=100, device="cpu")
        model.learn(16)
        model.save(tmp_path / "sac.zip")
        loaded = SAC.load(tmp_path / "sac.zip", device="cpu")
        loaded.predict(model.observation_space.sample())
        assert (mx.default_device(), mx.default_stream(mx.default_device())) == (mx.Device(mx.cpu), users_stream)
    finally:
        mx.set_default_stream(original)


def test_two_models_on_different_devices_in_one_process(pretend_gpu):
    """Each model's work runs on its own device: a GPU model (recorded, run on the CPU here) and a CPU model."""
    on_gpu = SAC("MlpPolicy", "Pendulum-v1", learning_starts=8, batch_size=8, buffer_size=100, device="gpu")
    on_cpu = PPO("MlpPolicy", "CartPole-v1", n_steps=16, batch_size=16, device="cpu")
    assert (on_gpu.device.type, on_cpu.device.type) == ("cuda", "cpu")
    for model, expected in ((on_gpu, "cuda"), (on_cpu, "cpu"), (on_gpu, "cuda")):
        entered = len(pretend_gpu)
        model.learn(16, reset_num_timesteps=False)
        action, _ = model.predict(model.observation_space.sample())
        assert action.shape == model.action_space.shape
        # Every call on the model entered its device, and only that one.
        assert {device.type for device in pretend_gpu[entered:]} == {expected}
    assert (on_gpu.num_timesteps, on_cpu.num_timesteps) == (32, 16)

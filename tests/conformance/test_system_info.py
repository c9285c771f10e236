"""get_system_info: SB3's keys, in SB3's order and format, with our values and the GPU MLX sees."""

import mlx.core as mx
import pytest

import mlx_baselines3
from mlx_baselines3.common import utils
from mlx_baselines3.common.base_class import get_system_info as from_base_class

SB3_KEYS = ["OS", "Python", "Stable-Baselines3", "PyTorch", "GPU Enabled", "Numpy", "Cloudpickle", "Gymnasium"]


def test_sb3_keys_first_then_ours(capsys):
    info, text = mlx_baselines3.get_system_info()
    assert list(info)[: len(SB3_KEYS)] == SB3_KEYS
    assert list(info)[-3:] == ["MLX-Baselines3", "MLX", "GPU"]
    assert info["Stable-Baselines3"] == info["MLX-Baselines3"] == mlx_baselines3.__version__
    assert info["PyTorch"] == f"MLX {mx.__version__}" and info["MLX"] == mx.__version__
    assert info["GPU Enabled"] == str(mx.is_available(mx.gpu))
    assert text == "".join(f"- {key}: {value}\n" for key, value in info.items())
    assert capsys.readouterr().out == text + "\n"  # printed as SB3 prints it
    assert from_base_class is mlx_baselines3.get_system_info is utils.get_system_info


def test_same_keys_and_format_as_sb3():
    sb3 = pytest.importorskip("stable_baselines3")
    theirs, their_text = sb3.get_system_info(print_info=False)
    ours, our_text = mlx_baselines3.get_system_info(print_info=False)
    assert [key for key in ours if key in theirs] == list(theirs)
    for key in ("OS", "Python", "Numpy", "Cloudpickle", "Gymnasium"):
        assert ours[key] == theirs[key]
    assert their_text.splitlines()[0] == our_text.splitlines()[0]


def test_gpu_entry_names_the_device(monkeypatch):
    monkeypatch.setattr(utils, "_gpu_available", lambda: False)
    assert utils.get_system_info(print_info=False)[0]["GPU"] == "none (MLX has no GPU backend here)"
    monkeypatch.setattr(utils, "_gpu_available", lambda: True)
    monkeypatch.setattr(mx.cuda, "is_available", lambda: True)
    monkeypatch.setattr(mx, "device_info", lambda device=None: {"device_name": "NVIDIA H100 80GB HBM3"})
    info = utils.get_system_info(print_info=False)[0]
    assert info["GPU"] == "NVIDIA H100 80GB HBM3 (CUDA)" and info["GPU Enabled"] == "True"
    monkeypatch.setattr(mx.cuda, "is_available", lambda: False)
    monkeypatch.setattr(mx, "device_info", lambda device=None: {"device_name": "Apple M2 Max"})
    assert utils.get_system_info(print_info=False)[0]["GPU"] == "Apple M2 Max (Metal)"

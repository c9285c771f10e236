"""Helpers of the contrib parity and interop tests: weights in sb3-contrib's state-dict form, both ways."""

import numpy as np

try:
    import torch

    # One torch thread: on a small shared CPU, torch's thread pool spins against the other processes.
    torch.set_num_threads(1)
except ImportError:
    pass

ATOL = 1e-5


def copy_weights_to_torch(model, torch_model) -> None:
    """Load our policy's weights (as ``get_parameters`` names them) into the sb3-contrib model, keys matching exactly."""
    import torch as th

    state_dict = {key: th.tensor(np.array(value)) for key, value in model.get_parameters()["policy"].items()}
    missing, unexpected = torch_model.policy.load_state_dict(state_dict, strict=True)
    assert not missing and not unexpected


def assert_same_weights(model, torch_model, atol: float = ATOL) -> None:
    """Our policy's state dict has sb3-contrib's keys and, within ``atol``, its values."""
    ours = model.get_parameters()["policy"]
    theirs = torch_model.policy.state_dict()
    assert sorted(ours) == sorted(theirs)
    for key, value in theirs.items():
        np.testing.assert_allclose(np.array(ours[key]), value.detach().numpy(), atol=atol, rtol=0, err_msg=key)


def quiet_loggers(model, torch_model) -> None:
    """Loggers that record values without printing, on both sides."""
    from stable_baselines3.common.logger import configure as sb3_configure

    from mlx_baselines3.common.logger import configure

    model.set_logger(configure(None, [""]))
    torch_model.set_logger(sb3_configure(None, [""]))


def share_rollout(model, torch_model, n_steps: int) -> None:
    """Collect one rollout with the sb3-contrib model and give ours exactly the same data."""
    from stable_baselines3.common.callbacks import BaseCallback

    class Nothing(BaseCallback):
        def _on_step(self) -> bool:
            return True

    torch_model._setup_learn(total_timesteps=n_steps, callback=None)
    callback = Nothing()
    callback.init_callback(torch_model)
    torch_model.collect_rollouts(torch_model.env, callback, torch_model.rollout_buffer, n_rollout_steps=n_steps)
    for name in ("observations", "actions", "rewards", "returns", "episode_starts", "values", "log_probs", "advantages"):
        setattr(model.rollout_buffer, name, getattr(torch_model.rollout_buffer, name).copy())
    model.rollout_buffer.full = True
    model.rollout_buffer.generator_ready = False

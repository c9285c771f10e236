"""``EvalCallback`` for masked models."""

from mlx_baselines3.common.callbacks import EvalCallback
from mlx_baselines3.common.vec_env import sync_envs_normalization as sync_envs_normalization  # sb3-contrib's namespace
from mlx_baselines3.contrib.common.maskable.evaluation import evaluate_policy


class MaskableEvalCallback(EvalCallback):
    """
    ``EvalCallback`` (same arguments, logs, saved evaluations and best model) that evaluates the model under the eval
    env's action masks.

    :param use_masking: choose the evaluation actions under the env's masks
    """

    def __init__(self, *args, use_masking: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.use_masking = use_masking

    def _evaluate(self) -> tuple[list[float], list[int]]:
        return evaluate_policy(  # type: ignore[return-value]
            self.model,
            self.eval_env,
            n_eval_episodes=self.n_eval_episodes,
            render=self.render,
            deterministic=self.deterministic,
            return_episode_rewards=True,
            warn=self.warn,
            callback=self._log_success_callback,
            use_masking=self.use_masking,
        )

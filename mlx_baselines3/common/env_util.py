"""Helpers to build monitored vectorized environments and to look through gymnasium wrapper chains."""

import os
from collections.abc import Callable
from typing import Any

import gymnasium as gym

from mlx_baselines3.common.atari_wrappers import AtariWrapper
from mlx_baselines3.common.monitor import Monitor
from mlx_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecEnv
from mlx_baselines3.common.vec_env.patch_gym import _patch_env


def unwrap_wrapper(env: gym.Env, wrapper_class: type[gym.Wrapper]) -> gym.Wrapper | None:
    """
    Find the outermost wrapper of a given class in a chain of gymnasium wrappers.

    :param env: the (possibly wrapped) environment to search
    :param wrapper_class: the wrapper class to look for (subclasses match too)
    :return: that wrapper, or None when ``env`` is not wrapped with it
    """
    env_tmp = env
    while isinstance(env_tmp, gym.Wrapper):
        if isinstance(env_tmp, wrapper_class):
            return env_tmp
        env_tmp = env_tmp.env
    return None


def is_wrapped(env: gym.Env, wrapper_class: type[gym.Wrapper]) -> bool:
    """
    :param env: the (possibly wrapped) environment to search
    :param wrapper_class: the wrapper class to look for (subclasses match too)
    :return: whether ``env`` is wrapped with ``wrapper_class``
    """
    return unwrap_wrapper(env, wrapper_class) is not None


def make_vec_env(
    env_id: str | Callable[..., gym.Env],
    n_envs: int = 1,
    seed: int | None = None,
    start_index: int = 0,
    monitor_dir: str | None = None,
    wrapper_class: Callable[[gym.Env], gym.Env] | None = None,
    env_kwargs: dict[str, Any] | None = None,
    vec_env_cls: type[DummyVecEnv | SubprocVecEnv] | None = None,
    vec_env_kwargs: dict[str, Any] | None = None,
    monitor_kwargs: dict[str, Any] | None = None,
    wrapper_kwargs: dict[str, Any] | None = None,
) -> VecEnv:
    """
    Build ``n_envs`` copies of an environment, each wrapped in a ``Monitor`` (then in ``wrapper_class``), inside a
    ``VecEnv`` (``DummyVecEnv`` unless ``vec_env_cls`` says otherwise; it is usually faster than ``SubprocVecEnv``
    for cheap environments).

    Environment ``i`` gets rank ``start_index + i``: with a ``seed``, its action space is seeded with
    ``seed + rank`` and its first reset uses ``seed + i`` (through ``VecEnv.seed``).

    :param env_id: a registered env id (made with ``render_mode="rgb_array"`` unless ``env_kwargs`` sets it),
        an env class, or any callable returning an env
    :param n_envs: number of environments
    :param seed: base seed; None leaves the environments unseeded
    :param start_index: rank of the first environment (names the monitor files and offsets the seeds)
    :param monitor_dir: folder for the ``<rank>.monitor.csv`` files (created if needed); None writes no file
        but still wraps each env in a ``Monitor``, which adds episode statistics to the infos
    :param wrapper_class: wrapper (or any one-argument function returning a wrapped env) applied *outside*
        the ``Monitor``, so the logged statistics are those of the raw env. Mind wrappers that change episode
        boundaries, such as ``TimeLimit`` (see https://github.com/DLR-RM/stable-baselines3/issues/894)
    :param env_kwargs: keyword arguments for the env constructor (or ``gym.make``)
    :param vec_env_cls: the ``VecEnv`` class to use, e.g. ``SubprocVecEnv``
    :param vec_env_kwargs: keyword arguments for the ``VecEnv`` constructor
    :param monitor_kwargs: keyword arguments for ``Monitor``
    :param wrapper_kwargs: keyword arguments for ``wrapper_class``
    :return: the vectorized environment
    """
    env_kwargs = env_kwargs or {}
    vec_env_kwargs = vec_env_kwargs or {}
    monitor_kwargs = monitor_kwargs or {}
    wrapper_kwargs = wrapper_kwargs or {}

    def make_env(rank: int) -> Callable[[], gym.Env]:
        def _init() -> gym.Env:
            if isinstance(env_id, str):
                # Default to off-screen rendering so that render() and video recording work without a display.
                try:
                    env = gym.make(env_id, **{"render_mode": "rgb_array", **env_kwargs})
                except TypeError:
                    # Envs whose constructor has no render_mode argument.
                    env = gym.make(env_id, **env_kwargs)
            else:
                env = _patch_env(env_id(**env_kwargs))
            if seed is not None:
                # The env itself is seeded at its first reset, by vec_env.seed() below.
                env.action_space.seed(seed + rank)
            monitor_path = None
            if monitor_dir is not None:
                os.makedirs(monitor_dir, exist_ok=True)
                monitor_path = os.path.join(monitor_dir, str(rank))
            env = Monitor(env, filename=monitor_path, **monitor_kwargs)
            if wrapper_class is not None:
                env = wrapper_class(env, **wrapper_kwargs)
            return env

        return _init

    if vec_env_cls is None:
        vec_env_cls = DummyVecEnv
    vec_env = vec_env_cls([make_env(i + start_index) for i in range(n_envs)], **vec_env_kwargs)
    vec_env.seed(seed)
    return vec_env


def make_atari_env(
    env_id: str | Callable[..., gym.Env],
    n_envs: int = 1,
    seed: int | None = None,
    start_index: int = 0,
    monitor_dir: str | None = None,
    wrapper_kwargs: dict[str, Any] | None = None,
    env_kwargs: dict[str, Any] | None = None,
    vec_env_cls: type[DummyVecEnv | SubprocVecEnv] | None = None,
    vec_env_kwargs: dict[str, Any] | None = None,
    monitor_kwargs: dict[str, Any] | None = None,
) -> VecEnv:
    """
    ``make_vec_env`` with ``AtariWrapper`` as the wrapper: the usual Atari preprocessing on monitored envs.
    Stack frames afterwards with ``VecFrameStack`` if the policy needs motion.

    When ``env_id`` is a string and ``ale-py`` is installed, its environments are registered first, so ids like
    ``"BreakoutNoFrameskip-v4"`` work without ``import ale_py``.

    .. note::
        ``AtariWrapper`` ends episodes on each lost life by default, and ``reset()`` after a lost life only takes
        a NOOP step. Pass ``wrapper_kwargs=dict(terminal_on_life_loss=False)`` for a real reset every time.

    :param env_id: a registered env id, an env class, or any callable returning an env
    :param n_envs: number of environments
    :param seed: base seed; None leaves the environments unseeded
    :param start_index: rank of the first environment
    :param monitor_dir: folder for the monitor CSV files; None writes no file
    :param wrapper_kwargs: keyword arguments for ``AtariWrapper``
    :param env_kwargs: keyword arguments for the env constructor (or ``gym.make``)
    :param vec_env_cls: the ``VecEnv`` class to use (default ``DummyVecEnv``)
    :param vec_env_kwargs: keyword arguments for the ``VecEnv`` constructor
    :param monitor_kwargs: keyword arguments for ``Monitor``
    :return: the vectorized environment
    """
    if isinstance(env_id, str):
        try:
            import ale_py
        except ImportError:
            pass
        else:
            gym.register_envs(ale_py)
    return make_vec_env(
        env_id,
        n_envs=n_envs,
        seed=seed,
        start_index=start_index,
        monitor_dir=monitor_dir,
        wrapper_class=AtariWrapper,
        env_kwargs=env_kwargs,
        vec_env_cls=vec_env_cls,
        vec_env_kwargs=vec_env_kwargs,
        monitor_kwargs=monitor_kwargs,
        wrapper_kwargs=wrapper_kwargs,
    )

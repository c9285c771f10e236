"""Policies and critics: ``mlx.nn.Module`` trees with SB3's attribute names, so parameters map 1:1 onto its state dicts."""

import inspect
import io
import math
import pathlib
import warnings
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, NamedTuple, TypeVar

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from gymnasium import spaces
from mlx.utils import tree_flatten, tree_unflatten

from mlx_baselines3.common import torch_format
from mlx_baselines3.common.compiled import compile_inference
from mlx_baselines3.common.distributions import (
    BernoulliDistribution,
    CategoricalDistribution,
    DiagGaussianDistribution,
    Distribution,
    MultiCategoricalDistribution,
    make_proba_distribution,
)
from mlx_baselines3.common.distributions import StateDependentNoiseDistribution as StateDependentNoiseDistribution  # SB3 path
from mlx_baselines3.common.exceptions import LoadError, UsageError
from mlx_baselines3.common.preprocessing import get_action_dim, is_image_space, maybe_transpose, preprocess_obs
from mlx_baselines3.common.safe_load import check_keyword_arguments
from mlx_baselines3.common.safe_pickle import shorten
from mlx_baselines3.common.save_util import atomic_open, open_path
from mlx_baselines3.common.state_dict import load_module_state_dict, module_state_dict
from mlx_baselines3.common.streams import run_on_model_device, settle
from mlx_baselines3.common.torch_layers import (
    BaseFeaturesExtractor,
    CombinedExtractor,
    EnsembleMLP,
    FlattenExtractor,
    MlpExtractor,
    NatureCNN,
    as_mlx_module_class,
    create_mlp,
)
from mlx_baselines3.common.type_aliases import PyTorchObs, Schedule
from mlx_baselines3.common.utils import get_device, is_vectorized_observation, obs_as_tensor, torch_class_to_mlx


class IncompatibleKeys(NamedTuple):
    """What ``load_state_dict`` did not match, as torch reports it."""

    missing_keys: list[str]
    unexpected_keys: list[str]


SelfBaseModel = TypeVar("SelfBaseModel", bound="BaseModel")

# torch.optim keyword arguments that only steer torch's kernels, with no effect on the maths.
_TORCH_ONLY_OPTIMIZER_KWARGS = ("foreach", "fused", "capturable", "differentiable")


def _torch_kind(obj: Any) -> str | None:
    # "module", "tensor" or "parameter" for torch objects, found by class name along the MRO without importing torch.
    if isinstance(obj, type):
        return None
    for cls in type(obj).__mro__:
        module = getattr(cls, "__module__", "") or ""
        if module == "torch" or module.startswith("torch."):
            kind = {"Module": "module", "Tensor": "tensor", "Parameter": "parameter"}.get(cls.__name__)
            if kind is not None:
                return "parameter" if type(obj).__name__ == "Parameter" else kind
    return None


def refuse_torch_objects(obj: Any, name: str) -> None:
    """
    Raise a clear error when a network holds torch modules, parameters or tensors (a features extractor or
    ``mlp_extractor`` written with ``torch.nn`` for SB3). MLX cannot run them; without this check the first rollout
    fails deep inside torch with an unrelated-looking message.

    :param obj: a module (searched through its children, attributes, lists and dicts) or any object
    :param name: how to name ``obj`` in the message, e.g. ``"policy"``
    :raises TypeError: naming the first torch object found, its path and the translation guide
    """
    seen: set[int] = set()
    pending: list[tuple[str, Any]] = [(name, obj)]
    while pending:
        path, value = pending.pop()
        if id(value) in seen:
            continue
        seen.add(id(value))
        kind = _torch_kind(value)
        if kind is not None:
            raise TypeError(
                f"{path} is a torch {kind} ({type(value).__module__}.{type(value).__qualname__}): mlx_baselines3 "
                "computes with MLX and cannot run torch code. Write this network with mlx.nn (nn.Linear, nn.Conv2d, "
                "nn.Sequential, nn.ReLU... keep torch's names) and mlx.core functions; docs/guide/custom_policy.md "
                "shows the translation layer by layer."
            )
        if isinstance(value, nn.Module):
            children = [*value.items(), *vars(value).items()]
        elif isinstance(value, dict):
            children = list(value.items())
        elif isinstance(value, (list, tuple)):
            children = list(enumerate(value))
        else:
            continue
        pending.extend((f"{path}.{key}" if isinstance(key, str) else f"{path}[{key}]", child) for key, child in children)


def as_mlx_optimizer_class(optimizer_class: type) -> type[optim.Optimizer]:
    """
    Map an optimizer class to MLX: ``mlx.optimizers`` classes pass through, torch classes (``torch.optim.Adam``) are
    looked up in ``utils.TORCH_TO_MLX_CLASSES`` (the table loading uses for SB3 files too).

    :param optimizer_class: the class
    :return: the MLX optimizer class
    """
    if isinstance(optimizer_class, type) and issubclass(optimizer_class, optim.Optimizer):
        return optimizer_class
    mlx_class = torch_class_to_mlx(getattr(optimizer_class, "__module__", ""), getattr(optimizer_class, "__name__", ""))
    if mlx_class is not None:
        return mlx_class
    raise TypeError(
        f"{optimizer_class!r} is not an mlx.optimizers.Optimizer class. Pass e.g. mlx.optimizers.Adam "
        "(torch.optim classes are accepted when MLX has the same optimizer: see utils.TORCH_TO_MLX_CLASSES)."
    )


def make_optimizer(
    optimizer_class: type, learning_rate: float, optimizer_kwargs: dict[str, Any] | None = None
) -> optim.Optimizer:
    """
    Build an MLX optimizer that computes what the torch optimizer of the same name computes, from torch-style keyword
    arguments (``eps``, ``betas``, ``alpha``, ``weight_decay``...). Adam-type optimizers get ``bias_correction=True``
    (torch's behaviour; MLX's default is False).

    :param optimizer_class: an ``mlx.optimizers`` class or a torch optimizer class
    :param learning_rate: the initial learning rate
    :param optimizer_kwargs: keyword arguments, torch names accepted
    :return: the optimizer (call ``init`` on the parameters before compiling an update with it)
    """
    cls = as_mlx_optimizer_class(optimizer_class)
    kwargs = {k: v for k, v in (optimizer_kwargs or {}).items() if k not in _TORCH_ONLY_OPTIMIZER_KWARGS}
    if kwargs.pop("maximize", False):
        raise ValueError("optimizer_kwargs maximize=True is not supported: negate the loss instead.")
    if "betas" in kwargs:
        kwargs["betas"] = list(kwargs["betas"])
    if issubclass(cls, optim.Adam):
        kwargs.setdefault("bias_correction", True)
        if cls is optim.Adam and kwargs.pop("weight_decay", 0.0):
            raise ValueError(
                "torch's Adam weight_decay (an L2 term added to the gradient) has no MLX equivalent; "
                "use optimizer_class=mlx.optimizers.AdamW for decoupled weight decay."
            )
        if kwargs.pop("amsgrad", False):
            raise ValueError("amsgrad=True is not supported by mlx.optimizers.Adam.")
    if cls is optim.RMSprop:
        for name in ("weight_decay", "momentum", "centered"):
            if kwargs.pop(name, 0):
                raise ValueError(
                    f"RMSprop {name}!=0 is not supported by mlx.optimizers.RMSprop; remove it from optimizer_kwargs."
                )
    return cls(learning_rate=learning_rate, **kwargs)


class BaseModel(nn.Module):
    """
    Base of policies and critics: observation preprocessing, the features extractor and the optimizer settings.

    :param observation_space: the observation space
    :param action_space: the action space
    :param features_extractor_class: the features extractor class
    :param features_extractor_kwargs: keyword arguments for the features extractor
    :param features_extractor: an already built extractor (the critic of SAC/TD3 may share the actor's)
    :param normalize_images: divide image observations by 255
    :param optimizer_class: the optimizer class (MLX, or torch's by name)
    :param optimizer_kwargs: keyword arguments for the optimizer
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        features_extractor_class: type[BaseFeaturesExtractor] = FlattenExtractor,
        features_extractor_kwargs: dict[str, Any] | None = None,
        features_extractor: BaseFeaturesExtractor | None = None,
        normalize_images: bool = True,
        optimizer_class: type[optim.Optimizer] = optim.Adam,
        optimizer_kwargs: dict[str, Any] | None = None,
    ):
        super().__init__()
        # Built inside the algorithm's device scope, so this is the model's device (see common/streams.py).
        self.device = get_device(mx.default_device())
        self.observation_space = observation_space
        self.action_space = action_space
        _set_config(
            self,
            features_extractor_kwargs=features_extractor_kwargs if features_extractor_kwargs is not None else {},
            optimizer_kwargs=optimizer_kwargs or {},
        )
        _set_config(self, _compiled={})
        self.features_extractor_class = features_extractor_class
        # Images the user already normalized skip NatureCNN's dtype and bounds checks (as in SB3, the dict is updated).
        if not normalize_images and issubclass(features_extractor_class, (NatureCNN, CombinedExtractor)):
            self.features_extractor_kwargs.update(dict(normalized_image=True))
        if features_extractor is not None:
            self.features_extractor = features_extractor
        self.normalize_images = normalize_images
        self.optimizer_class = as_mlx_optimizer_class(optimizer_class)
        self.optimizer: optim.Optimizer | None = None

    def _update_features_extractor(
        self, net_kwargs: dict[str, Any], features_extractor: BaseFeaturesExtractor | None = None
    ) -> dict[str, Any]:
        """
        Add a features extractor and its output size to the keyword arguments of a sub-network (actor or critic).

        :param net_kwargs: the sub-network's keyword arguments
        :param features_extractor: an extractor to use, or None to build a new one
        :return: the updated keyword arguments
        """
        net_kwargs = net_kwargs.copy()
        if features_extractor is None:
            features_extractor = self.make_features_extractor()
        net_kwargs.update(dict(features_extractor=features_extractor, features_dim=features_extractor.features_dim))
        return net_kwargs

    def make_features_extractor(self) -> BaseFeaturesExtractor:
        """:return: a new features extractor built from the configured class and keyword arguments"""
        features_extractor = self.features_extractor_class(self.observation_space, **self.features_extractor_kwargs)
        refuse_torch_objects(features_extractor, f"The features extractor ({self.features_extractor_class.__name__})")
        return features_extractor

    def extract_features(self, obs: PyTorchObs, features_extractor: BaseFeaturesExtractor) -> mx.array:
        """
        Preprocess raw observations (scaling, one-hot) and run them through a features extractor.

        :param obs: raw observations, batched
        :param features_extractor: the extractor to use
        :return: the features
        """
        return features_extractor(preprocess_obs(obs, self.observation_space, normalize_images=self.normalize_images))

    def _get_constructor_parameters(self) -> dict[str, Any]:
        """:return: the arguments needed to build the same model again (saved with the policy)"""
        return dict(
            observation_space=self.observation_space,
            action_space=self.action_space,
            normalize_images=self.normalize_images,
        )

    #: Sub-networks that stay in evaluation mode whatever the policy's mode (target networks).
    _eval_only_networks: tuple[str, ...] = ()

    def set_training_mode(self, mode: bool) -> None:
        """
        Switch between training and evaluation behaviour (dropout, batch normalization); the networks named in
        ``_eval_only_networks`` (targets) stay in evaluation mode.

        ``predict`` and ``train`` switch modes at every environment step, and ``Module.train`` walks the module tree
        each time (measured 0.2 ms for DQN's Q-network, 0.65 ms for SAC's actor and critic): the modules are listed
        once, and their flags set directly.

        :param mode: True for training
        """
        if mode == self.training:
            return
        children = tuple((name, id(child)) for name, child in self.items() if isinstance(child, nn.Module))
        cache = self.__dict__.get("_training_mode_modules")
        if cache is None or cache[0] != children:
            eval_only = [self[name] for name in self._eval_only_networks if name in self]
            excluded = {id(module) for network in eval_only for module in network.modules()}
            cache = (children, [module for module in self.modules() if id(module) not in excluded])
            _set_config(self, _training_mode_modules=cache)
        for module in cache[1]:
            # Module.train() for one module, without walking its children again.
            module._set_training_mode(mode)

    def save(self, path: str | pathlib.Path | io.BufferedIOBase) -> None:
        """
        Save the model alone (its weights and constructor arguments), in the format of SB3's ``BaseModel.save`` (a
        ``torch.save`` file that SB3 loads too). The file is replaced atomically.

        :param path: the file (path or writable file object)
        """
        archive_name = pathlib.Path(path).stem if isinstance(path, (str, pathlib.Path)) else "archive"
        with atomic_open(path) as file:
            saved = {"state_dict": module_state_dict(self), "data": self._get_constructor_parameters()}
            torch_format.save(saved, file, archive_name=archive_name)

    @classmethod
    def load(
        cls: type[SelfBaseModel],
        path: str | pathlib.Path | io.BufferedIOBase,
        device: "mx.Device | str" = "auto",
        trusted: bool = False,
    ) -> SelfBaseModel:
        """
        Load a model saved by ``save`` (by this library or by SB3), without torch and without running code from the
        file (see ``docs/guide/security.md``) unless ``trusted``.

        :param path: the file (path or readable file object)
        :param device: checked for validity; MLX arrays live in unified memory
        :param trusted: unpickle with Python's pickle (only for files you trust: unpickling can run code)
        :return: the model
        :raises LoadError: when the file is corrupt, is not a policy file, or holds what default loading refuses
        """
        chosen = get_device(device)
        file = open_path(path, "r")
        where = shorten(str(path), 200).strip("'") if isinstance(path, (str, pathlib.Path)) else "policy file"
        try:
            saved = torch_format.load(file, trusted=trusted, map_tensor=mx.array, where=where)
        finally:
            if isinstance(path, (str, pathlib.Path)):
                file.close()
        if not isinstance(saved, dict) or not {"state_dict", "data"} <= saved.keys():
            raise LoadError(f"{where} is not a policy file: save() writes a dict with 'state_dict' and 'data'.")
        kwargs = check_keyword_arguments(saved["data"], f"{where}: the saved constructor arguments")
        accepted = inspect.signature(cls.__init__).parameters
        takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values())
        unknown = sorted(key for key in kwargs if key not in accepted or key == "self")
        if unknown and not takes_any:
            raise LoadError(f"{where}: {cls.__name__} takes no argument {unknown}: the file was saved for another class.")
        with mx.stream(chosen.mlx_device):
            try:
                model = cls(**kwargs)
                load_module_state_dict(model, saved["state_dict"])
            except (RuntimeError, ValueError, TypeError, KeyError) as e:
                raise LoadError(f"{where}: {type(e).__name__}: {e}") from e
            settle(model)
        return model

    def state_dict(self) -> "OrderedDict[str, mx.array]":
        """
        The parameters under SB3's (torch's) state-dict key names and layouts, as SB3's ``policy.state_dict()``
        (see ``common/state_dict.py``): MLX arrays, convolution weights channels-second.

        :return: the state dict
        """
        return module_state_dict(self)

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> IncompatibleKeys:
        """
        Set parameters from a state dict with SB3's key names (from ``state_dict()``, SB3's ``policy.state_dict()`` or
        a file), as torch's ``load_state_dict``: MLX or NumPy arrays (or anything ``np.asarray`` takes), cast to the
        parameters' dtypes.

        :param state_dict: arrays by key
        :param strict: require exactly this model's keys
        :return: the missing and unexpected keys (empty when ``strict``)
        :raises RuntimeError: on missing or unexpected keys (``strict``), or when a shape differs
        """
        own = module_state_dict(self)
        load_module_state_dict(self, dict(state_dict), exact_match=strict)
        return IncompatibleKeys(
            missing_keys=[key for key in own if key not in state_dict],
            unexpected_keys=[key for key in state_dict if key not in own],
        )

    def parameters_to_vector(self) -> np.ndarray:
        """:return: all parameters flattened into one NumPy vector, in a fixed order"""
        return np.concatenate([np.asarray(p).ravel() for _, p in tree_flatten(self.parameters())])

    def load_from_vector(self, vector: np.ndarray) -> None:
        """
        Load all parameters from a vector made by ``parameters_to_vector``.

        :param vector: the flat parameter vector
        """
        flat = tree_flatten(self.parameters())
        sizes = [p.size for _, p in flat]
        if len(vector) != sum(sizes):
            raise ValueError(f"The vector has {len(vector)} values, the model has {sum(sizes)} parameters.")
        chunks = np.split(np.asarray(vector, dtype=np.float32), np.cumsum(sizes)[:-1])
        self.update(tree_unflatten([(name, mx.array(c.reshape(p.shape))) for (name, p), c in zip(flat, chunks, strict=True)]))

    def is_vectorized_observation(self, observation: np.ndarray | dict[str, np.ndarray]) -> bool:
        """
        :param observation: an observation, single or batched
        :return: whether it is a batch (one per env)
        """
        if isinstance(observation, dict):
            return any(is_vectorized_observation(obs, self.observation_space[key]) for key, obs in observation.items())
        return is_vectorized_observation(observation, self.observation_space)

    def obs_to_tensor(self, observation: np.ndarray | dict[str, np.ndarray]) -> tuple[PyTorchObs, bool]:
        """
        Check an observation given to ``predict`` and turn it into an MLX batch.

        :param observation: a single observation or a batch (one per env)
        :return: the batch as MLX arrays, and whether the input was already a batch
        """
        if isinstance(observation, dict):
            if not isinstance(self.observation_space, spaces.Dict):
                raise UsageError(f"The observation provided is a dict but the obs space is {self.observation_space}")
            missing = set(self.observation_space.spaces) - set(observation)
            if missing:
                raise ValueError(f"The observation dict is missing the keys {sorted(missing)} of {self.observation_space}")
            observation = {key: _as_numeric(observation[key], key) for key in self.observation_space.spaces}
            vectorized_env = False
            for key, obs in observation.items():
                obs_space = self.observation_space.spaces[key]
                if is_image_space(obs_space):
                    obs = maybe_transpose(obs, obs_space)
                vectorized_env = vectorized_env or is_vectorized_observation(obs, obs_space)
                observation[key] = obs.reshape((-1, *obs_space.shape))
        else:
            if isinstance(self.observation_space, spaces.Dict):
                raise ValueError(f"The observation space is {self.observation_space}: pass a dict of arrays to predict()")
            observation = _as_numeric(observation)
            if is_image_space(self.observation_space):
                observation = maybe_transpose(observation, self.observation_space)
            vectorized_env = is_vectorized_observation(observation, self.observation_space)
            observation = observation.reshape((-1, *self.observation_space.shape))
        batch = next(iter(observation.values())) if isinstance(observation, dict) else observation
        if batch.shape[0] == 0:
            # Refused here: an empty batch would fail inside the compiled forward pass.
            raise UsageError(
                f"predict() got an empty batch (observation shape {batch.shape}): pass at least one observation, "
                f"of shape {batch.shape[1:]} or {('n_env', *batch.shape[1:])}."
            )
        return obs_as_tensor(observation), vectorized_env

    def __getstate__(self) -> dict[str, Any]:
        # Copies and pickles (ARS's candidate policy, AsyncEval's workers) start with no compiled functions: those hold
        # MLX's random state, which can be neither copied nor pickled, and the copy compiles its own on first use.
        state = self.__dict__.copy()
        state["_compiled"] = {}
        return state

    def _compile_inference(self, fn: Any, module: nn.Module | None = None) -> Any:
        """
        Compile an inference function once per training mode (see ``compiled.compile_inference``): the parameters of
        ``module`` (default: this model) and the random generator state are captured inputs, so updated weights and
        fresh noise are seen without tracing again.

        :param fn: a function of arrays and constant Python flags
        :param module: the module whose arrays ``fn`` reads
        :return: the compiled function
        """
        module = self if module is None else module
        key = (fn.__name__, id(module), module.training)
        if key not in self._compiled:
            self._compiled[key] = compile_inference(fn, module)
        return self._compiled[key]


def orthogonal(shape: tuple[int, ...], gain: float = 1.0) -> mx.array:
    """
    A random weight whose rows (or columns, whichever are fewer) are orthonormal, times ``gain``, drawn as torch's
    ``nn.init.orthogonal_`` draws it: the weight flattened to ``(shape[0], rest)``, the QR factorization of a standard
    normal matrix of that size (taller than wide: transposed when the weight is wide), signs fixed by ``R``'s diagonal
    so that the result is uniformly (Haar) distributed. The factorization is of the weight's own size, not of a
    square matrix as large as its larger side as in ``mlx.nn.init.orthogonal``: 0.3 s instead of 1.6 s for
    NatureCNN's 512 x 3136 layer. The draw comes from ``mx.random``, so ``seed`` makes it reproducible.

    :param shape: the weight's shape (first axis: output units)
    :param gain: the scaling factor
    :return: the weight, float32
    """
    rows = shape[0]
    cols = math.prod(shape[1:])
    if rows == 0 or cols == 0:
        return mx.zeros(shape)
    normal = mx.random.normal((max(rows, cols), min(rows, cols)))
    q, r = mx.linalg.qr(normal, stream=mx.cpu)
    # Multiplying each column by the sign of R's diagonal makes the factorization unique, hence Q uniform.
    q = q * mx.where(mx.diag(r) < 0, -1.0, 1.0)
    if rows < cols:
        q = q.T
    return (gain * q).reshape(shape)


def _set_config(module: nn.Module, **attributes: Any) -> None:
    # MLX modules store dict/list attributes as parameter containers; configuration belongs in the plain __dict__.
    for name, value in attributes.items():
        object.__setattr__(module, name, value)


def _as_numeric(observation: Any, key: str | None = None) -> np.ndarray:
    array = np.asarray(observation)
    if array.dtype.kind not in "biuf":
        where = f" for key '{key}'" if key is not None else ""
        raise ValueError(
            f"Unexpected observation dtype {array.dtype}{where}: "
            "observations must be numeric arrays (bool, int, uint or float)."
        )
    return array


class BasePolicy(BaseModel, ABC):
    """
    Base of the policies: ``predict`` with action rescaling and clipping.

    :param squash_output: the policy outputs actions in [-1, 1] that are rescaled to the action space bounds
    """

    def __init__(self, *args, squash_output: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self._squash_output = squash_output

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # predict() runs on the policy's device from any thread (common/streams.py).
        run_on_model_device(cls, (("predict", False),))

    @staticmethod
    def _dummy_schedule(progress_remaining: float) -> float:
        """(float) Placeholder learning rate schedule for policies built only to predict."""
        del progress_remaining
        return 0.0

    @property
    def squash_output(self) -> bool:
        """Whether actions are squashed to [-1, 1] by a tanh."""
        return self._squash_output

    @staticmethod
    def init_weights(module: nn.Module, gain: float = 1.0) -> None:
        """
        Orthogonal initialization (with the given gain) of every linear and convolution layer inside ``module``;
        biases are set to zero.

        :param module: the module to initialize
        :param gain: the scaling factor of the orthogonal matrices
        """
        for layer in module.modules():
            if isinstance(layer, (nn.Linear, nn.Conv2d)):
                layer.weight = orthogonal(layer.weight.shape, gain)
                if "bias" in layer:
                    layer.bias = mx.zeros_like(layer.bias)

    def _to_action_dtype(self, actions: mx.array) -> mx.array:
        # Discrete actions as int64, like torch's sampling returns (MLX samples uint32).
        if isinstance(self.action_space, (spaces.Discrete, spaces.MultiDiscrete)):
            return actions.astype(mx.int64)
        return actions

    @abstractmethod
    def _predict(self, observation: PyTorchObs, deterministic: bool = False) -> mx.array:
        """
        :param observation: a batch of observations as MLX arrays
        :param deterministic: use the most likely actions instead of sampling
        :return: the batch of actions
        """

    def predict(
        self,
        observation: np.ndarray | dict[str, np.ndarray],
        state: tuple[np.ndarray, ...] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...] | None]:
        """
        The policy's action for an observation (single or one per env), as NumPy, in the action space's bounds.

        :param observation: the observation
        :param state: the hidden state (recurrent policies only; returned unchanged)
        :param episode_start: which envs start a new episode (recurrent policies only)
        :param deterministic: use the most likely action instead of sampling
        :return: the actions and the next hidden state
        """
        self.set_training_mode(False)
        obs_tensor, vectorized_env = self.prepare_observation(observation)
        return self.actions_to_env(self._predict(obs_tensor, deterministic=deterministic), vectorized_env), state

    def prepare_observation(self, observation: np.ndarray | dict[str, np.ndarray]) -> tuple[PyTorchObs, bool]:
        """
        The first half of ``predict``, shared with the policies whose ``predict`` takes more inputs (masks, states):
        refuse a Gym ``(obs, info)`` tuple, then check and batch the observation.

        :param observation: a single observation or a batch (one per env)
        :return: the batch as MLX arrays, and whether the input was already a batch
        """
        if isinstance(observation, tuple) and len(observation) == 2 and isinstance(observation[1], dict):
            raise ValueError(
                "You have passed a tuple to the predict() function instead of a Numpy array or a Dict. "
                "You are probably mixing Gym API with SB3 VecEnv API: `obs, info = env.reset()` (Gym) "
                "vs `obs = vec_env.reset()` (SB3 VecEnv). "
                "See related issue https://github.com/DLR-RM/stable-baselines3/issues/1694 "
                "and documentation for more information: https://stable-baselines3.readthedocs.io/en/master/guide/vec_envs.html#vecenv-api-vs-gym-api"
            )
        return self.obs_to_tensor(observation)

    def actions_to_env(self, actions: mx.array, vectorized_env: bool) -> np.ndarray:
        """
        The second half of ``predict``: the policy's actions as NumPy, rescaled or clipped to the action space's bounds,
        without the batch dimension when the observation had none.

        :param actions: the batch of actions from ``_predict``
        :param vectorized_env: whether the observation was a batch
        :return: the actions for the env
        """
        actions = np.array(actions).reshape((-1, *self.action_space.shape))
        if isinstance(self.action_space, spaces.Box):
            if self.squash_output:
                actions = self.unscale_action(actions)
            else:
                # Gaussian samples may leave the bounds: clip them as SB3 does.
                actions = np.clip(actions, self.action_space.low, self.action_space.high)
        if not vectorized_env:
            actions = actions.squeeze(axis=0)
        return actions

    def scale_action(self, action: np.ndarray) -> np.ndarray:
        """
        Rescale an action from the space's bounds [low, high] to [-1, 1].

        :param action: the action
        :return: the rescaled action
        """
        if not isinstance(self.action_space, spaces.Box):
            raise UsageError(f"Trying to scale an action using an action space that is not a Box(): {self.action_space}")
        low, high = self.action_space.low, self.action_space.high
        return 2.0 * ((action - low) / (high - low)) - 1.0

    def unscale_action(self, scaled_action: np.ndarray) -> np.ndarray:
        """
        Rescale an action from [-1, 1] to the space's bounds [low, high].

        :param scaled_action: the action in [-1, 1]
        :return: the action in the space's bounds
        """
        if not isinstance(self.action_space, spaces.Box):
            raise UsageError(f"Trying to unscale an action using an action space that is not a Box(): {self.action_space}")
        low, high = self.action_space.low, self.action_space.high
        return low + (0.5 * (scaled_action + 1.0) * (high - low))


run_on_model_device(BasePolicy, (("predict", False),))


class ActorCriticPolicy(BasePolicy):
    """
    Policy and value function for A2C and PPO: features extractor, separate policy/value MLPs, an action
    distribution head and a value head.

    :param observation_space: the observation space
    :param action_space: the action space
    :param lr_schedule: the learning rate schedule (its value at progress 1 sets the optimizer's initial rate)
    :param net_arch: hidden layers of the policy and value networks (list, or ``dict(pi=[...], vf=[...])``)
    :param activation_fn: activation class
    :param ortho_init: orthogonal initialization with SB3's gains
    :param use_sde: use generalized State-Dependent Exploration
    :param log_std_init: initial log standard deviation (Box actions)
    :param full_std: gSDE: one std per latent unit and action (else one per latent unit)
    :param use_expln: gSDE: keep the std positive with expln instead of exp
    :param squash_output: gSDE: squash the actions with a tanh
    :param features_extractor_class: the features extractor class
    :param features_extractor_kwargs: keyword arguments for the features extractor
    :param share_features_extractor: one extractor for the policy and the value function
    :param normalize_images: divide image observations by 255
    :param optimizer_class: the optimizer class (Adam by default, with eps=1e-5 when no kwargs are given)
    :param optimizer_kwargs: keyword arguments for the optimizer
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        lr_schedule: Schedule,
        net_arch: list[int] | dict[str, list[int]] | None = None,
        activation_fn: type[nn.Module] = nn.Tanh,
        ortho_init: bool = True,
        use_sde: bool = False,
        log_std_init: float = 0.0,
        full_std: bool = True,
        use_expln: bool = False,
        squash_output: bool = False,
        features_extractor_class: type[BaseFeaturesExtractor] = FlattenExtractor,
        features_extractor_kwargs: dict[str, Any] | None = None,
        share_features_extractor: bool = True,
        normalize_images: bool = True,
        optimizer_class: type[optim.Optimizer] = optim.Adam,
        optimizer_kwargs: dict[str, Any] | None = None,
    ):
        if optimizer_kwargs is None:
            optimizer_kwargs = {}
            # Small eps, as in SB3 (and the original PPO implementations), when Adam is used with default settings.
            if as_mlx_optimizer_class(optimizer_class) is optim.Adam:
                optimizer_kwargs["eps"] = 1e-5
        super().__init__(
            observation_space,
            action_space,
            features_extractor_class,
            features_extractor_kwargs,
            optimizer_class=optimizer_class,
            optimizer_kwargs=optimizer_kwargs,
            squash_output=squash_output,
            normalize_images=normalize_images,
        )
        if isinstance(net_arch, list) and len(net_arch) > 0 and isinstance(net_arch[0], dict):
            warnings.warn(
                "As shared layers in the mlp_extractor are removed since SB3 v1.8.0, "
                "you should now pass directly a dictionary and not a list "
                "(net_arch=dict(pi=..., vf=...) instead of net_arch=[dict(pi=..., vf=...)])"
            )
            net_arch = net_arch[0]
        if net_arch is None:
            net_arch = [] if features_extractor_class == NatureCNN else dict(pi=[64, 64], vf=[64, 64])
        _set_config(self, net_arch=net_arch)
        self.activation_fn = as_mlx_module_class(activation_fn)
        self.ortho_init = ortho_init
        self.share_features_extractor = share_features_extractor

        # Registration order matters: it is torch's parameter order, which optimizer state dicts index by.
        self.features_extractor = self.make_features_extractor()
        self.features_dim = self.features_extractor.features_dim
        if not share_features_extractor:
            # The policy keeps features_extractor (pi_features_extractor is its alias); the value function gets its own.
            # Item assignment: MLX's Module.__setattr__ would try to delete the read-only alias property first.
            self["vf_features_extractor"] = self.make_features_extractor()

        self.log_std_init = log_std_init
        dist_kwargs = None
        if squash_output and not use_sde:
            raise UsageError("squash_output=True is only available when using gSDE (use_sde=True)")
        if use_sde:
            dist_kwargs = {
                "full_std": full_std,
                "squash_output": squash_output,
                "use_expln": use_expln,
                "learn_features": False,
            }
        self.use_sde = use_sde
        _set_config(self, dist_kwargs=dist_kwargs)
        self.action_dist = make_proba_distribution(action_space, use_sde=use_sde, dist_kwargs=dist_kwargs)
        self._build(lr_schedule)

    def _extractor_alias(self, name: str) -> BaseFeaturesExtractor:
        # A separate value extractor is a child; MLX's ``del`` removes the child itself, without calling the deleter.
        separate_deleted = name == "vf_features_extractor" and not self.share_features_extractor and name not in self
        if separate_deleted or name in self.__dict__.get("_deleted_extractor_aliases", ()):
            raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}' (it was deleted)")
        if name == "vf_features_extractor":
            return self.get("vf_features_extractor", self.features_extractor)
        return self.features_extractor

    def _delete_extractor_alias(self, name: str) -> None:
        # As deleting SB3's attribute: the name is gone, the module stays where else it is referenced.
        self._extractor_alias(name)  # AttributeError when already deleted, as ``del`` of a missing attribute
        self.pop(name, None)
        _set_config(self, _deleted_extractor_aliases={*self.__dict__.get("_deleted_extractor_aliases", ()), name})

    @property
    def pi_features_extractor(self) -> BaseFeaturesExtractor:
        # SB3 registers the policy's extractor under two names; here only `features_extractor` is a child, so that its
        # parameters are trained (and counted) once. With a shared extractor, vf_features_extractor is the same module.
        return self._extractor_alias("pi_features_extractor")

    @pi_features_extractor.deleter
    def pi_features_extractor(self) -> None:
        self._delete_extractor_alias("pi_features_extractor")

    @property
    def vf_features_extractor(self) -> BaseFeaturesExtractor:
        return self._extractor_alias("vf_features_extractor")

    @vf_features_extractor.deleter
    def vf_features_extractor(self) -> None:
        self._delete_extractor_alias("vf_features_extractor")

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        default_none_kwargs = self.dist_kwargs or {}
        data.update(
            dict(
                net_arch=self.net_arch,
                activation_fn=self.activation_fn,
                use_sde=self.use_sde,
                log_std_init=self.log_std_init,
                squash_output=default_none_kwargs.get("squash_output", False),
                full_std=default_none_kwargs.get("full_std", True),
                use_expln=default_none_kwargs.get("use_expln", False),
                lr_schedule=self._dummy_schedule,
                ortho_init=self.ortho_init,
                optimizer_class=self.optimizer_class,
                optimizer_kwargs=self.optimizer_kwargs,
                features_extractor_class=self.features_extractor_class,
                features_extractor_kwargs=self.features_extractor_kwargs,
            )
        )
        return data

    def reset_noise(self, n_envs: int = 1) -> None:
        """
        Sample new gSDE exploration weights.

        :param n_envs: number of environments
        """
        if not self.use_sde:
            raise UsageError("reset_noise() is only available when using gSDE (use_sde=True)")
        self.action_dist.sample_weights(self.log_std, batch_size=n_envs)

    def _build_mlp_extractor(self) -> None:
        """Create the policy and value networks (override to use a custom ``mlp_extractor``)."""
        self.mlp_extractor = MlpExtractor(self.features_dim, net_arch=self.net_arch, activation_fn=self.activation_fn)

    def _build(self, lr_schedule: Schedule) -> None:
        """
        Create the networks, initialize them and create the optimizer.

        :param lr_schedule: the learning rate schedule
        """
        self._build_mlp_extractor()
        refuse_torch_objects(self.mlp_extractor, "policy.mlp_extractor")
        latent_dim_pi = self.mlp_extractor.latent_dim_pi
        if isinstance(self.action_dist, DiagGaussianDistribution):
            action_net, log_std = self.action_dist.proba_distribution_net(
                latent_dim=latent_dim_pi, log_std_init=self.log_std_init
            )
        elif isinstance(self.action_dist, (CategoricalDistribution, MultiCategoricalDistribution, BernoulliDistribution)):
            action_net, log_std = self.action_dist.proba_distribution_net(latent_dim=latent_dim_pi), None
        else:
            action_net, log_std = self.action_dist.proba_distribution_net(
                latent_dim=latent_dim_pi, latent_sde_dim=latent_dim_pi, log_std_init=self.log_std_init
            )
            # gSDE's exploration matrices join the module tree (a private key: not parameters, not saved) so that
            # the compiled rollout functions read the matrices drawn by the latest reset_noise().
            self._exploration_state = self.action_dist.exploration_state
        if log_std is not None:
            self.log_std = log_std
        self.action_net = action_net
        self.value_net = nn.Linear(self.mlp_extractor.latent_dim_vf, 1)

        if self.ortho_init:
            module_gains = {
                "features_extractor": math.sqrt(2),
                "mlp_extractor": math.sqrt(2),
                "action_net": 0.01,
                "value_net": 1.0,
            }
            if not self.share_features_extractor:
                del module_gains["features_extractor"]
                module_gains["pi_features_extractor"] = math.sqrt(2)
                module_gains["vf_features_extractor"] = math.sqrt(2)
            for name, gain in module_gains.items():
                self.init_weights(getattr(self, name), gain)

        self.optimizer = make_optimizer(self.optimizer_class, lr_schedule(1), self.optimizer_kwargs)
        self.optimizer.init(self.trainable_parameters())

    def __call__(self, obs: PyTorchObs, deterministic: bool = False) -> tuple[mx.array, mx.array, mx.array]:
        """
        Run the whole policy: actions, state values and the actions' log-probabilities.

        :param obs: a batch of raw observations
        :param deterministic: use the most likely actions instead of sampling
        :return: actions, values, log-probabilities
        """
        latent_pi, latent_vf = self._latents(obs)
        values = self.value_net(latent_vf)
        distribution = self._get_action_dist_from_latent(latent_pi)
        actions = distribution.get_actions(deterministic=deterministic)
        log_prob = distribution.log_prob(actions)
        actions = self._to_action_dtype(actions.reshape((-1, *self.action_space.shape)))
        return actions, values, log_prob

    def forward(self, obs: PyTorchObs, deterministic: bool = False) -> tuple[mx.array, mx.array, mx.array]:
        """SB3's name for the call: actions, values, log-probabilities."""
        return self(obs, deterministic)

    def _latents(self, obs: PyTorchObs) -> tuple[mx.array, mx.array]:
        # Only forward_actor/forward_critic are called on the mlp_extractor: a custom one (SB3's documented
        # contract) then works whether it implements MLX's __call__ or torch's forward.
        if self.share_features_extractor:
            features = self.extract_features(obs, self.features_extractor)
            return self.mlp_extractor.forward_actor(features), self.mlp_extractor.forward_critic(features)
        return (
            self.mlp_extractor.forward_actor(self.extract_features(obs, self.pi_features_extractor)),
            self.mlp_extractor.forward_critic(self.extract_features(obs, self.vf_features_extractor)),
        )

    def _get_action_dist_from_latent(self, latent_pi: mx.array) -> Distribution:
        """
        :param latent_pi: the policy network's output
        :return: the action distribution
        """
        mean_actions = self.action_net(latent_pi)
        if isinstance(self.action_dist, DiagGaussianDistribution):
            return self.action_dist.proba_distribution(mean_actions, self.log_std)
        if isinstance(self.action_dist, (CategoricalDistribution, MultiCategoricalDistribution, BernoulliDistribution)):
            return self.action_dist.proba_distribution(action_logits=mean_actions)
        return self.action_dist.proba_distribution(mean_actions, self.log_std, latent_pi)

    def act(self, obs: PyTorchObs) -> tuple[mx.array, mx.array, mx.array]:
        """
        Compiled ``forward`` for rollout collection: sampled actions, values and log-probabilities in one call.

        :param obs: a batch of raw observations
        :return: actions, values (flattened), log-probabilities
        """
        return self._compile_inference(self._act)(obs)

    def _act(self, obs: PyTorchObs) -> tuple[mx.array, mx.array, mx.array]:
        actions, values, log_prob = self(obs)
        return actions, values.reshape(-1), log_prob

    def _predict(self, observation: PyTorchObs, deterministic: bool = False) -> mx.array:
        return self._compile_inference(self._predict_actions)(observation, deterministic)

    def _predict_actions(self, observation: PyTorchObs, deterministic: bool) -> mx.array:
        return self._to_action_dtype(self.get_distribution(observation).get_actions(deterministic=deterministic))

    def evaluate_actions(self, obs: PyTorchObs, actions: mx.array) -> tuple[mx.array, mx.array, mx.array | None]:
        """
        Values, log-likelihood and entropy of given actions under the current policy (used by the updates).

        :param obs: a batch of raw observations
        :param actions: the actions taken
        :return: values, log-probabilities, entropy (None when it has no closed form)
        """
        latent_pi, latent_vf = self._latents(obs)
        distribution = self._get_action_dist_from_latent(latent_pi)
        return self.value_net(latent_vf), distribution.log_prob(actions), distribution.entropy()

    def get_distribution(self, obs: PyTorchObs) -> Distribution:
        """
        :param obs: a batch of raw observations
        :return: the action distribution for them
        """
        features = self.extract_features(obs, self.pi_features_extractor)
        return self._get_action_dist_from_latent(self.mlp_extractor.forward_actor(features))

    def predict_values(self, obs: PyTorchObs) -> mx.array:
        """
        :param obs: a batch of raw observations
        :return: the estimated state values, ``(batch, 1)``
        """
        return self._compile_inference(self._predict_values)(obs)

    def _predict_values(self, obs: PyTorchObs) -> mx.array:
        features = self.extract_features(obs, self.vf_features_extractor)
        return self.value_net(self.mlp_extractor.forward_critic(features))


class ActorCriticCnnPolicy(ActorCriticPolicy):
    """``ActorCriticPolicy`` with the NatureCNN features extractor (``CnnPolicy``); same parameters."""

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space, lr_schedule: Schedule, **kwargs):
        kwargs.setdefault("features_extractor_class", NatureCNN)
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)


class MultiInputActorCriticPolicy(ActorCriticPolicy):
    """``ActorCriticPolicy`` for Dict observations, with the CombinedExtractor (``MultiInputPolicy``); same parameters."""

    def __init__(self, observation_space: spaces.Dict, action_space: spaces.Space, lr_schedule: Schedule, **kwargs):
        kwargs.setdefault("features_extractor_class", CombinedExtractor)
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)


class ContinuousCritic(BaseModel):
    """
    Q-value networks ``Q(s, a)`` for SAC, TD3 and DDPG: ``n_critics`` MLPs (several reduce overestimation, as in
    Clipped Double Q-learning), held as one ``EnsembleMLP`` (``qf``: weights stacked per layer) and saved under SB3's
    names ``qf0``, ``qf1``...

    :param observation_space: the observation space
    :param action_space: the action space (Box)
    :param net_arch: hidden layer sizes
    :param features_extractor: the features extractor (possibly the actor's)
    :param features_dim: number of features
    :param activation_fn: activation class
    :param normalize_images: divide image observations by 255
    :param n_critics: number of Q-networks
    :param share_features_extractor: the extractor is the actor's; it then gets no gradient from the critic loss
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Box,
        net_arch: list[int],
        features_extractor: BaseFeaturesExtractor,
        features_dim: int,
        activation_fn: type[nn.Module] = nn.ReLU,
        normalize_images: bool = True,
        n_critics: int = 2,
        share_features_extractor: bool = True,
    ):
        super().__init__(
            observation_space, action_space, features_extractor=features_extractor, normalize_images=normalize_images
        )
        action_dim = get_action_dim(self.action_space)
        self.share_features_extractor = share_features_extractor
        self.n_critics = n_critics
        # Built as separate networks (same initial values as n nn.Sequentials), evaluated as one stacked product.
        q_input_dim = features_dim + action_dim
        networks = [nn.Sequential(*create_mlp(q_input_dim, 1, net_arch, activation_fn)) for _ in range(n_critics)]
        self.qf = EnsembleMLP(networks, torch_prefix="qf")

    @property
    def q_networks(self) -> list[Callable[[mx.array], mx.array]]:
        """One function per Q-network, in order (SB3's list of networks): ``q_networks[i](features_and_actions)``."""
        return [partial(self.qf.member, index=index) for index in range(self.n_critics)]

    def q_values(self, obs: PyTorchObs, actions: mx.array) -> mx.array:
        """
        The Q-values of every critic at once (one batched product per layer).

        :param obs: a batch of raw observations
        :param actions: a batch of actions
        :return: ``[n_critics, batch, 1]``
        """
        features = self.extract_features(obs, self.features_extractor)
        if self.share_features_extractor:
            # The actor's loss alone trains a shared extractor.
            features = mx.stop_gradient(features)
        return self.qf(mx.concatenate([features, actions], axis=1))

    def __call__(self, obs: PyTorchObs, actions: mx.array) -> tuple[mx.array, ...]:
        q_values = self.q_values(obs, actions)
        return tuple(q_values[index] for index in range(self.n_critics))

    def forward(self, obs: PyTorchObs, actions: mx.array) -> tuple[mx.array, ...]:
        """SB3's name for the call: the Q-values of every critic."""
        return self(obs, actions)

    def q1_forward(self, obs: PyTorchObs, actions: mx.array) -> mx.array:
        """
        Only the first Q-network (TD3's actor loss needs no more).

        :param obs: a batch of raw observations
        :param actions: a batch of actions
        :return: the first critic's Q-values
        """
        features = mx.stop_gradient(self.extract_features(obs, self.features_extractor))
        return self.qf.member(mx.concatenate([features, actions], axis=1), 0)


def critic_optimized_parameters(critic: nn.Module) -> dict[str, Any]:
    """
    The critic parameters that its optimizer updates: all trainable ones, minus a features extractor shared with the
    actor (the critic's loss never reaches it). For ``compiled.value_and_grad(critic, loss_fn, <this>)``.

    :param critic: the critic (with a ``share_features_extractor`` flag)
    :return: the parameter tree
    """
    params = critic.trainable_parameters()
    if critic.share_features_extractor:
        params = {name: value for name, value in params.items() if name != "features_extractor"}
    return params


class EntropyCoefficient(nn.Module):
    """
    The learned entropy coefficient of maximum-entropy algorithms (SAC, TQC), kept as its log so that it stays
    positive: a module, so that its update is ``nn.value_and_grad`` + ``Optimizer.update`` as for the networks, and
    its one array lives here only (the algorithm's ``log_ent_coef`` reads it).

    :param init_value: the initial coefficient
    """

    def __init__(self, init_value: float = 1.0):
        super().__init__()
        self.log_ent_coef = mx.log(mx.ones(1) * init_value)

    def __call__(self) -> mx.array:
        """:return: the coefficient, ``exp(log_ent_coef)``"""
        return mx.exp(self.log_ent_coef)


__all__ = [
    "ActorCriticCnnPolicy",
    "ActorCriticPolicy",
    "BaseModel",
    "BasePolicy",
    "ContinuousCritic",
    "EntropyCoefficient",
    "MultiInputActorCriticPolicy",
    "critic_optimized_parameters",
    "make_optimizer",
]

"""
MLX modules and optimizers <-> PyTorch state dicts, under Stable-Baselines3's key names and torch's layouts.

SB3 saves ``policy.state_dict()`` and ``optimizer.state_dict()``; this module produces and consumes the same dicts
from MLX modules and ``mlx.optimizers`` optimizers, so that files move freely between SB3 and mlx_baselines3.

**Keys and ordering.** A key is the dotted path of an array in the module tree, as torch names it: ``nn.Sequential``
keeps its layers in a ``layers`` list in MLX, numbered directly under the Sequential in torch
(``policy_net.layers.0.weight`` -> ``policy_net.0.weight``). torch lists a module's own parameters before its
submodules' (SB3's ``log_std`` comes first), each submodule in registration order; the entries here follow the same
order, which matters for optimizers: torch numbers an optimizer's parameters by ``module.parameters()`` order.

**Aliases.** Where SB3 registers one module under several names (``features_extractor``, ``pi_features_extractor`` and
``vf_features_extractor`` of a shared extractor; the actor's and the critic's ``features_extractor``), our policies
keep one module and plain attributes pointing at it. The alias keys are written with the same arrays (SB3's strict
``load_state_dict`` needs them), are optional when loading (files of SB3 < 1.7 lack them) and are counted once for
optimizers.

**Layouts.** Linear weights are ``[out, in]`` in both libraries. Convolution weights are channels-second in torch
(``[out, in, kh, kw]``) and channels-last in MLX (``[out, kh, kw, in]``): they are transposed both ways.

**Optimizers.** Adam/AdamW keep ``m``/``v`` (torch: ``exp_avg``/``exp_avg_sq``), RMSprop ``v`` (``square_avg``), SGD
``v`` (``momentum_buffer``), Adagrad ``v`` (``sum``), SB3's ``RMSpropTFLike`` its own buffers under torch's names;
torch's per-parameter ``step`` is one shared counter in MLX.
"""

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

from mlx_baselines3.common.sb2_compat.rmsprop_tf_like import RMSpropTFLike
from mlx_baselines3.common.utils import named_arrays


@dataclass
class _ParameterEntry:
    """One array of an MLX parameter tree, named as in torch's ``state_dict()``."""

    key: str  # the torch state-dict key
    container: Any  # the module (or list/dict) holding the array
    name: Any  # its key in that container
    path: tuple  # its path from the root, as in ``tree_flatten(root.parameters())``
    channels_last: bool  # a convolution weight: MLX keeps channels last, torch second
    alias: bool  # reached through an alias attribute (a shared features extractor), not a child of its parent
    member: int | None = None  # in a stacked array (an ensemble's layer), the index of this entry's slice
    transposed: bool = False  # torch's layout of the slice is its transpose (an ensemble's [in, out] weight)


# Attributes that SB3 registers as submodules but that our policies keep as aliases of another submodule (so that a
# shared features extractor is trained once): ActorCriticPolicy's pi/vf extractors, a critic sharing the actor's.
_ALIAS_ATTRIBUTES = ("features_extractor", "pi_features_extractor", "vf_features_extractor")
_CONVOLUTIONS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)


def _is_parameter_name(name: Any) -> bool:
    # MLX leaves attributes starting with "_" out of the parameters.
    return not (isinstance(name, str) and name.startswith("_"))


def _collect_modules(node: Any, found: set[int]) -> None:
    if isinstance(node, nn.Module):
        found.add(id(node))
    if isinstance(node, dict):
        for name, child in node.items():
            if _is_parameter_name(name):
                _collect_modules(child, found)
    elif isinstance(node, (list, tuple)):
        for child in node:
            _collect_modules(child, found)


def _aliases(module: nn.Module, modules_in_tree: set[int]) -> list[tuple[str, nn.Module]]:
    found = []
    candidates = [*_ALIAS_ATTRIBUTES, *vars(module)]
    for name in dict.fromkeys(candidates):
        if name in module or not _is_parameter_name(name):
            continue
        value = getattr(module, name, None)
        if isinstance(value, nn.Module) and value is not module and id(value) in modules_in_tree:
            found.append((name, value))
    return found


def _walk(node: Any, prefix: str, path: tuple, modules_in_tree: set[int], alias: bool, out: list[_ParameterEntry]) -> None:
    if isinstance(node, nn.Module):
        items = [(name, child) for name, child in node.items() if _is_parameter_name(name)]
        # torch lists a module's own parameters before its submodules'.
        for name, child in items:
            if isinstance(child, mx.array):
                channels_last = isinstance(node, _CONVOLUTIONS) and name == "weight"
                out.append(_ParameterEntry(prefix + name, node, name, (*path, name), channels_last, alias))
        aliases = _aliases(node, modules_in_tree)
        # An alias of a module held elsewhere stands where SB3 registers it: first (BaseModel's features_extractor).
        for name, target in aliases:
            if not any(target is child for _, child in items):
                _walk_alias(target, prefix + name + ".", modules_in_tree, out)
        for name, child in items:
            if isinstance(child, mx.array):
                continue
            if isinstance(child, nn.Module) and hasattr(type(child), "torch_parameter_views"):
                # A module whose arrays torch sees under other names (EnsembleMLP: stacked members as qf0, qf1...).
                for key, array_path, member, transposed in child.torch_parameter_views():
                    holder = child
                    for part in array_path[:-1]:
                        holder = holder[part]
                    entry_path = (*path, name, *array_path)
                    entry = _ParameterEntry(prefix + key, holder, array_path[-1], entry_path, False, alias, member, transposed)
                    out.append(entry)
                continue
            # nn.Sequential keeps its layers in a list; torch numbers them directly under the Sequential.
            child_prefix = prefix if isinstance(node, nn.Sequential) and name == "layers" else f"{prefix}{name}."
            _walk(child, child_prefix, (*path, name), modules_in_tree, alias, out)
            # An alias of this child (pi_/vf_features_extractor) follows it, as SB3 registers them right after.
            for alias_name, target in aliases:
                if target is child:
                    _walk_alias(target, prefix + alias_name + ".", modules_in_tree, out)
    elif isinstance(node, dict):
        for name, child in node.items():
            if isinstance(child, mx.array):
                out.append(_ParameterEntry(prefix + str(name), node, name, (*path, name), False, alias))
            else:
                _walk(child, f"{prefix}{name}.", (*path, name), modules_in_tree, alias, out)
    elif isinstance(node, (list, tuple)):
        for index, child in enumerate(node):
            if isinstance(child, mx.array):
                out.append(_ParameterEntry(prefix + str(index), node, index, (*path, index), False, alias))
            else:
                _walk(child, f"{prefix}{index}.", (*path, index), modules_in_tree, alias, out)


def _walk_alias(target: nn.Module, prefix: str, modules_in_tree: set[int], out: list[_ParameterEntry]) -> None:
    # The alias's entries point at the target's arrays; their paths are the target's own, found when it is walked.
    entries: list[_ParameterEntry] = []
    _walk(target, prefix, (), modules_in_tree, True, entries)
    out.extend(entries)


def _parameter_entries(root: Any) -> list[_ParameterEntry]:
    modules_in_tree: set[int] = set()
    _collect_modules(root, modules_in_tree)
    entries: list[_ParameterEntry] = []
    _walk(root, "", (), modules_in_tree, False, entries)
    return entries


def _member(array: mx.array, entry: _ParameterEntry) -> mx.array:
    # The entry's own array: the whole array, or its slice of a stacked one.
    return array if entry.member is None else array[entry.member]


def _to_torch_layout(array: mx.array, entry: _ParameterEntry) -> mx.array:
    array = _member(array, entry)
    if entry.transposed:
        array = array.T
    return mx.moveaxis(array, -1, 1) if entry.channels_last else array


def _to_mlx_layout(array: mx.array, entry: _ParameterEntry) -> mx.array:
    # The inverse of _to_torch_layout, for the entry's own array (its slice, for a member of a stacked array).
    if entry.transposed:
        array = array.T
    return mx.moveaxis(array, 1, -1) if entry.channels_last else array


def _put(holder: Any, name: Any, value: mx.array, entry: _ParameterEntry) -> None:
    # Assign the entry's array (in MLX layout) into a parameter tree or an optimizer state; a member's slice
    # replaces its part of a new stacked array (never in place: a target network may share the old array).
    if entry.member is not None:
        stacked = holder[name]
        value = mx.concatenate([stacked[: entry.member], value[None], stacked[entry.member + 1 :]])
    holder[name] = value


def _as_mx(value: Any) -> mx.array:
    return value if isinstance(value, mx.array) else mx.array(np.asarray(value))


def module_state_dict(module: Any) -> "OrderedDict[str, mx.array]":
    """
    The parameters of an MLX module under SB3's (torch's) state-dict keys, in torch's order and layouts:
    ``layers.`` of ``nn.Sequential`` is dropped (``policy_net.layers.0.weight`` -> ``policy_net.0.weight``),
    convolution weights are transposed to channels-second, each module's own arrays come before its submodules',
    and aliases of a shared features extractor (``pi_features_extractor``...) are listed with the same arrays.

    :param module: an ``mlx.nn.Module`` (or a dict of arrays)
    :return: the state dict, ready for ``torch_format.save`` (SB3 loads it with ``load_state_dict``)
    """
    return OrderedDict(
        (entry.key, _to_torch_layout(entry.container[entry.name], entry)) for entry in _parameter_entries(module)
    )


def load_module_state_dict(module: Any, state_dict: dict[str, Any], exact_match: bool = True) -> None:
    """
    Put the arrays of a torch-style state dict (from SB3 or ``module_state_dict``) into an MLX module, in place.

    :param module: the ``mlx.nn.Module`` to update
    :param state_dict: arrays (MLX, NumPy or anything ``np.asarray`` takes) by torch key
    :param exact_match: require exactly the module's keys (torch's ``strict``); alias keys of a shared features
        extractor may be absent either way, since they repeat their target's arrays
    :raises RuntimeError: on missing or unexpected keys (``exact_match``), or when a shape differs
    """
    entries = {entry.key: entry for entry in _parameter_entries(module)}
    if exact_match:
        missing = [key for key, entry in entries.items() if key not in state_dict and not entry.alias]
        unexpected = [key for key in state_dict if key not in entries]
        if missing or unexpected:
            raise RuntimeError(
                f"Error(s) in loading state_dict for {type(module).__name__}: "
                f"Missing key(s) in state_dict: {missing}. Unexpected key(s) in state_dict: {unexpected}. "
                "The file was saved for a different network (check policy_kwargs such as net_arch), or pass "
                "exact_match=False to load the matching keys only."
            )
    for key, value in state_dict.items():
        entry = entries.get(key)
        if entry is None:
            continue
        current = entry.container[entry.name]
        new_value = _as_mx(value)
        expected_shape = tuple(_to_torch_layout(current, entry).shape)
        if tuple(new_value.shape) != expected_shape:
            raise RuntimeError(
                f"Error(s) in loading state_dict for {type(module).__name__}: size mismatch for {key}: copying a param "
                f"with shape {tuple(new_value.shape)} from checkpoint, the shape in current model is {expected_shape}."
            )
        _put(entry.container, entry.name, _to_mlx_layout(new_value, entry).astype(current.dtype), entry)


@dataclass(frozen=True)
class _OptimizerLayout:
    """How one MLX optimizer's state maps onto its torch counterpart's ``state_dict()``."""

    torch_name: str
    state_keys: tuple[tuple[str, str], ...]  # (MLX per-parameter state key, torch key)
    has_step: bool  # torch keeps a per-parameter "step" tensor
    group: Callable[[Any], dict[str, Any]]  # torch's param_group hyperparameters (without "lr" and "params")
    apply_group: Callable[[Any, dict[str, Any]], None]  # set the optimizer's hyperparameters from a param_group
    int_step: bool = False  # the per-parameter "step" is a Python int (SB3's RMSpropTFLike), not a tensor


def _require(group: dict[str, Any], optimizer_name: str, **supported: Any) -> None:
    for name, value in supported.items():
        if group.get(name, value) != value:
            raise ValueError(
                f"The saved {optimizer_name} state uses {name}={group[name]!r}, which mlx.optimizers.{optimizer_name} "
                f"does not support (only {name}={value!r})."
            )


def _adam_group(optimizer: optim.Adam) -> dict[str, Any]:
    return dict(
        betas=tuple(float(b) for b in optimizer.betas),
        eps=float(optimizer.eps),
        weight_decay=float(optimizer.weight_decay) if isinstance(optimizer, optim.AdamW) else 0,
        amsgrad=False,
        maximize=False,
        foreach=None,
        capturable=False,
        differentiable=False,
        fused=None,
        decoupled_weight_decay=isinstance(optimizer, optim.AdamW),
    )


def _apply_adam_group(optimizer: optim.Adam, group: dict[str, Any]) -> None:
    name = type(optimizer).__name__
    _require(group, name, amsgrad=False, maximize=False)
    if isinstance(optimizer, optim.AdamW):
        optimizer.weight_decay = group["weight_decay"]
    else:
        _require(group, name, weight_decay=0)
    optimizer.betas = list(group["betas"])
    optimizer.eps = group["eps"]


def _rmsprop_group(optimizer: optim.RMSprop) -> dict[str, Any]:
    return dict(
        momentum=0,
        alpha=float(optimizer.alpha),
        eps=float(optimizer.eps),
        centered=False,
        weight_decay=0,
        capturable=False,
        foreach=None,
        maximize=False,
        differentiable=False,
    )


def _apply_rmsprop_group(optimizer: optim.RMSprop, group: dict[str, Any]) -> None:
    _require(group, "RMSprop", momentum=0, centered=False, weight_decay=0, maximize=False)
    optimizer.alpha = group["alpha"]
    optimizer.eps = group["eps"]


def _sgd_group(optimizer: optim.SGD) -> dict[str, Any]:
    return dict(
        momentum=float(optimizer.momentum),
        dampening=float(optimizer.dampening),
        weight_decay=float(optimizer.weight_decay),
        nesterov=bool(optimizer.nesterov),
        maximize=False,
        foreach=None,
        differentiable=False,
        fused=None,
    )


def _apply_sgd_group(optimizer: optim.SGD, group: dict[str, Any]) -> None:
    _require(group, "SGD", maximize=False)
    for name in ("momentum", "dampening", "weight_decay", "nesterov"):
        setattr(optimizer, name, group[name])


def _adagrad_group(optimizer: optim.Adagrad) -> dict[str, Any]:
    return dict(
        lr_decay=0,
        eps=float(optimizer.eps),
        weight_decay=0,
        initial_accumulator_value=0,
        foreach=None,
        maximize=False,
        differentiable=False,
        fused=None,
    )


def _apply_adagrad_group(optimizer: optim.Adagrad, group: dict[str, Any]) -> None:
    _require(group, "Adagrad", lr_decay=0, weight_decay=0, maximize=False)
    optimizer.eps = group["eps"]


def _rmsprop_tf_like_group(optimizer: RMSpropTFLike) -> dict[str, Any]:
    return dict(
        momentum=optimizer.momentum,
        alpha=optimizer.alpha,
        eps=optimizer.eps,
        centered=optimizer.centered,
        weight_decay=optimizer.weight_decay,
    )


def _apply_rmsprop_tf_like_group(optimizer: RMSpropTFLike, group: dict[str, Any]) -> None:
    for name in ("momentum", "alpha", "eps", "centered", "weight_decay"):
        setattr(optimizer, name, group[name])


_ADAM_STATE = (("m", "exp_avg"), ("v", "exp_avg_sq"))
_TF_LIKE_STATE = (("square_avg", "square_avg"), ("momentum_buffer", "momentum_buffer"), ("grad_avg", "grad_avg"))
# Looked up along the optimizer's class hierarchy (AdamW before its base Adam); Adamax is absent on purpose: MLX's
# has no bias correction, so its state would not continue torch's run.
_OPTIMIZER_LAYOUTS: dict[type, _OptimizerLayout] = {
    optim.AdamW: _OptimizerLayout("AdamW", _ADAM_STATE, True, _adam_group, _apply_adam_group),
    optim.Adam: _OptimizerLayout("Adam", _ADAM_STATE, True, _adam_group, _apply_adam_group),
    optim.RMSprop: _OptimizerLayout("RMSprop", (("v", "square_avg"),), True, _rmsprop_group, _apply_rmsprop_group),
    optim.SGD: _OptimizerLayout("SGD", (("v", "momentum_buffer"),), False, _sgd_group, _apply_sgd_group),
    optim.Adagrad: _OptimizerLayout("Adagrad", (("v", "sum"),), True, _adagrad_group, _apply_adagrad_group),
    RMSpropTFLike: _OptimizerLayout(
        "RMSpropTFLike", _TF_LIKE_STATE, True, _rmsprop_tf_like_group, _apply_rmsprop_tf_like_group, int_step=True
    ),
}


def _optimizer_layout(optimizer: Any) -> _OptimizerLayout:
    for cls in type(optimizer).__mro__:
        if cls is optim.Adamax:
            break
        if cls in _OPTIMIZER_LAYOUTS:
            return _OPTIMIZER_LAYOUTS[cls]
    supported = ", ".join(cls.__name__ for cls in _OPTIMIZER_LAYOUTS)
    raise TypeError(f"Cannot convert the state of {type(optimizer).__name__} to torch's format: supported are {supported}.")


def _initial_state(optimizer: Any, parameter: mx.array) -> dict[str, mx.array]:
    # What the optimizer creates for a parameter before its first step (zeros, or RMSpropTFLike's ones).
    state: dict[str, mx.array] = {}
    optimizer.init_single(parameter, state)
    return state


def _state_at(state: Any, path: tuple) -> dict | None:
    for part in path:
        in_dict = isinstance(state, dict) and part in state
        in_list = isinstance(state, (list, tuple)) and isinstance(part, int) and part < len(state)
        if not (in_dict or in_list):
            return None
        state = state[part]
    return state if isinstance(state, dict) else None


def _trainable_paths(params: Any) -> set[str] | None:
    if not isinstance(params, nn.Module):
        return None
    return {path for path, _ in named_arrays(params.trainable_parameters())}


def _optimized_entries(optimizer: Any, params: Any) -> list[_ParameterEntry]:
    # torch numbers an optimizer's parameters in the order of ``module.parameters()``: torch order, each array once.
    trainable = _trainable_paths(params)
    entries, seen = [], set()
    for entry in _parameter_entries(params):
        identity = (id(entry.container), entry.name, entry.member)
        if entry.alias or identity in seen:
            continue
        seen.add(identity)
        if trainable is None or ".".join(map(str, entry.path)) in trainable:
            entries.append(entry)
    # The optimizer may have been initialized on part of the tree (a critic without the actor's shared extractor).
    covered = [entry for entry in entries if _state_at(optimizer.state, entry.path) is not None]
    return covered or entries


def optimizer_state_dict(optimizer: Any, params: Any) -> dict[str, Any]:
    """
    An MLX optimizer's state as torch's ``optimizer.state_dict()`` of the matching torch optimizer (Adam, AdamW,
    RMSprop, SGD, Adagrad): ``{"state": {index: {...}}, "param_groups": [{..., "params": [indices]}]}``.

    :param optimizer: the ``mlx.optimizers`` optimizer
    :param params: the module (or dict of arrays) whose parameters it updates, i.e. the tree its state mirrors
    :return: the state dict, ready for ``torch_format.save``
    """
    layout = _optimizer_layout(optimizer)
    entries = _optimized_entries(optimizer, params)
    step = int(optimizer.state["step"].item())
    state: dict[int, dict[str, Any]] = {}
    # torch creates the per-parameter state at the first step; SGD without momentum never has any.
    if step > 0 and not (isinstance(optimizer, optim.SGD) and optimizer.momentum == 0):
        for index, entry in enumerate(entries):
            parameter_state = _state_at(optimizer.state, entry.path)
            if not parameter_state:
                continue
            torch_state: dict[str, Any] = {}
            if layout.has_step:
                # One tensor per parameter: torch increments each in place.
                torch_state["step"] = step if layout.int_step else mx.array(float(step), dtype=mx.float32)
            for mlx_key, torch_key in layout.state_keys:
                if mlx_key in parameter_state:  # optional buffers (momentum, centering) exist only when enabled
                    torch_state[torch_key] = _to_torch_layout(parameter_state[mlx_key], entry)
            state[index] = torch_state
    # MLX keeps the learning rate in float32: write the shortest decimal that rounds to it (3e-4, not 3.0000001e-4).
    learning_rate = float(str(np.float32(optimizer.learning_rate.item())))
    group = {"lr": learning_rate, **layout.group(optimizer), "params": list(range(len(entries)))}
    return {"state": state, "param_groups": [group]}


def load_optimizer_state_dict(optimizer: Any, state_dict: dict[str, Any], params: Any) -> None:
    """
    Load a torch optimizer state dict (from SB3 or ``optimizer_state_dict``) into an MLX optimizer, in place (a
    compiled update that captured ``optimizer.state`` sees the loaded values). As torch's ``load_state_dict``, the
    saved hyperparameters (learning rate, betas, eps...) replace the optimizer's.

    :param optimizer: the ``mlx.optimizers`` optimizer
    :param state_dict: ``{"state": ..., "param_groups": [...]}``
    :param params: the module (or dict of arrays) whose parameters it updates
    :raises ValueError: when the state does not fit (another optimizer type, another number of parameters or shapes)
    """
    layout = _optimizer_layout(optimizer)
    if not isinstance(state_dict, dict) or "param_groups" not in state_dict or "state" not in state_dict:
        raise ValueError("An optimizer state dict must hold 'state' and 'param_groups'.")
    if len(state_dict["param_groups"]) != 1:
        raise ValueError(f"Expected one parameter group (SB3 uses one), got {len(state_dict['param_groups'])}.")
    group = state_dict["param_groups"][0]
    entries = _optimized_entries(optimizer, params)
    if len(group["params"]) != len(entries):
        raise ValueError(
            f"The saved optimizer state covers {len(group['params'])} parameters, but this {type(optimizer).__name__} "
            f"updates {len(entries)}: the file was saved for a different network."
        )
    saved_states = [state_dict["state"].get(torch_index) or {} for torch_index in group["params"]]
    try:
        layout.apply_group(optimizer, group)
    except KeyError as e:
        raise ValueError(
            f"The saved optimizer hyperparameters {sorted(group)} lack {e} of torch's {layout.torch_name}: the file was "
            "saved with another optimizer class."
        ) from e
    for entry, saved in zip(entries, saved_states, strict=True):
        expected = _initial_state(optimizer, _member(entry.container[entry.name], entry))
        missing = [torch_key for mlx_key, torch_key in layout.state_keys if mlx_key in expected and torch_key not in saved]
        if saved and (missing or (layout.has_step and "step" not in saved)):
            raise ValueError(
                f"The saved optimizer state of parameter {entry.key} has keys {sorted(saved)}, not those of torch's "
                f"{layout.torch_name}: the file was saved with another optimizer class."
            )
    if any(_state_at(optimizer.state, entry.path) is None for entry in entries):
        optimizer.init(params.trainable_parameters() if isinstance(params, nn.Module) else params)
    step = 0.0
    for entry, saved in zip(entries, saved_states, strict=True):
        # Every entry has a state here: missing ones were created by optimizer.init above.
        parameter_state = cast(dict, _state_at(optimizer.state, entry.path))
        parameter = _member(entry.container[entry.name], entry)
        initial = _initial_state(optimizer, parameter)
        for mlx_key, torch_key in layout.state_keys:
            if mlx_key not in initial:
                parameter_state.pop(mlx_key, None)
                continue
            if saved.get(torch_key) is None:
                # No state yet (never stepped), as torch: start from the optimizer's initial state.
                _put(parameter_state, mlx_key, initial[mlx_key], entry)
                continue
            value = _to_mlx_layout(_as_mx(saved[torch_key]), entry)
            if value.shape != parameter.shape:
                raise ValueError(
                    f"The saved optimizer state '{torch_key}' of parameter {entry.key} has shape {tuple(value.shape)}, "
                    f"the parameter has {tuple(parameter.shape)}."
                )
            _put(parameter_state, mlx_key, value.astype(parameter.dtype), entry)
        if "step" in saved:
            step = max(step, float(np.asarray(saved["step"])))
    optimizer.state["step"] = mx.array(int(step), dtype=mx.uint64)
    optimizer.learning_rate = group["lr"]


__all__ = ["load_module_state_dict", "load_optimizer_state_dict", "module_state_dict", "optimizer_state_dict"]

"""
Saving and loading in Stable-Baselines3's zip format, both ways, without torch.

A model file is a zip archive holding ``data`` (the algorithm's attributes as JSON, objects that JSON cannot hold
pickled and base64-encoded), one ``<name>.pth`` file per state dict (``policy.pth``, ``policy.optimizer.pth``...)
and ``pytorch_variables.pth`` in torch's format (see ``torch_format``), ``_stable_baselines3_version`` and
``system_info.txt``. State dicts use SB3's key names and torch's layouts, so files move freely between SB3 and
mlx_baselines3. Loading is restricted to an allowlist of classes (``torch_format.find_safe_global``): a file cannot
run code unless ``trusted=True`` is passed.
"""

import base64
import functools
import hashlib
import io
import json
import os
import pathlib
import pickle
import secrets
import socket
import stat
import time
import warnings
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any, cast

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

from mlx_baselines3.common import torch_format
from mlx_baselines3.common.sb2_compat.rmsprop_tf_like import RMSpropTFLike
from mlx_baselines3.common.torch_format import UnsafePickleError
from mlx_baselines3.common.type_aliases import TensorDict
from mlx_baselines3.common.utils import get_device, get_system_info, named_arrays

# The SB3 release whose file format this library reads and writes (SB3 writes its own version in this member and
# never checks it on load).
SB3_FORMAT_VERSION = "2.9.2"


def recursive_getattr(obj: Any, attr: str, *args: Any) -> Any:
    """
    ``getattr`` for a dotted path: ``recursive_getattr(model, "policy.optimizer")`` is ``model.policy.optimizer``.

    :param obj: the root object
    :param attr: the dotted attribute path
    :param args: an optional default, returned when an attribute on the path is missing
    :return: the attribute
    """

    def _getattr(current: Any, name: str) -> Any:
        return getattr(current, name, *args)

    return functools.reduce(_getattr, [obj, *attr.split(".")])


def recursive_setattr(obj: Any, attr: str, val: Any) -> None:
    """
    ``setattr`` for a dotted path: ``recursive_setattr(model, "policy.log_std", value)``.

    :param obj: the root object
    :param attr: the dotted attribute path
    :param val: the new value
    """
    parent, _, name = attr.rpartition(".")
    setattr(recursive_getattr(obj, parent) if parent else obj, name, val)


def is_json_serializable(item: Any) -> bool:
    """
    :param item: any object
    :return: whether ``json.dumps`` accepts it
    """
    try:
        json.dumps(item)
    except (TypeError, ValueError, RecursionError):
        return False
    return True


def data_to_json(data: dict[str, Any]) -> str:
    """
    Encode an algorithm's attributes as SB3 does: values JSON can hold are stored as they are; any other value becomes
    ``{":type:": ..., ":serialized:": base64 pickle}`` plus, for human readers, its first-level attributes. The pickles
    name SB3's and torch's classes, so that SB3 can read them.

    :param data: the attributes to store
    :return: the JSON text
    """
    serializable_data = {}
    for key, item in data.items():
        if is_json_serializable(item):
            serializable_data[key] = item
            continue
        try:
            pickled = torch_format.dumps(item)
        except Exception as e:
            raise TypeError(
                f"Cannot save the attribute '{key}' ({type(item).__qualname__}): {e}. Leave runtime objects out of the "
                "file: list the attribute in _excluded_save_params(), or pass save(..., exclude=[...])."
            ) from e
        entry = {":type:": str(type(item)), ":serialized:": base64.b64encode(pickled).decode()}
        if isinstance(item, dict) or hasattr(item, "__dict__"):
            for name, value in (item if isinstance(item, dict) else vars(item)).items():
                entry[name] = value if is_json_serializable(value) else str(value)
        serializable_data[key] = entry
    return json.dumps(serializable_data, indent=4)


def json_to_data(json_string: str, custom_objects: dict[str, Any] | None = None, trusted: bool = False) -> dict[str, Any]:
    """
    Decode the ``data`` member of a model file.

    :param json_string: the JSON text
    :param custom_objects: values that replace stored attributes of the same name; those are never unpickled (use it
        for an object that cannot or should not be loaded)
    :param trusted: unpickle any class (only for files you trust: a pickle can run code). By default only the
        allowlist of ``torch_format.find_safe_global`` is loaded.
    :return: the attributes
    :raises UnsafePickleError: when an entry needs a class outside the allowlist (all such entries are named)
    :raises ValueError: when the JSON or an entry is corrupt
    """
    if custom_objects is not None and not isinstance(custom_objects, dict):
        raise ValueError(f"custom_objects must be a dict or None, got {type(custom_objects).__name__}")
    try:
        json_dict = json.loads(json_string)
    except (ValueError, RecursionError) as e:
        raise ValueError(f"The model's data is not valid JSON: {e}") from e
    if not isinstance(json_dict, dict):
        raise ValueError(f"The model's data must be a JSON object, got {type(json_dict).__name__}")
    data: dict[str, Any] = {}
    refused: dict[str, str] = {}
    for key, item in json_dict.items():
        if custom_objects is not None and key in custom_objects:
            data[key] = custom_objects[key]
        elif isinstance(item, dict) and ":serialized:" in item:
            try:
                data[key] = torch_format.loads(base64.b64decode(item[":serialized:"], validate=True), trusted=trusted)
            except UnsafePickleError as e:
                refused[key] = str(e)
            except (RuntimeError, TypeError, AttributeError) as e:
                # As SB3: an object that no longer unpickles (library versions changed) is left out with a warning.
                warnings.warn(
                    f"Could not deserialize object {key}. Consider using `custom_objects` argument to replace this object.\n"
                    f"Exception: {e}"
                )
            except Exception as e:
                raise ValueError(f"The saved attribute '{key}' is corrupt: {type(e).__name__}: {e}") from e
        else:
            data[key] = item
    if refused:
        details = "\n".join(f"- {key}: {reason}" for key, reason in refused.items())
        raise UnsafePickleError(
            f"Refused to unpickle the saved attributes {sorted(refused)}:\n{details}\n"
            f"Replace them with custom_objects={{{', '.join(repr(k) + ': ...' for k in refused)}}}, or pass trusted=True "
            "if you trust the file's author (unpickling can run arbitrary code)."
        )
    return data


@functools.singledispatch
def open_path(path: Any, mode: str, verbose: int = 0, suffix: str | None = None) -> Any:
    """
    Open a path (``str`` or ``pathlib.Path``) or check an open binary file for reading (``"r"``) or writing (``"w"``).
    For paths, reading falls back to ``path.suffix`` when ``path`` does not exist; writing adds ``.suffix`` to a
    path without one, creates missing parent folders and writes ``<path>_2`` when ``path`` is a folder.

    :param path: the path or the open file (``io.BufferedWriter``, ``io.BufferedReader``, ``io.BytesIO``,
        ``io.BufferedRandom``)
    :param mode: ``"r"``/``"read"`` or ``"w"``/``"write"``
    :param verbose: 2 to warn about fallbacks and overwrites
    :param suffix: the preferred suffix, without the dot
    :return: the open binary file
    """
    allowed_types = (io.BufferedWriter, io.BufferedReader, io.BytesIO, io.BufferedRandom)
    if not isinstance(path, allowed_types):
        raise TypeError(
            f"Path {path} has invalid type {type(path).__name__}: expected str, pathlib.Path or one of {allowed_types}."
        )
    if path.closed:
        raise ValueError(f"File stream {path} is closed.")
    mode = _normalize_mode(mode)
    if (mode == "w" and not path.writable()) or (mode == "r" and not path.readable()):
        raise ValueError(f"Expected a {'writable' if mode == 'w' else 'readable'} file, got {path}.")
    return path


def _normalize_mode(mode: str) -> str:
    normalized = {"write": "w", "read": "r", "w": "w", "r": "r"}.get(mode.lower())
    if normalized is None:
        raise ValueError(f"Expected mode to be either 'w' or 'r', got {mode!r}.")
    return normalized


@open_path.register(str)
def open_path_str(path: str, mode: str, verbose: int = 0, suffix: str | None = None) -> io.BufferedIOBase:
    """
    ``open_path`` for a path given as a string (see ``open_path``).

    :param path: the path
    :param mode: ``"r"`` or ``"w"``
    :param verbose: 2 to warn about fallbacks and overwrites
    :param suffix: the preferred suffix, without the dot
    :return: the open binary file
    """
    return open_path_pathlib(pathlib.Path(path), mode, verbose, suffix)


@open_path.register(pathlib.Path)
def open_path_pathlib(path: pathlib.Path, mode: str, verbose: int = 0, suffix: str | None = None) -> io.BufferedIOBase:
    """
    ``open_path`` for a ``pathlib.Path`` (see ``open_path``).

    :param path: the path
    :param mode: ``"r"`` or ``"w"``
    :param verbose: 2 to warn about fallbacks and overwrites
    :param suffix: the preferred suffix, without the dot
    :return: the open binary file
    """
    mode = _normalize_mode(mode)
    if mode == "r":
        return open_path(_existing_path(path, verbose, suffix).open("rb"), mode, verbose, suffix)
    path = _writable_path(path, verbose, suffix)
    return open_path(path.open("wb"), mode, verbose, suffix)


def _existing_path(path: pathlib.Path, verbose: int, suffix: str | None) -> pathlib.Path:
    if path.exists() or not suffix:
        return path
    candidate = pathlib.Path(f"{path}.{suffix}")
    if verbose >= 2:
        warnings.warn(f"Path '{path}' not found. Attempting {candidate}.")
    return candidate


def _writable_path(path: pathlib.Path, verbose: int, suffix: str | None) -> pathlib.Path:
    if path.suffix == "" and suffix:
        path = pathlib.Path(f"{path}.{suffix}")
    if path.is_dir():
        warnings.warn(f"Path '{path}' is a folder. Will save instead to {path}_2")
        path = pathlib.Path(f"{path}_2")
    if not path.parent.exists():
        warnings.warn(f"Path '{path.parent}' does not exist. Will create it.")
        path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_file() and verbose >= 2:
        warnings.warn(f"Path '{path}' exists, will overwrite it.")
    return path


# Temporary files of saves are named ``.<target>.<host>-<pid>-<token>.mlxb3-partial``: recognisable as ours, and
# telling which process wrote them, so that a later save removes what a killed save left and nothing else.
_TEMP_SUFFIX = ".mlxb3-partial"
_HOST_TAG = hashlib.sha1(socket.gethostname().encode()).hexdigest()[:8]
# A leftover of another host (shared file system) is removed only at this age: its process may still be writing.
_FOREIGN_TEMP_MAX_AGE_S = 24 * 3600


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError):  # alive but not ours (PermissionError), or the platform cannot tell
        return True
    return True


def _remove_stale_temporaries(folder: pathlib.Path) -> None:
    """
    Delete the temporary files that interrupted saves (SIGKILL, power loss) left in ``folder``: those written by a
    process of this host that no longer runs, and those of other hosts once they are a day old.

    :param folder: the folder of the file just saved
    """
    for leftover in folder.glob(f".*{_TEMP_SUFFIX}"):
        fields = leftover.name[: -len(_TEMP_SUFFIX)].rsplit(".", 1)[-1].split("-")
        if len(fields) != 3 or not fields[1].isdigit():
            continue
        host, pid = fields[0], int(fields[1])
        try:
            if host == _HOST_TAG:
                stale = pid != os.getpid() and not _process_alive(pid)
            else:
                stale = time.time() - leftover.lstat().st_mtime > _FOREIGN_TEMP_MAX_AGE_S
            if stale:
                leftover.unlink()
        except OSError:  # removed meanwhile by another save
            continue


def _create_temporary(target: pathlib.Path) -> tuple[int, pathlib.Path]:
    """
    Create the temporary file of a save next to ``target``, with the mode a plain ``open(target, "wb")`` would give:
    the existing target's mode (and owner, where allowed) when it is overwritten, else 0o666 less the umask (which
    the kernel applies to ``os.open``, so the process umask is never changed).

    :param target: the file to replace (symbolic links already resolved)
    :return: the open file descriptor and the temporary path
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
    while True:
        temporary = target.with_name(f".{target.name}.{_HOST_TAG}-{os.getpid()}-{secrets.token_hex(4)}{_TEMP_SUFFIX}")
        try:
            handle = os.open(temporary, flags, 0o666)
            break
        except FileExistsError:
            continue
    try:
        existing = os.stat(target)
    except FileNotFoundError:
        return handle, temporary
    try:
        os.chmod(temporary, stat.S_IMODE(existing.st_mode))
        if hasattr(os, "fchown") and (existing.st_uid, existing.st_gid) != (os.getuid(), os.getgid()):
            with suppress(OSError):
                os.fchown(handle, existing.st_uid, existing.st_gid)
    except BaseException:
        os.close(handle)
        os.unlink(temporary)
        raise
    return handle, temporary


def _fsync_folder(folder: pathlib.Path) -> None:
    """Make a rename in ``folder`` durable (POSIX); a no-op where folders cannot be opened (Windows)."""
    try:
        handle = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        with suppress(OSError):
            os.fsync(handle)
    finally:
        os.close(handle)


@contextmanager
def atomic_open(path: str | pathlib.Path | io.BufferedIOBase, verbose: int = 0, suffix: str | None = None) -> Iterator[Any]:
    """
    Open a file for writing so that it is replaced atomically: a path is written to a temporary file in the same folder,
    flushed to disk, then renamed over the target (and the folder synced), so an interrupted save leaves the previous
    file intact, never a truncated one. Otherwise it behaves like ``open(path, "wb")``: a new file gets the umask's
    mode, an overwritten one keeps its mode, a symbolic link is written through (the link stays). Temporary files left
    by earlier saves that were killed are removed. Paths follow ``open_path``'s rules (suffix, missing folders,
    folder targets); open files are written directly.

    :param path: the path or a writable binary file
    :param verbose: 2 to warn about overwrites
    :param suffix: the suffix added to a path without one, without the dot
    :return: a context manager giving the binary file to write
    """
    if not isinstance(path, (str, pathlib.Path)):
        yield open_path(path, "w", verbose, suffix)
        return
    target = _writable_path(pathlib.Path(path), verbose, suffix)
    if target.is_symlink():
        target = pathlib.Path(os.path.realpath(target))
    handle, temporary = _create_temporary(target)
    try:
        with os.fdopen(handle, "wb") as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _fsync_folder(target.parent)
    _remove_stale_temporaries(target.parent)


def save_to_zip_file(
    save_path: str | pathlib.Path | io.BufferedIOBase,
    data: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
    pytorch_variables: dict[str, Any] | None = None,
    verbose: int = 0,
) -> None:
    """
    Write a model file in SB3's zip format. The write is atomic when ``save_path`` is a path.

    :param save_path: the path (``.zip`` is added when it has no suffix) or a writable binary file
    :param data: the algorithm's attributes (JSON-encoded, see ``data_to_json``)
    :param params: state dicts by name, e.g. ``{"policy": ..., "policy.optimizer": ...}``, each written to
        ``<name>.pth`` in torch's format
    :param pytorch_variables: other arrays by name (e.g. SAC's ``log_ent_coef``), written to ``pytorch_variables.pth``
    :param verbose: 2 to warn about overwrites
    """
    serialized_data = data_to_json(data) if data is not None else None
    with atomic_open(save_path, verbose, "zip") as file, zipfile.ZipFile(file, mode="w") as archive:
        if serialized_data is not None:
            archive.writestr("data", serialized_data)
        members = {} if pytorch_variables is None else {"pytorch_variables": pytorch_variables}
        members.update(params or {})
        for name, obj in members.items():
            # As SB3 (torch.save into an archive stream): zip64 headers, records in an "archive" folder.
            with archive.open(f"{name}.pth", mode="w", force_zip64=True) as member:
                torch_format.save(obj, member)  # type: ignore[arg-type]  # a zip member is a binary file object
        archive.writestr("_stable_baselines3_version", SB3_FORMAT_VERSION)
        archive.writestr("system_info.txt", get_system_info(print_info=False)[1])


def save_to_pkl(path: str | pathlib.Path | io.BufferedIOBase, obj: Any, verbose: int = 0) -> None:
    """
    Pickle an object (e.g. a replay buffer) to a file, atomically when ``path`` is a path.

    :param path: the path (``.pkl`` is added when it has no suffix) or a writable binary file
    :param obj: the object
    :param verbose: 2 to warn about overwrites
    """
    with atomic_open(path, verbose, "pkl") as file:
        # Protocol 5 handles objects over 4 GB (large replay buffers).
        pickle.dump(obj, file, protocol=pickle.HIGHEST_PROTOCOL)


def load_from_pkl(path: str | pathlib.Path | io.BufferedIOBase, verbose: int = 0, trusted: bool = False) -> Any:
    """
    Load a pickled object (e.g. a replay buffer saved by this library or by SB3), with the allowlist of
    ``torch_format.find_safe_global`` unless ``trusted``.

    :param path: the path (``.pkl`` is tried when it does not exist) or a readable binary file
    :param verbose: 2 to warn about the suffix fallback
    :param trusted: unpickle any class (only for files you trust: a pickle can run code)
    :return: the object
    """
    file = open_path(path, "r", verbose=verbose, suffix="pkl")
    try:
        return torch_format.RestrictedUnpickler(file, trusted=trusted).load()
    finally:
        if isinstance(path, (str, pathlib.Path)):
            file.close()


def load_from_zip_file(
    load_path: str | pathlib.Path | io.BufferedIOBase,
    load_data: bool = True,
    custom_objects: dict[str, Any] | None = None,
    device: Any = "auto",
    verbose: int = 0,
    print_system_info: bool = False,
    trusted: bool = False,
) -> tuple[dict[str, Any] | None, dict[str, Any], TensorDict | None]:
    """
    Read a model file written by SB3 or by this library. Tensors become MLX arrays in torch's layouts (see
    ``load_module_state_dict`` and ``load_optimizer_state_dict`` to put them into modules and optimizers).

    :param load_path: the path (``.zip`` is tried when it does not exist) or a readable binary file
    :param load_data: decode the ``data`` member (False to read the weights only)
    :param custom_objects: values replacing stored attributes of the same name, never unpickled
    :param device: checked for validity; MLX arrays live in unified memory
    :param verbose: 2 to warn about the suffix fallback
    :param print_system_info: print the system information stored in the file
    :param trusted: unpickle any class (only for files you trust: a pickle can run code)
    :return: the attributes (None when not loaded or absent), the state dicts by name, the other arrays
        (``pytorch_variables``, None when absent)
    :raises ValueError: when the file is not a zip file or is corrupt
    :raises UnsafePickleError: when the file needs a class outside the allowlist
    """
    get_device(device)
    file = open_path(load_path, "r", verbose=verbose, suffix="zip")
    data = None
    pytorch_variables = None
    params: dict[str, Any] = {}
    try:
        try:
            archive = zipfile.ZipFile(file)
        except Exception as e:
            # BadZipFile, or whatever a truncated or damaged central directory makes zipfile raise.
            raise ValueError(f"Error: the file {load_path} wasn't a zip-file or is corrupt ({type(e).__name__}: {e})") from e
        with archive:
            # A truncated model file can still end with the directory of a .pth archive stored inside it, which
            # zipfile then takes for the whole file (as data prepended to an archive): its members do not start at 0.
            if any(info.header_offset > 0 for info in archive.infolist()[:1]):
                raise ValueError(f"Error: the file {load_path} is truncated or corrupt (its zip directory is not its own)")
            namelist = archive.namelist()
            if print_system_info:
                if "system_info.txt" in namelist:
                    print("== SAVED MODEL SYSTEM INFO ==")
                    print(_read_member(archive, "system_info.txt", load_path).decode(errors="replace"))
                else:
                    warnings.warn(
                        "The model was saved with SB3 <= 1.2.0 and thus cannot print system information.", UserWarning
                    )
            if "data" in namelist and load_data:
                try:
                    json_text = _read_member(archive, "data", load_path).decode()
                except UnicodeDecodeError as e:
                    raise ValueError(f"The member 'data' of {load_path} is not UTF-8 text: {e}") from e
                data = json_to_data(json_text, custom_objects=custom_objects, trusted=trusted)
            for member in namelist:
                name, extension = os.path.splitext(member)
                if extension != ".pth":
                    continue
                try:
                    content = torch_format.load(_read_member(archive, member, load_path), trusted=trusted, map_tensor=mx.array)
                except ValueError as e:
                    raise ValueError(f"The member {member} of {load_path} is corrupt: {e}") from e
                # "tensors.pth" is the name SB3 < 0.9 gave to "pytorch_variables.pth".
                if member in ("pytorch_variables.pth", "tensors.pth"):
                    pytorch_variables = content
                else:
                    params[name] = content
    finally:
        if isinstance(load_path, (str, pathlib.Path)):
            file.close()
    return data, params, pytorch_variables


def _read_member(archive: zipfile.ZipFile, member: str, load_path: Any) -> bytes:
    try:
        return archive.read(member)
    except Exception as e:
        # A damaged member raises BadZipFile (bad CRC or header), EOFError (truncated), NotImplementedError (unknown
        # compression), RuntimeError (flagged as encrypted), zlib.error...: all mean the same to the caller.
        raise ValueError(
            f"The member {member} of {load_path} cannot be read, the file is corrupt ({type(e).__name__}: {e})"
        ) from e


# ----------------------------------------------------------------------------------------------------------------------
# MLX modules and optimizers <-> torch state dicts


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


__all__ = [
    "SB3_FORMAT_VERSION",
    "atomic_open",
    "data_to_json",
    "is_json_serializable",
    "json_to_data",
    "load_from_pkl",
    "load_from_zip_file",
    "load_module_state_dict",
    "load_optimizer_state_dict",
    "module_state_dict",
    "open_path",
    "open_path_pathlib",
    "open_path_str",
    "optimizer_state_dict",
    "recursive_getattr",
    "recursive_setattr",
    "save_to_pkl",
    "save_to_zip_file",
]

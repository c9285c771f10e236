"""
Saving and loading in Stable-Baselines3's zip format, both ways, without torch.

A model file is a zip archive holding ``data`` (the algorithm's attributes as JSON, objects that JSON cannot hold
pickled and base64-encoded), one ``<name>.pth`` file per state dict (``policy.pth``, ``policy.optimizer.pth``...)
and ``pytorch_variables.pth`` in torch's format (see ``torch_format``), ``_stable_baselines3_version`` and
``system_info.txt``. State dicts use SB3's key names and torch's layouts, so files move freely between SB3 and
mlx_baselines3. Loading never runs code from the file (see ``safe_pickle`` and ``safe_load``) unless ``trusted=True``.
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
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

import mlx.core as mx

from mlx_baselines3.common import safe_load, safe_pickle, torch_format
from mlx_baselines3.common.exceptions import LoadError
from mlx_baselines3.common.safe_pickle import shorten

# The state-dict mapping lives in state_dict.py; these names stay importable from here.
from mlx_baselines3.common.state_dict import (
    load_module_state_dict,
    load_optimizer_state_dict,
    module_state_dict,
    optimizer_state_dict,
)
from mlx_baselines3.common.type_aliases import TensorDict
from mlx_baselines3.common.utils import get_device, get_system_info

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


# Attributes whose saved value may be a function (a schedule): when default loading cannot make it (a pickled lambda
# or closure, a schedule class of another library), it is skipped with a warning instead of refusing the file.
SCHEDULE_ATTRIBUTES = ("learning_rate", "lr_schedule", "clip_range", "clip_range_vf", "exploration_schedule")


def _where(path: Any) -> str:
    # A short name of the file for error messages.
    if isinstance(path, (str, pathlib.Path)):
        return shorten(str(path), 200).strip("'")
    name = getattr(path, "name", None)
    return shorten(name, 200).strip("'") if isinstance(name, str) else f"<{type(path).__name__}>"


def decode_data_entries(
    json_dict: dict[str, Any],
    where: str,
    custom_objects: dict[str, Any] | None = None,
    trusted: bool = False,
    skippable: Iterable[str] = SCHEDULE_ATTRIBUTES,
    keys: Iterable[str] | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """
    Decode the entries of a model's ``data`` member: plain JSON values as they are, pickled entries (``:serialized:``)
    through the safe decoder and builder (or Python's pickle when ``trusted``), ``custom_objects`` instead of the saved
    values (never decoded).

    :param json_dict: the parsed JSON object
    :param where: names the file in error messages
    :param custom_objects: values replacing saved entries of the same name
    :param trusted: unpickle with Python's pickle (runs code from the file)
    :param skippable: entries left out (and reported) rather than refused when they need what default loading does not
        make, e.g. a pickled lambda schedule
    :param keys: decode only these entries (None: all)
    :return: the values, and the names of the skipped entries
    :raises LoadError: when an entry is corrupt, or needs what default loading does not make and is not skippable
    """
    if custom_objects is not None and not isinstance(custom_objects, dict):
        raise ValueError(f"custom_objects must be a dict or None, got {type(custom_objects).__name__}")
    wanted = None if keys is None else set(keys)
    skippable = set(skippable)
    data: dict[str, Any] = {}
    skipped: list[str] = []
    refused: dict[str, str] = {}
    for key, item in json_dict.items():
        if wanted is not None and key not in wanted:
            continue
        if custom_objects is not None and key in custom_objects:
            data[key] = custom_objects[key]
        elif isinstance(item, dict) and ":serialized:" in item:
            entry = f"{where}, member 'data', entry '{shorten(key, 60).strip(chr(39))}'"
            try:
                pickled = base64.b64decode(item[":serialized:"], validate=True)
            except (ValueError, TypeError) as e:
                raise LoadError(f"{entry}: the pickle is not valid base64: {e}") from None
            try:
                data[key] = torch_format.loads(pickled, trusted=trusted, where=entry)
            except safe_load.Refused as e:
                if key in skippable:
                    skipped.append(key)
                else:
                    refused[key] = str(e)
        else:
            data[key] = item
    if refused:
        details = "\n".join(f"- {reason}" for reason in refused.values())
        raise LoadError(
            f"{where}: refused the saved entries {sorted(refused)}, which default loading cannot make without running "
            f"code from the file:\n{details}\nReplace them with custom_objects="
            f"{{{', '.join(repr(k) + ': ...' for k in refused)}}}, allow a class of yours that the file names with "
            "mlx_baselines3.common.safe_load.add_safe_globals([...]), or pass trusted=True if you trust the file's "
            "author (unpickling can run arbitrary code)."
        )
    return data, skipped


def warn_skipped(where: str, skipped: list[str], replacement: str = "") -> None:
    """
    The one warning about entries that default loading left out.

    :param where: names the file
    :param skipped: the entries
    :param replacement: what was used instead, for the message
    """
    if skipped:
        warnings.warn(
            f"{where}: skipped the saved entries {sorted(skipped)}: they hold pickled functions (e.g. a lambda or "
            f"closure schedule), which default loading never runs. {replacement}Pass custom_objects="
            f"{{{', '.join(repr(k) + ': ...' for k in sorted(skipped))}}} to set them, or trusted=True to unpickle them "
            "if you trust the file (unpickling can run arbitrary code).",
            UserWarning,
            stacklevel=3,
        )


def json_to_data(
    json_string: str, custom_objects: dict[str, Any] | None = None, trusted: bool = False, where: str = "data"
) -> dict[str, Any]:
    """
    Decode the ``data`` member of a model file. Pickled entries are decoded and built without running code from the
    file (see ``safe_load``); saved schedules that are functions (``SCHEDULE_ATTRIBUTES``) are left out with one
    warning; anything else default loading cannot make is refused.

    :param json_string: the JSON text
    :param custom_objects: values that replace stored entries of the same name; those are never unpickled (use it
        for an object that cannot or should not be loaded)
    :param trusted: unpickle with Python's pickle (only for files you trust: a pickle can run code)
    :param where: names the file in error messages
    :return: the attributes
    :raises LoadError: when the JSON or an entry is corrupt, or an entry is refused (all such entries are named)
    """
    data, skipped = decode_data_entries(parse_data_json(json_string, where), where, custom_objects, trusted)
    warn_skipped(where, skipped)
    return data


def parse_data_json(json_string: str | bytes, where: str) -> dict[str, Any]:
    """
    :param json_string: the ``data`` member's text
    :param where: names the file in error messages
    :return: the parsed JSON object
    :raises LoadError: when it is not a JSON object
    """
    try:
        json_dict = json.loads(json_string)
    except (ValueError, RecursionError) as e:
        raise LoadError(f"{where}: the member 'data' is not valid JSON: {shorten(str(e), 200)}") from None
    if not isinstance(json_dict, dict):
        raise LoadError(f"{where}: the member 'data' must be a JSON object, got {type(json_dict).__name__}")
    return json_dict


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
    Load a pickled object (e.g. a replay buffer or VecNormalize saved by this library or by SB3) without running code
    from the file: it is decoded and built from known shapes only (see ``safe_load``), unless ``trusted``.

    :param path: the path (``.pkl`` is tried when it does not exist) or a readable binary file
    :param verbose: 2 to warn about the suffix fallback
    :param trusted: unpickle with Python's pickle (only for files you trust: a pickle can run code)
    :return: the object
    :raises LoadError: when the file is corrupt, too large, or needs what default loading does not make
    """
    limit = safe_pickle.DEFAULT_LIMITS.max_pickle_bytes
    file = open_path(path, "r", verbose=verbose, suffix="pkl")
    where = _where(path)
    try:
        content = safe_load.read_capped(file, limit, where)
    finally:
        if isinstance(path, (str, pathlib.Path)):
            file.close()
    try:
        return torch_format.loads(content, trusted=trusted, where=where)
    except safe_load.Refused as e:
        raise LoadError(
            f"{e} Pass trusted=True if you trust the file's author (unpickling can run arbitrary code), e.g. for a "
            "subclass of your own."
        ) from None


@dataclass
class ModelFile:
    """The members of a model zip, read and checked: ``data`` parsed as JSON but not decoded, the ``.pth`` members
    loaded (tensors as MLX arrays)."""

    where: str  # names the file in error messages
    json_data: dict[str, Any] | None  # the parsed ``data`` member (None when absent or not read)
    params: dict[str, Any]  # state dicts by name ("policy", "policy.optimizer"...)
    pytorch_variables: dict[str, Any] | None  # ``pytorch_variables.pth``, None when absent


def read_zip_file(
    load_path: str | pathlib.Path | io.BufferedIOBase,
    load_data: bool = True,
    verbose: int = 0,
    print_system_info: bool = False,
    trusted: bool = False,
) -> ModelFile:
    """
    Read a model zip: every member with a bound on its size, the ``.pth`` members through ``torch_format.load``.

    :param load_path: the path (``.zip`` is tried when it does not exist) or a readable binary file
    :param load_data: parse the ``data`` member
    :param verbose: 2 to warn about the suffix fallback
    :param print_system_info: print the system information stored in the file
    :param trusted: unpickle the ``.pth`` members with Python's pickle (runs code from the file)
    :return: the members
    :raises LoadError: when the file is not a zip file, is corrupt or holds what default loading refuses
    """
    limits = safe_pickle.DEFAULT_LIMITS
    file = open_path(load_path, "r", verbose=verbose, suffix="zip")
    where = _where(load_path)
    json_data = None
    pytorch_variables = None
    params: dict[str, Any] = {}
    try:
        try:
            archive = zipfile.ZipFile(file)
        except Exception as e:
            # BadZipFile, or whatever a truncated or damaged central directory makes zipfile raise.
            raise LoadError(f"Error: the file {where} wasn't a zip-file or is corrupt ({type(e).__name__}: {e})") from e
        with archive:
            # A truncated model file can still end with the directory of a .pth archive stored inside it, which
            # zipfile then takes for the whole file (as data prepended to an archive): its members do not start at 0.
            if any(info.header_offset > 0 for info in archive.infolist()[:1]):
                raise LoadError(f"Error: the file {where} is truncated or corrupt (its zip directory is not its own)")
            namelist = archive.namelist()
            if len(namelist) > 1024:
                raise LoadError(f"{where}: {len(namelist)} members, a model file has about ten")
            if print_system_info:
                if "system_info.txt" in namelist:
                    print("== SAVED MODEL SYSTEM INFO ==")
                    print(torch_format.read_member(archive, "system_info.txt", where, 1 << 20).decode(errors="replace"))
                else:
                    warnings.warn(
                        "The model was saved with SB3 <= 1.2.0 and thus cannot print system information.", UserWarning
                    )
            if "data" in namelist and load_data:
                json_data = parse_data_json(torch_format.read_member(archive, "data", where, limits.max_member_bytes), where)
            for member in namelist:
                name, extension = os.path.splitext(member)
                if extension != ".pth":
                    continue
                content = torch_format.read_member(archive, member, where, limits.max_member_bytes)
                loaded = torch_format.load(
                    content, trusted=trusted, map_tensor=mx.array, where=f"{where}, member {shorten(member, 80)}"
                )
                # "tensors.pth" is the name SB3 < 0.9 gave to "pytorch_variables.pth".
                if member in ("pytorch_variables.pth", "tensors.pth"):
                    if not isinstance(loaded, dict):
                        raise LoadError(f"{where}, member '{member}': expected a dict of arrays")
                    pytorch_variables = loaded
                else:
                    params[name] = loaded
    finally:
        if isinstance(load_path, (str, pathlib.Path)):
            file.close()
    return ModelFile(where, json_data, params, pytorch_variables)


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
    Read a model file written by SB3 or by this library, without running code from it (unless ``trusted``). Tensors
    become MLX arrays in torch's layouts (see ``state_dict.load_module_state_dict`` and
    ``state_dict.load_optimizer_state_dict`` to put them into modules and optimizers).

    :param load_path: the path (``.zip`` is tried when it does not exist) or a readable binary file
    :param load_data: decode the ``data`` member (False to read the weights only)
    :param custom_objects: values replacing stored attributes of the same name, never unpickled
    :param device: checked for validity; MLX arrays live in unified memory
    :param verbose: 2 to warn about the suffix fallback
    :param print_system_info: print the system information stored in the file
    :param trusted: unpickle with Python's pickle (only for files you trust: a pickle can run code)
    :return: the attributes (None when not loaded or absent), the state dicts by name, the other arrays
        (``pytorch_variables``, None when absent)
    :raises LoadError: when the file is not a zip file, is corrupt, or holds what default loading refuses
    """
    get_device(device)
    contents = read_zip_file(load_path, load_data, verbose, print_system_info, trusted)
    data = None
    if contents.json_data is not None:
        data, skipped = decode_data_entries(contents.json_data, contents.where, custom_objects, trusted)
        warn_skipped(contents.where, skipped)
    return data, contents.params, contents.pytorch_variables


__all__ = [
    "SB3_FORMAT_VERSION",
    "SCHEDULE_ATTRIBUTES",
    "ModelFile",
    "atomic_open",
    "data_to_json",
    "decode_data_entries",
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
    "parse_data_json",
    "read_zip_file",
    "recursive_getattr",
    "recursive_setattr",
    "save_to_pkl",
    "save_to_zip_file",
    "warn_skipped",
]

"""
Training logger: key-value diagnostics written as a console table, text log, CSV, JSON lines or TensorBoard events.

The behaviour (table layout, file names, environment variables, ``exclude`` semantics) is the one of
Stable-Baselines3 2.9.2, so existing scripts and log readers keep working. TensorBoard support is optional: it needs
the ``tensorboardX`` package, which is only imported when a TensorBoard output is created, and it never imports torch.
"""

import datetime
import json
import os
import sys
import tempfile
import warnings
from collections import defaultdict
from collections.abc import Mapping, Sequence
from io import TextIOBase
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np

if TYPE_CHECKING:
    import matplotlib.figure
    import pandas

DEBUG = 10
INFO = 20
WARN = 30
ERROR = 40
DISABLED = 50


class Video:
    """
    A video to log (TensorBoard only): its frames and playback speed.

    :param frames: frames as an array of shape (N, T, C, H, W): N videos of T frames each, laid out side by side.
        ``uint8`` values are used as they are; floating point values are taken to lie in [0, 1].
        NumPy arrays, ``mx.array`` and anything ``np.asarray`` accepts (a CPU torch tensor, for instance) work.
        Encoding the GIF that TensorBoard shows needs ``moviepy`` (in the ``extra``), as with SB3.
    :param fps: frames per second
    """

    def __init__(self, frames: Any, fps: float):
        self.frames = frames
        self.fps = fps


class Figure:
    """
    A matplotlib figure to log (TensorBoard only).

    :param figure: the figure
    :param close: whether to close the figure once it has been rendered into the log
    """

    def __init__(self, figure: "matplotlib.figure.Figure", close: bool):
        self.figure = figure
        self.close = close


class Image:
    """
    An image to log (TensorBoard only).

    :param image: pixel array (NumPy, ``mx.array`` or anything ``np.asarray`` accepts).
        ``uint8`` values are used as they are; floating point values are taken to lie in [0, 1].
    :param dataformats: how the axes of ``image`` are ordered, for example ``"HWC"`` (Gymnasium's ``render()``
        output), ``"CHW"``, ``"HW"``, or ``"NCHW"``/``"NHWC"`` for a batch drawn as a grid.
    """

    def __init__(self, image: Any, dataformats: str):
        self.image = image
        self.dataformats = dataformats


class HParam:
    """
    Hyperparameters and the metrics to show next to them in TensorBoard's HPARAMS tab (TensorBoard only).

    :param hparam_dict: hyperparameter names and values (bool, str, number or None; None entries are skipped)
    :param metric_dict: metric tags and initial values. TensorBoard displays the scalars logged under these tags,
        so they must also be recorded as ordinary values. Must not be empty, or the tab stays blank.
    """

    def __init__(self, hparam_dict: Mapping[str, bool | str | float | None], metric_dict: Mapping[str, float]):
        self.hparam_dict = hparam_dict
        if not metric_dict:
            raise Exception("`metric_dict` must not be empty to display hyperparameters to the HPARAMS tensorboard tab.")
        self.metric_dict = metric_dict


class FormatUnsupportedError(NotImplementedError):
    """
    Raised when an output format cannot represent a logged value (a video written to CSV, for example).

    :param unsupported_formats: the formats that refused the value, for example ``["stdout"]``
    :param value_description: what kind of value it was, for example ``"video"``
    """

    def __init__(self, unsupported_formats: Sequence[str], value_description: str):
        if len(unsupported_formats) > 1:
            format_str = f"formats {', '.join(unsupported_formats)} are"
        else:
            format_str = f"format {unsupported_formats[0]} is"
        super().__init__(
            f"The {format_str} not supported for the {value_description} value logged.\n"
            f"You can exclude formats via the `exclude` parameter of the logger's `record` function."
        )


def _reject_rich_values(value: Any, formats: list[str]) -> None:
    """
    Raise :class:`FormatUnsupportedError` when ``value`` is a Video, Figure, Image or HParam.

    :param value: the logged value
    :param formats: names of the formats that cannot write it
    """
    for value_class, description in ((Video, "video"), (Figure, "figure"), (Image, "image"), (HParam, "hparam")):
        if isinstance(value, value_class):
            raise FormatUnsupportedError(formats, description)


class KVWriter:
    """
    Base class of the outputs that write a dictionary of key-value pairs at each ``dump``.
    """

    def write(self, key_values: dict[str, Any], key_excluded: dict[str, tuple[str, ...]], step: int = 0) -> None:
        """
        Write one set of key-value pairs.

        :param key_values: the values recorded since the last dump
        :param key_excluded: for each key, the names of the formats that must skip it
        :param step: the step (timestep) the values belong to
        """
        raise NotImplementedError

    def close(self) -> None:
        """
        Release the resources (files, writers) held by this output.
        """
        raise NotImplementedError


class SeqWriter:
    """
    Base class of the outputs that can also write free text lines (``Logger.log``).
    """

    def write_sequence(self, sequence: list[str]) -> None:
        """
        Write the strings separated by spaces, on one line.

        :param sequence: the strings to write
        """
        raise NotImplementedError


class HumanOutputFormat(KVWriter, SeqWriter):
    """
    Human-readable ASCII table of the key-value pairs, for the console (``stdout``) or a text file (``log``).

    Keys that share a prefix ending in ``/`` (``train/``, ``rollout/``…) are grouped under that prefix and indented.

    :param filename_or_file: path of the file to create, or an open text stream (for example ``sys.stdout``)
    :param max_length: keys and values longer than this are cut to this length, ending in ``...``; the table is
        at most ``2 * max_length + 7`` characters wide (79 with the default). Two keys that become identical
        once cut raise a ``ValueError``.
    """

    def __init__(self, filename_or_file: str | TextIO, max_length: int = 36):
        self.max_length = max_length
        if isinstance(filename_or_file, str):
            self.file: TextIO = open(filename_or_file, "w")  # noqa: SIM115 (kept open until close())
            self.own_file = True
        elif isinstance(filename_or_file, TextIOBase) or hasattr(filename_or_file, "write"):
            # Some stream objects (captured outputs, notebook streams) have `write` without deriving from TextIOBase.
            self.file = filename_or_file
            self.own_file = False
        else:
            raise ValueError(f"Expected file or str, got {filename_or_file}")

    def write(self, key_values: dict[str, Any], key_excluded: dict[str, tuple[str, ...]], step: int = 0) -> None:
        # (group prefix, shown key) -> shown value; group header rows have an empty value.
        rows: dict[tuple[str, str], str] = {}
        group = ""
        for key in sorted(key_values):
            excluded = key_excluded.get(key)
            if excluded is not None and ("stdout" in excluded or "log" in excluded):
                continue
            value = key_values[key]
            _reject_rich_values(value, ["stdout", "log"])
            # Only Python floats (np.float64 included) get the compact 3-significant-digit form, as in SB3.
            value_str = f"{value:<8.3g}" if isinstance(value, float) else str(value)

            slash = key.find("/")
            if slash > 0:
                group = key[: slash + 1]
                rows[(group, self._truncate(group))] = ""
            # The group is remembered from the previous key, so a key without a prefix keeps the last group.
            if group and group in key:
                key = " " * 3 + key[len(group) :]

            shown_key = self._truncate(key)
            if (group, shown_key) in rows:
                raise ValueError(
                    f"Key '{key}' truncated to '{shown_key}' that already exists. Consider increasing `max_length`."
                )
            rows[(group, shown_key)] = self._truncate(value_str)

        if not rows:
            warnings.warn("Tried to write empty key-value dict")
            return

        key_width = max(len(shown_key) for _, shown_key in rows)
        value_width = max(len(shown_value) for shown_value in rows.values())
        dashes = "-" * (key_width + value_width + 7)
        lines = [dashes]
        lines += [
            f"| {shown_key:<{key_width}} | {shown_value:<{value_width}} |" for (_, shown_key), shown_value in rows.items()
        ]
        lines.append(dashes)
        text = "\n".join(lines) + "\n"

        if getattr(self.file, "name", None) == "<stdout>":
            try:
                from tqdm import tqdm
            except ImportError:
                self.file.write(text)
            else:
                # tqdm.write prints above an active progress bar instead of breaking it.
                tqdm.write(text, file=sys.stdout, end="")
        else:
            self.file.write(text)
        self.file.flush()

    def _truncate(self, string: str) -> str:
        if len(string) > self.max_length:
            return string[: self.max_length - 3] + "..."
        return string

    def write_sequence(self, sequence: list[str]) -> None:
        self.file.write(" ".join(sequence) + "\n")
        self.file.flush()

    def close(self) -> None:
        """
        Close the file if this output opened it (a stream passed in by the caller stays open).
        """
        if self.own_file:
            self.file.close()


def filter_excluded_keys(key_values: dict[str, Any], key_excluded: dict[str, tuple[str, ...]], _format: str) -> dict[str, Any]:
    """
    Drop the keys that were recorded with ``exclude`` naming ``_format``.

    :param key_values: the recorded values
    :param key_excluded: for each key, the formats that must skip it
    :param _format: the format being written (``"csv"``, ``"json"``…)
    :return: a new dictionary without the excluded keys
    """
    return {
        key: value
        for key, value in key_values.items()
        if not (key_excluded.get(key) is not None and _format in key_excluded[key])
    }


class JSONOutputFormat(KVWriter):
    """
    One JSON object per dump, one per line (JSON Lines), for example ``progress.json``.

    Arrays (NumPy, ``mx.array``) of one element are written as a number, longer ones as (nested) lists.

    :param filename: path of the file to create
    """

    def __init__(self, filename: str):
        self.file = open(filename, "w")  # noqa: SIM115 (kept open until close())

    @staticmethod
    def _to_json(value: Any) -> Any:
        _reject_rich_values(value, ["json"])
        if hasattr(value, "dtype"):
            if value.shape == () or len(value) == 1:
                return float(value.item())
            return value.tolist()
        return value

    def write(self, key_values: dict[str, Any], key_excluded: dict[str, tuple[str, ...]], step: int = 0) -> None:
        kept = filter_excluded_keys(key_values, key_excluded, "json")
        self.file.write(json.dumps({key: self._to_json(value) for key, value in kept.items()}) + "\n")
        self.file.flush()

    def close(self) -> None:
        """
        Close the file.
        """
        self.file.close()


class CSVOutputFormat(KVWriter):
    """
    Comma-separated values with a header line, for example ``progress.csv``.

    When a dump brings keys never seen before, they become new columns: the header is rewritten and the earlier rows
    get empty cells for them. Strings are quoted (``"`` doubled inside) so that commas in text stay in one cell.

    :param filename: path of the file to create
    """

    def __init__(self, filename: str):
        self.file = open(filename, "w+")  # noqa: SIM115 (kept open until close())
        self.keys: list[str] = []
        self.separator = ","
        self.quotechar = '"'

    def write(self, key_values: dict[str, Any], key_excluded: dict[str, tuple[str, ...]], step: int = 0) -> None:
        key_values = filter_excluded_keys(key_values, key_excluded, "csv")
        new_keys = sorted(key_values.keys() - set(self.keys))
        if new_keys:
            self.keys.extend(new_keys)
            self.file.seek(0)
            old_rows = self.file.readlines()[1:]
            padding = self.separator * len(new_keys)
            self.file.seek(0)
            self.file.truncate()
            self.file.write(self.separator.join(self.keys) + "\n")
            self.file.writelines(row.rstrip("\n") + padding + "\n" for row in old_rows)

        cells = []
        for key in self.keys:
            value = key_values.get(key)
            _reject_rich_values(value, ["csv"])
            if isinstance(value, str):
                escaped = value.replace(self.quotechar, self.quotechar * 2)
                cells.append(f"{self.quotechar}{escaped}{self.quotechar}")
            else:
                cells.append("" if value is None else str(value))
        self.file.write(self.separator.join(cells) + "\n")
        self.file.flush()

    def close(self) -> None:
        """
        Close the file.
        """
        self.file.close()


def _import_tensorboardx() -> Any:
    """
    Import tensorboardX (torch's ``SummaryWriter`` API without torch or TensorFlow).

    tensorboardX imports torch at import time when torch is installed, only to recognize torch tensors; the logger
    always hands it NumPy arrays, so that import is blocked here (a ``None`` entry in ``sys.modules``) instead of
    costing seconds and breaking the promise that this library never imports torch.

    :return: the ``tensorboardX`` module
    :raises ImportError: when tensorboardX is missing, naming the package and the extra
    """
    block_torch = "torch" not in sys.modules
    if block_torch:
        sys.modules["torch"] = None  # type: ignore[assignment]
    try:
        import tensorboardX
        import tensorboardX.summary
    except ImportError as e:
        raise ImportError(
            "TensorBoard logging needs the tensorboardX package: pip install tensorboardX "
            '(or pip install "mlx-baselines3[extra]").'
        ) from e
    finally:
        if block_torch and sys.modules.get("torch", 0) is None:
            del sys.modules["torch"]
    return tensorboardX


def _as_numpy(value: Any) -> Any:
    # tensorboardX reads NumPy arrays (and torch tensors); MLX arrays and sequences are converted first.
    return value if isinstance(value, np.ndarray) else np.asarray(value)


class TensorBoardOutputFormat(KVWriter):
    """
    Write the key-value pairs as TensorBoard events in ``folder``: numbers as scalars, strings as text, arrays as
    histograms, and :class:`Video`, :class:`Figure`, :class:`Image`, :class:`HParam` values in their tabs.

    ``writer`` is a ``tensorboardX.SummaryWriter``, which has the API of ``torch.utils.tensorboard.SummaryWriter``
    that SB3 exposes there, so code that writes to it directly keeps working. Needs ``tensorboardX``
    (``pip install "mlx-baselines3[extra]"``); torch is not used.

    :param folder: the folder to write the event file to
    """

    def __init__(self, folder: str):
        self.writer = _import_tensorboardx().SummaryWriter(log_dir=folder)
        # tensorboardX hands events to a background thread and its flush() does not wait for them, so a value logged
        # just before a dump could still be missing from the file. torch's writer (SB3's) waits; writing each event
        # directly into the event file gives the same guarantee: after dump(), everything is on disk.
        event_file_writer = self.writer.file_writer.event_writer
        event_file_writer.add_event = event_file_writer._ev_writer.write_event
        self._is_closed = False

    def write(self, key_values: dict[str, Any], key_excluded: dict[str, tuple[str, ...]], step: int = 0) -> None:
        assert not self._is_closed, "The SummaryWriter was closed, please re-create one."
        for key in sorted(key_values):
            excluded = key_excluded.get(key)
            if excluded is not None and "tensorboard" in excluded:
                continue
            value = key_values[key]
            if isinstance(value, str):
                self.writer.add_text(key, value, step)
            elif isinstance(value, np.ScalarType):
                self.writer.add_scalar(key, value, step)
            elif isinstance(value, Video):
                self.writer.add_video(key, _as_numpy(value.frames), step, value.fps)
            elif isinstance(value, Figure):
                self.writer.add_figure(key, value.figure, step, close=value.close)
            elif isinstance(value, Image):
                self.writer.add_image(key, _as_numpy(value.image), step, dataformats=value.dataformats)
            elif isinstance(value, HParam):
                self._write_hparams(value)
            elif hasattr(value, "shape") and hasattr(value, "dtype"):
                # Arrays of any kind (NumPy, mx.array, torch) become histograms, as SB3 does for tensors.
                self.writer.add_histogram(key, _as_numpy(value), step)
        self.writer.flush()

    def _write_hparams(self, value: HParam) -> None:
        # As SB3: the three hparams summaries go into this run's own folder (``add_hparams`` would start another run).
        for summary in _import_tensorboardx().summary.hparams(value.hparam_dict, metric_dict=value.metric_dict):
            self.writer.file_writer.add_summary(summary)

    def close(self) -> None:
        """
        Close the event file; writing afterwards is an error.
        """
        if self.writer:
            self.writer.close()
            self._is_closed = True


def make_output_format(_format: str, log_dir: str, log_suffix: str = "") -> KVWriter:
    """
    Create the output for a format name.

    :param _format: ``"stdout"``, ``"log"`` (``log<suffix>.txt``), ``"json"`` (``progress<suffix>.json``),
        ``"csv"`` (``progress<suffix>.csv``) or ``"tensorboard"`` (event file in ``log_dir``)
    :param log_dir: the folder for the files; created if needed
    :param log_suffix: appended to the file names
    :return: the output
    """
    os.makedirs(log_dir, exist_ok=True)
    if _format == "stdout":
        return HumanOutputFormat(sys.stdout)
    if _format == "log":
        return HumanOutputFormat(os.path.join(log_dir, f"log{log_suffix}.txt"))
    if _format == "json":
        return JSONOutputFormat(os.path.join(log_dir, f"progress{log_suffix}.json"))
    if _format == "csv":
        return CSVOutputFormat(os.path.join(log_dir, f"progress{log_suffix}.csv"))
    if _format == "tensorboard":
        return TensorBoardOutputFormat(log_dir)
    raise ValueError(f"Unknown format specified: {_format}")


class Logger:
    """
    Collects diagnostics with :meth:`record` / :meth:`record_mean` and writes them to every output at :meth:`dump`.

    :param folder: the logging folder (None when only the console is used)
    :param output_formats: the outputs to write to
    """

    def __init__(self, folder: str | None, output_formats: list[KVWriter]):
        self.name_to_value: dict[str, Any] = defaultdict(float)
        self.name_to_count: dict[str, int] = defaultdict(int)
        self.name_to_excluded: dict[str, tuple[str, ...]] = {}
        self.level = INFO
        self.dir = folder
        self.output_formats = output_formats

    @staticmethod
    def to_tuple(string_or_tuple: str | tuple[str, ...] | None) -> tuple[str, ...]:
        """
        Normalise an ``exclude`` argument to a tuple of format names.

        :param string_or_tuple: one format name, several, or None
        :return: the tuple (``("",)`` for None, which excludes nothing)
        """
        if string_or_tuple is None:
            return ("",)
        if isinstance(string_or_tuple, tuple):
            return string_or_tuple
        return (string_or_tuple,)

    def record(self, key: str, value: Any, exclude: str | tuple[str, ...] | None = None) -> None:
        """
        Set the value of a diagnostic for the next dump; recording the same key again replaces the value.

        :param key: the name, usually ``"<group>/<name>"`` such as ``"train/loss"``
        :param value: the value (number, string, array, or a :class:`Video`, :class:`Figure`, :class:`Image`,
            :class:`HParam`)
        :param exclude: format name(s) that must not write this key, for example ``("stdout", "log")``
        """
        self.name_to_value[key] = value
        self.name_to_excluded[key] = self.to_tuple(exclude)

    def record_mean(self, key: str, value: float | None, exclude: str | tuple[str, ...] | None = None) -> None:
        """
        Like :meth:`record`, but repeated calls before a dump log the running mean of the values. None is ignored.

        :param key: the name
        :param value: the value to average in
        :param exclude: format name(s) that must not write this key
        """
        if value is None:
            return
        previous_mean, count = self.name_to_value[key], self.name_to_count[key]
        self.name_to_value[key] = previous_mean * count / (count + 1) + value / (count + 1)
        self.name_to_count[key] = count + 1
        self.name_to_excluded[key] = self.to_tuple(exclude)

    def dump(self, step: int = 0) -> None:
        """
        Write all recorded values to the outputs and forget them. Nothing is written at level ``DISABLED``.

        :param step: the step the values belong to (x axis in TensorBoard)
        """
        if self.level == DISABLED:
            return
        for output in self.output_formats:
            if isinstance(output, KVWriter):
                output.write(self.name_to_value, self.name_to_excluded, step)
        self.name_to_value.clear()
        self.name_to_count.clear()
        self.name_to_excluded.clear()

    def log(self, *args: Any, level: int = INFO) -> None:
        """
        Write the arguments, separated by spaces, to the text outputs (console and ``log.txt``) when ``level``
        is at least the logger's level.

        :param args: the things to write (converted with ``str``)
        :param level: the importance: ``DEBUG``, ``INFO``, ``WARN`` or ``ERROR``
        """
        if self.level <= level:
            self._do_log(args)

    def debug(self, *args: Any) -> None:
        """
        :meth:`log` at level ``DEBUG``.

        :param args: the things to write
        """
        self.log(*args, level=DEBUG)

    def info(self, *args: Any) -> None:
        """
        :meth:`log` at level ``INFO``.

        :param args: the things to write
        """
        self.log(*args, level=INFO)

    def warn(self, *args: Any) -> None:
        """
        :meth:`log` at level ``WARN``.

        :param args: the things to write
        """
        self.log(*args, level=WARN)

    def error(self, *args: Any) -> None:
        """
        :meth:`log` at level ``ERROR``.

        :param args: the things to write
        """
        self.log(*args, level=ERROR)

    def set_level(self, level: int) -> None:
        """
        Set the threshold below which :meth:`log` messages are dropped (``DISABLED`` also stops :meth:`dump`).

        :param level: ``DEBUG`` (10), ``INFO`` (20), ``WARN`` (30), ``ERROR`` (40) or ``DISABLED`` (50)
        """
        self.level = level

    def get_dir(self) -> str | None:
        """
        :return: the folder the log files are written to, or None if there is none
        """
        return self.dir

    def close(self) -> None:
        """
        Close every output.
        """
        for output in self.output_formats:
            output.close()

    def _do_log(self, args: tuple[Any, ...]) -> None:
        for output in self.output_formats:
            if isinstance(output, SeqWriter):
                output.write_sequence([str(arg) for arg in args])


def configure(folder: str | None = None, format_strings: list[str] | None = None) -> Logger:
    """
    Create a logger writing to ``folder`` in the given formats.

    :param folder: the log folder; when None, ``$SB3_LOGDIR``, and when that is unset too, a new
        ``SB3-<date-time>`` folder in the system's temporary directory
    :param format_strings: output formats (see :func:`make_output_format`); when None, the comma-separated
        ``$SB3_LOG_FORMAT``, by default ``stdout,log,csv``. Empty names are ignored.
    :return: the logger
    """
    if folder is None:
        folder = os.getenv("SB3_LOGDIR")
    if folder is None:
        folder = os.path.join(tempfile.gettempdir(), datetime.datetime.now().strftime("SB3-%Y-%m-%d-%H-%M-%S-%f"))
    os.makedirs(folder, exist_ok=True)

    if format_strings is None:
        format_strings = os.getenv("SB3_LOG_FORMAT", "stdout,log,csv").split(",")
    format_strings = [name for name in format_strings if name]
    logger = Logger(folder=folder, output_formats=[make_output_format(name, folder) for name in format_strings])
    # Announce the folder only when something is actually written into it.
    if format_strings and format_strings != ["stdout"]:
        logger.log(f"Logging to {folder}")
    return logger


def read_json(filename: str) -> "pandas.DataFrame":
    """
    Read a ``progress.json`` file (one JSON object per line) into a pandas DataFrame, one row per dump.

    :param filename: path of the file
    :return: the table; keys missing from a dump are NaN
    """
    import pandas

    with open(filename) as file:
        rows = [json.loads(line) for line in file if line.strip()]
    return pandas.DataFrame(rows)


def read_csv(filename: str) -> "pandas.DataFrame":
    """
    Read a ``progress.csv`` file into a pandas DataFrame, one row per dump.

    :param filename: path of the file
    :return: the table; empty cells are NaN
    """
    import pandas

    return pandas.read_csv(filename, index_col=None, comment="#")


def __getattr__(name: str) -> Any:
    """
    SB3's module-level names, resolved on first use because they import optional packages: ``SummaryWriter`` and
    ``hparams`` (tensorboardX's, which have torch's API; None without tensorboardX, as SB3's without tensorboard) and
    ``tqdm`` (None without tqdm).

    :param name: the attribute
    :return: its value
    """
    if name in ("SummaryWriter", "hparams"):
        try:
            tensorboardx = _import_tensorboardx()
        except ImportError:
            return None
        return tensorboardx.SummaryWriter if name == "SummaryWriter" else tensorboardx.summary.hparams
    if name == "tqdm":
        try:
            from tqdm import tqdm
        except ImportError:
            return None
        return tqdm
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

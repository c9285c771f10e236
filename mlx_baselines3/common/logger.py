"""
Training logger: key-value diagnostics written as a console table, text log, CSV, JSON lines or TensorBoard events.

The behaviour (table layout, file names, environment variables, ``exclude`` semantics) is the one of
Stable-Baselines3 2.9.2, so existing scripts and log readers keep working. TensorBoard support is optional: it needs
the ``tensorboard`` package, which is only imported when a TensorBoard output is created, and it never imports torch.
"""

import datetime
import io
import json
import os
import sys
import tempfile
import time
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

# TensorBoard's own histogram summary uses this many equal-width buckets by default.
_HISTOGRAM_BUCKETS = 30


class Video:
    """
    A video to log (TensorBoard only): its frames and playback speed.

    :param frames: frames as an array of shape (N, T, C, H, W): N videos of T frames each, laid out side by side.
        ``uint8`` values are used as they are; floating point values are taken to lie in [0, 1].
        NumPy arrays, ``mx.array`` and anything ``np.asarray`` accepts (a CPU torch tensor, for instance) work.
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

    :param image: pixel array (NumPy, ``mx.array`` or anything ``np.asarray`` accepts) or the path of an image file.
        ``uint8`` values are used as they are; floating point values are taken to lie in [0, 1].
    :param dataformats: how the axes of ``image`` are ordered, for example ``"HWC"`` (Gymnasium's ``render()``
        output), ``"CHW"``, ``"HW"``, or ``"NCHW"``/``"NHWC"`` for a batch drawn as a grid.
        Ignored when ``image`` is a file path.
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


def _to_numpy(value: Any) -> np.ndarray:
    """
    Convert an array-like (NumPy, ``mx.array``, CPU torch tensor, nested lists) to a NumPy array.
    """
    return np.asarray(value)


def _to_uint8(pixels: np.ndarray) -> np.ndarray:
    """
    Convert pixel values to ``uint8``: ``uint8`` input is kept, anything else is taken to lie in [0, 1].
    """
    if pixels.dtype == np.uint8:
        return pixels
    return (pixels.astype(np.float32) * 255).clip(0, 255).astype(np.uint8)


def _grid(images: np.ndarray, max_columns: int = 8) -> np.ndarray:
    """
    Tile a batch of images of shape (N, H, W, C) into one (rows * H, columns * W, C) image, row by row.
    """
    n_images, height, width, channels = images.shape
    n_columns = min(n_images, max_columns)
    n_rows = -(-n_images // n_columns)
    canvas = np.zeros((n_rows * height, n_columns * width, channels), dtype=images.dtype)
    for index, image in enumerate(images):
        row, column = divmod(index, n_columns)
        canvas[row * height : (row + 1) * height, column * width : (column + 1) * width] = image
    return canvas


def _to_hwc(pixels: np.ndarray, dataformats: str) -> np.ndarray:
    """
    Reorder an image (or a batch, drawn as a grid) to height x width x 3 or 4 channels.

    :param pixels: the pixel array
    :param dataformats: the axis letters of ``pixels`` among N, C, H, W, for example ``"CHW"``
    :return: the image as (H, W, C) with C in {3, 4}
    """
    dataformats = dataformats.upper()
    if len(set(dataformats)) != len(dataformats) or not set(dataformats) <= set("NCHW") or not {"H", "W"} <= set(dataformats):
        raise ValueError(f"dataformats must use the letters N, C, H, W at most once each, with H and W; got {dataformats!r}")
    if pixels.ndim != len(dataformats):
        raise ValueError(
            f"The image has {pixels.ndim} dimensions (shape {pixels.shape}) but dataformats={dataformats!r} names "
            f"{len(dataformats)}; pass the dataformats that describe its axes, for example 'HWC'."
        )
    # Add the missing batch and channel axes, then order the axes as N, H, W, C.
    for axis in "NC":
        if axis not in dataformats:
            pixels = pixels[np.newaxis]
            dataformats = axis + dataformats
    nhwc = pixels.transpose([dataformats.index(axis) for axis in "NHWC"])
    if nhwc.shape[-1] == 1:
        nhwc = np.repeat(nhwc, 3, axis=-1)
    return _grid(nhwc)


def _import_pillow() -> Any:
    try:
        from PIL import Image as PILImage
    except ImportError as e:
        raise ImportError(
            "Logging images, figures or videos to TensorBoard needs Pillow to encode them: "
            'pip install pillow (it comes with matplotlib and with pip install "mlx-baselines3[extra]").'
        ) from e
    return PILImage


class SummaryWriter:
    """
    Minimal TensorBoard event writer, built on the ``tensorboard`` package alone (no torch, no TensorFlow).

    Its ``add_*`` methods follow ``torch.utils.tensorboard.SummaryWriter``'s, so code that writes to
    ``TensorBoardOutputFormat.writer`` directly (as shown in SB3's documentation) keeps working.

    :param log_dir: the folder for the event file
    :param flush_secs: how often pending events are written to disk in the background, in seconds
    """

    def __init__(self, log_dir: str, flush_secs: int = 120):
        try:
            from tensorboard.summary.writer.event_file_writer import EventFileWriter
        except ImportError as e:
            raise ImportError(
                'TensorBoard logging needs the tensorboard package: pip install tensorboard (or "mlx-baselines3[extra]").'
            ) from e
        self.log_dir = log_dir
        self.file_writer = EventFileWriter(log_dir, flush_secs=flush_secs)

    def add_summary(self, summary: Any, global_step: int | None = None, walltime: float | None = None) -> None:
        """
        Write a ``Summary`` protocol buffer as one event.

        :param summary: a ``tensorboard.compat.proto.summary_pb2.Summary``
        :param global_step: the step the summary belongs to
        :param walltime: event time in seconds since the epoch (now when None)
        """
        from tensorboard.compat.proto.event_pb2 import Event

        event = Event(summary=summary, wall_time=time.time() if walltime is None else walltime)
        if global_step is not None:
            event.step = int(global_step)
        self.file_writer.add_event(event)

    def add_scalar(self, tag: str, scalar_value: float, global_step: int | None = None, walltime: float | None = None) -> None:
        """
        Log a number, shown in the SCALARS tab.

        :param tag: the name of the curve
        :param scalar_value: the value
        :param global_step: the x coordinate
        :param walltime: event time (now when None)
        """
        from tensorboard.compat.proto.summary_pb2 import Summary

        summary = Summary(value=[Summary.Value(tag=tag, simple_value=float(scalar_value))])
        self.add_summary(summary, global_step, walltime)

    def add_text(self, tag: str, text_string: str, global_step: int | None = None, walltime: float | None = None) -> None:
        """
        Log a string, shown in the TEXT tab under ``<tag>/text_summary`` (the tag torch's writer uses).

        :param tag: the name of the entry
        :param text_string: the text (Markdown)
        :param global_step: the step
        :param walltime: event time (now when None)
        """
        from tensorboard.compat.proto.summary_pb2 import Summary
        from tensorboard.compat.proto.tensor_pb2 import TensorProto
        from tensorboard.compat.proto.tensor_shape_pb2 import TensorShapeProto
        from tensorboard.plugins.text.metadata import create_summary_metadata

        metadata = create_summary_metadata(display_name="", description="")
        tensor = TensorProto(
            dtype="DT_STRING",
            string_val=[text_string.encode("utf-8")],
            tensor_shape=TensorShapeProto(dim=[TensorShapeProto.Dim(size=1)]),
        )
        summary = Summary(value=[Summary.Value(tag=f"{tag}/text_summary", metadata=metadata, tensor=tensor)])
        self.add_summary(summary, global_step, walltime)

    def add_histogram(
        self,
        tag: str,
        values: Any,
        global_step: int | None = None,
        bins: int | str = _HISTOGRAM_BUCKETS,
        walltime: float | None = None,
    ) -> None:
        """
        Log the distribution of an array, shown in the HISTOGRAMS and DISTRIBUTIONS tabs.

        :param tag: the name of the histogram
        :param values: the array (NumPy, ``mx.array``…); it is flattened
        :param global_step: the step
        :param bins: number of equal-width buckets, or any ``bins`` value ``np.histogram`` accepts
        :param walltime: event time (now when None)
        """
        from tensorboard.compat.proto.summary_pb2 import HistogramProto, Summary

        flat = _to_numpy(values).astype(np.float64).ravel()
        if flat.size == 0:
            raise ValueError(f"Cannot log an empty array as the histogram {tag!r}.")
        counts, edges = np.histogram(flat, bins=bins)
        histogram = HistogramProto(
            min=float(flat.min()),
            max=float(flat.max()),
            num=float(flat.size),
            sum=float(flat.sum()),
            sum_squares=float(np.dot(flat, flat)),
            bucket_limit=edges[1:].tolist(),
            bucket=counts.astype(np.float64).tolist(),
        )
        self.add_summary(Summary(value=[Summary.Value(tag=tag, histo=histogram)]), global_step, walltime)

    def _add_encoded_image(
        self, tag: str, encoded: bytes, height: int, width: int, channels: int, global_step: int | None, walltime: float | None
    ) -> None:
        from tensorboard.compat.proto.summary_pb2 import Summary

        image = Summary.Image(height=height, width=width, colorspace=channels, encoded_image_string=encoded)
        self.add_summary(Summary(value=[Summary.Value(tag=tag, image=image)]), global_step, walltime)

    def add_image(
        self,
        tag: str,
        img_tensor: Any,
        global_step: int | None = None,
        walltime: float | None = None,
        dataformats: str = "CHW",
    ) -> None:
        """
        Log an image (PNG-encoded), shown in the IMAGES tab.

        :param tag: the name of the image
        :param img_tensor: pixels (``uint8``, or floats in [0, 1]) or the path of an image file
        :param global_step: the step
        :param walltime: event time (now when None)
        :param dataformats: axis order of ``img_tensor``, for example ``"CHW"``, ``"HWC"``, ``"HW"``, ``"NCHW"``
        """
        pil_image = _import_pillow()
        if isinstance(img_tensor, (str, os.PathLike)):
            with pil_image.open(img_tensor) as opened:
                pixels = np.asarray(opened.convert("RGBA" if "A" in opened.getbands() else "RGB"))
        else:
            pixels = _to_uint8(_to_hwc(_to_numpy(img_tensor), dataformats))
        buffer = io.BytesIO()
        pil_image.fromarray(pixels).save(buffer, format="PNG")
        height, width, channels = pixels.shape
        self._add_encoded_image(tag, buffer.getvalue(), height, width, channels, global_step, walltime)

    def add_video(
        self, tag: str, vid_tensor: Any, global_step: int | None = None, fps: float = 4, walltime: float | None = None
    ) -> None:
        """
        Log a video, encoded as an animated GIF and shown in the IMAGES tab.

        :param tag: the name of the video
        :param vid_tensor: frames of shape (N, T, C, H, W), ``uint8`` or floats in [0, 1]; the N videos are tiled
        :param global_step: the step
        :param fps: frames per second
        :param walltime: event time (now when None)
        """
        pil_image = _import_pillow()
        frames = _to_numpy(vid_tensor)
        if frames.ndim != 5:
            raise ValueError(f"A video must have shape (N, T, C, H, W), got shape {frames.shape}.")
        # One tiled image per time step: (T, N, C, H, W) -> T grids.
        pictures = [_to_uint8(_to_hwc(frames[:, t], "NCHW")) for t in range(frames.shape[1])]
        gif_frames = [pil_image.fromarray(picture[..., :3]) for picture in pictures]
        buffer = io.BytesIO()
        gif_frames[0].save(
            buffer, format="GIF", save_all=True, append_images=gif_frames[1:], duration=max(1, round(1000 / fps)), loop=0
        )
        height, width, channels = pictures[0].shape
        self._add_encoded_image(tag, buffer.getvalue(), height, width, channels, global_step, walltime)

    def add_figure(
        self,
        tag: str,
        figure: "matplotlib.figure.Figure",
        global_step: int | None = None,
        close: bool = True,
        walltime: float | None = None,
    ) -> None:
        """
        Render a matplotlib figure and log it as an image.

        :param tag: the name of the image
        :param figure: the figure
        :param global_step: the step
        :param close: close the figure afterwards (frees its memory in pyplot)
        :param walltime: event time (now when None)
        """
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        canvas = FigureCanvasAgg(figure)
        canvas.draw()
        pixels = np.asarray(canvas.buffer_rgba())
        if close:
            import matplotlib.pyplot as plt

            plt.close(figure)
        self.add_image(tag, pixels, global_step, walltime, dataformats="HWC")

    def add_hparams_summaries(
        self, hparam_dict: Mapping[str, Any], metric_dict: Mapping[str, float], global_step: int | None = None
    ) -> None:
        """
        Log hyperparameters and the metric tags to show next to them in the HPARAMS tab, in this writer's folder.

        :param hparam_dict: hyperparameter names and values (bool, str, number; None entries are skipped)
        :param metric_dict: tags of the scalars that measure the run
        :param global_step: the step
        """
        from tensorboard.compat.proto.summary_pb2 import Summary
        from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2

        hparam_infos = []
        session_start = plugin_data_pb2.SessionStartInfo()
        for name, value in hparam_dict.items():
            if value is None:
                continue
            if isinstance(value, bool):
                session_start.hparams[name].bool_value = value
                data_type = "DATA_TYPE_BOOL"
            elif isinstance(value, str):
                session_start.hparams[name].string_value = value
                data_type = "DATA_TYPE_STRING"
            elif isinstance(value, (int, float, np.number)) or hasattr(value, "item"):
                session_start.hparams[name].number_value = float(value)
                data_type = "DATA_TYPE_FLOAT64"
            else:
                raise ValueError(
                    f"Hyperparameter {name!r} has the value {value!r} of type {type(value).__name__}; "
                    "TensorBoard accepts bool, str, numbers or None: convert it (str(value), for example)."
                )
            hparam_infos.append(api_pb2.HParamInfo(name=name, type=api_pb2.DataType.Value(data_type)))

        experiment = api_pb2.Experiment(
            hparam_infos=hparam_infos,
            metric_infos=[api_pb2.MetricInfo(name=api_pb2.MetricName(tag=tag)) for tag in metric_dict],
        )
        session_end = plugin_data_pb2.SessionEndInfo(status=api_pb2.Status.Value("STATUS_SUCCESS"))
        for tag, plugin_data in (
            (metadata.EXPERIMENT_TAG, plugin_data_pb2.HParamsPluginData(experiment=experiment)),
            (metadata.SESSION_START_INFO_TAG, plugin_data_pb2.HParamsPluginData(session_start_info=session_start)),
            (metadata.SESSION_END_INFO_TAG, plugin_data_pb2.HParamsPluginData(session_end_info=session_end)),
        ):
            summary_metadata = metadata.create_summary_metadata(plugin_data)
            self.add_summary(Summary(value=[Summary.Value(tag=tag, metadata=summary_metadata)]), global_step)

    def flush(self) -> None:
        """
        Write pending events to disk.
        """
        self.file_writer.flush()

    def close(self) -> None:
        """
        Write pending events and close the event file.
        """
        self.file_writer.close()


class TensorBoardOutputFormat(KVWriter):
    """
    Write the key-value pairs as TensorBoard events in ``folder``: numbers as scalars, strings as text, arrays as
    histograms, and :class:`Video`, :class:`Figure`, :class:`Image`, :class:`HParam` values in their tabs.

    Needs the ``tensorboard`` package (``pip install "mlx-baselines3[extra]"``); torch is not used.

    :param folder: the folder to write the event file to
    """

    def __init__(self, folder: str):
        self.writer = SummaryWriter(log_dir=folder)
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
                self.writer.add_scalar(key, value, step)  # type: ignore[arg-type]  # numpy and Python numbers
            elif isinstance(value, Video):
                self.writer.add_video(key, value.frames, step, value.fps)
            elif isinstance(value, Figure):
                self.writer.add_figure(key, value.figure, step, close=value.close)
            elif isinstance(value, Image):
                self.writer.add_image(key, value.image, step, dataformats=value.dataformats)
            elif isinstance(value, HParam):
                self.writer.add_hparams_summaries(value.hparam_dict, value.metric_dict, step)
            elif hasattr(value, "shape") and hasattr(value, "dtype"):
                # Arrays of any kind (NumPy, mx.array, torch) become histograms, as SB3 does for tensors.
                self.writer.add_histogram(key, value, step)
        self.writer.flush()

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

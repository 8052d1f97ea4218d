"""The models on videos: sample frames, find and classify the faces, say how emotions change.

    result = predict_video("clip.mp4", load_shipped_model(), out_dir="results", per_second=2)

writes three files beside each other: ``<clip>.faces.csv`` (one row per face of each sampled
frame: time, frame, face, box and the seven probabilities), ``<clip>.faces.mp4`` (the sampled
frames with each face boxed and named) and ``<clip>.emotions.png`` (each emotion's probability,
averaged over a frame's faces, against time). Frames are read with OpenCV, which decodes the
common formats itself (no ffmpeg to install); the faces of many frames go through the network
together.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .detector import opencv
from .fer2013 import EMOTIONS
from .predict import Face, PhotoError, faces_in_images, read_photo

#: File endings `ferlib predict` treats as videos.
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")
#: Frames whose faces go through the network in one call.
FRAMES_PER_BATCH = 32


def is_video(path) -> bool:
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


@dataclass
class VideoResult:
    """What :func:`predict_video` found and wrote."""

    times: list[float] = field(default_factory=list)  # seconds, one per sampled frame
    faces: list[list[Face]] = field(default_factory=list)  # the faces of each sampled frame
    table: Path | None = None
    video: Path | None = None
    plot: Path | None = None

    def emotion_frame(self):
        """Each emotion's probability averaged over each sampled frame's faces (NaN where a
        frame has no face), indexed by time in seconds."""
        import pandas as pd

        rows = [{e: np.mean([f.probabilities[e] for f in faces]) if faces else np.nan for e in EMOTIONS}
                for faces in self.faces]
        return pd.DataFrame(rows, index=pd.Index(self.times, name="seconds"), columns=list(EMOTIONS))


def sample_step(native_fps: float, every: int | None, per_second: float | None) -> int:
    """Every how many frames one is kept: `every` itself, or the step that keeps about
    `per_second` frames per second (two by default)."""
    if every is not None:
        if every < 1:
            raise ValueError(f"every must be 1 or more (one frame in `every`), not {every}")
        return every
    rate = per_second if per_second is not None else 2.0
    if rate <= 0:
        raise ValueError(f"the sampling rate must be positive, not {rate} frames per second")
    return max(1, int(round(native_fps / rate)))


def _open(path: Path):
    cv2 = opencv()

    if not path.is_file():
        raise PhotoError(f"{path}: no such file")
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise PhotoError(f"{path}: not a video OpenCV can read; use an MP4, AVI, MOV or MKV file")
    return capture


def _frames(capture, step: int):
    """(frame index, RGB frame) of every `step`-th frame; the others are only grabbed, not decoded."""
    import cv2

    index = 0
    while capture.grab():
        if index % step == 0:
            ok, bgr = capture.retrieve()
            if not ok:
                break
            yield index, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        index += 1


def predict_video(path, model, out_dir=None, *, every: int | None = None, per_second: float | None = None,
                  label: str = "the model") -> VideoResult:
    """Classify the faces of a video's sampled frames (every `every`-th frame, or about
    `per_second` frames a second; two a second by default) and write the table, the annotated
    video and the plot (see the module's text) into `out_dir`."""
    from .files import atomic_write

    path = Path(path).expanduser()
    out_dir = Path(out_dir or ".")
    out_dir.mkdir(parents=True, exist_ok=True)
    import cv2

    capture = _open(path)
    native_fps = capture.get(cv2.CAP_PROP_FPS) or 25.0  # 0 where the file does not say
    step = sample_step(native_fps, every, per_second)
    result = VideoResult()
    writer = _AnnotatedVideo(out_dir / f"{path.stem}.faces.mp4", native_fps / step)
    rows = []
    try:
        batch = []
        for index, frame in _frames(capture, step):
            batch.append((index, read_photo(frame)))
            if len(batch) == FRAMES_PER_BATCH:
                _classify(batch, model, native_fps, result, writer, rows)
                batch = []
        _classify(batch, model, native_fps, result, writer, rows)
    except BaseException:
        writer.discard()  # no half-written video under the final name
        raise
    finally:
        capture.release()
    writer.close()
    if not result.times:
        raise PhotoError(f"{path}: no frame could be decoded; the file may be damaged or in a codec OpenCV lacks")
    result.video = writer.path
    result.table = atomic_write(out_dir / f"{path.stem}.faces.csv", lambda f: f.write(_csv(rows).encode()))
    result.plot = _save_plot(result, out_dir / f"{path.stem}.emotions.png", f"{path.name}: {label}")
    return result


def _classify(batch, model, native_fps, result: VideoResult, writer, rows: list) -> None:
    """One network call for the faces of a batch of sampled frames; the frames' rows and annotations."""
    for (index, frame), frame_faces in zip(batch, faces_in_images([frame for _, frame in batch], model)):
        seconds = index / native_fps
        result.times.append(seconds)
        result.faces.append(frame_faces)
        writer.write(frame, frame_faces)
        for number, face in enumerate(frame_faces, start=1):
            rows.append({"seconds": round(seconds, 3), "frame": index, "face": number,
                         **dict(zip(("x", "y", "width", "height"), face.box)), "emotion": face.emotion,
                         **{e: round(p, 5) for e, p in face.probabilities.items()}})


def _csv(rows: list[dict]) -> str:
    out = io.StringIO()
    columns = ["seconds", "frame", "face", "x", "y", "width", "height", "emotion", *EMOTIONS]
    writer = csv.DictWriter(out, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


class _AnnotatedVideo:
    """The sampled frames, each face boxed and named, written as MP4 (OpenCV's mp4v codec) to a
    temporary name first, then moved into place when closed."""

    def __init__(self, path: Path, fps: float):
        self.path, self.fps, self.writer = path, max(fps, 1.0), None
        self.partial = path.with_name(f".{path.stem}.partial{path.suffix}")

    def write(self, frame: np.ndarray, faces: list[Face]) -> None:
        import cv2

        if self.writer is None:
            height, width = frame.shape[:2]
            self.writer = cv2.VideoWriter(str(self.partial), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (width, height))
        bgr = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
        for face in faces:
            x, y, w, h = face.box
            cv2.rectangle(bgr, (x, y), (x + w, y + h), (60, 200, 60), 2)
            text = f"{face.emotion} {face.probabilities[face.emotion]:.0%}"
            cv2.putText(bgr, text, (x, max(y - 8, 14)), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (60, 200, 60), 2)
        self.writer.write(bgr)

    def close(self) -> None:
        import os

        if self.writer is not None:
            self.writer.release()
            os.replace(self.partial, self.path)

    def discard(self) -> None:
        if self.writer is not None:
            self.writer.release()
        self.partial.unlink(missing_ok=True)


def plot_emotions_over_time(emotions, title: str | None = None):
    """Each emotion's probability (a frame's faces averaged) against time, one line each; gaps
    where a frame has no face. `emotions`: :meth:`VideoResult.emotion_frame`."""
    import seaborn as sns
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8.6, 4.2), layout="constrained")
    ax = fig.add_subplot()
    colors = sns.color_palette("tab10", len(EMOTIONS))
    for emotion, color in zip(EMOTIONS, colors):
        ax.plot(emotions.index, emotions[emotion], marker="o", markersize=3, linewidth=1.5, color=color, label=emotion)
    ax.set_ylim(0, 1)
    ax.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    ax.set_xlabel("seconds into the video")
    ax.set_ylabel("probability (mean over the frame's faces)")
    ax.set_title(title or "Emotions over time")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=9)
    sns.despine(ax=ax)
    return fig


def _save_plot(result: VideoResult, target: Path, title: str) -> Path:
    from .files import atomic_write

    figure = plot_emotions_over_time(result.emotion_frame(), title=title)
    atomic_write(target, lambda f: figure.savefig(f, format="png", dpi=110))
    return target

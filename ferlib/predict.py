"""The trained models on real photos: find the faces, make each one a FER2013 face, classify.

    faces = predict_photo("group.jpg", load_run_model("~/.cache/ferlib/runs/full"))
    for face in faces:
        print(face.box, face.emotion, face.probabilities)

Faces are found by :mod:`ferlib.detector` (OpenCV's Haar cascade on OpenCV 4, YuNet on
OpenCV 5). Each face is cropped with a small margin,
converted to grey levels and resized to 48 x 48, the form FER2013's faces were collected in,
then scaled like the training images.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .detector import detect_faces
from .fer2013 import EMOTIONS, IMAGE_SIZE, as_model_input
from .pixels import eight_bit

#: Photos are shrunk to this longest side before detection: enough for faces down to about
#: 40 pixels, and a 100-megapixel photo never becomes a 100-megapixel array of floats.
MAX_SIDE = 1600
#: Largest file accepted (bytes); a decoded photo is bounded by MAX_PIXELS.
MAX_BYTES = 100 * 2**20
MAX_PIXELS = 200_000_000


class PhotoError(ValueError):
    """A photo cannot be used; the message names the file and says what to do."""


@dataclass
class Face:
    """One face in a photo: its box in the photo's pixels and the model's seven probabilities."""

    box: tuple[int, int, int, int]  # x, y, width, height
    probabilities: dict[str, float]  # emotion -> probability, in EMOTIONS order

    @property
    def emotion(self) -> str:
        return max(self.probabilities, key=self.probabilities.get)

    def as_dict(self) -> dict:
        return {"box": list(self.box), "emotion": self.emotion, "probabilities": self.probabilities}


def read_photo(source, name: str | None = None) -> np.ndarray:
    """A photo as an RGB uint8 array ``(H, W, 3)``, its longest side at most :data:`MAX_SIDE`.

    `source` is a path, raw bytes or an array (grey ``(H, W)``, RGB or RGBA). Raises
    :class:`PhotoError` for an empty file, a file that is not an image, or one too large.
    """
    if isinstance(source, np.ndarray):
        array = _as_rgb(source, name or "the photo")
        return _shrunk(array) if max(array.shape[:2]) > MAX_SIDE else array
    raw, name = _photo_bytes(source, name)
    return _decode(raw, name)


def _photo_bytes(source, name: str | None) -> tuple[bytes, str]:
    """The bytes of a photo given as bytes or as a path, and the name its errors give it."""
    if isinstance(source, (bytes, bytearray)):
        raw, name = bytes(source), name or "the uploaded photo"
    else:
        path = Path(source).expanduser()
        name = name or str(path)
        if path.is_dir():
            raise PhotoError(f"{name}: a folder, not a photo; give the photos in it (for example {name}/*.jpg)")
        if not path.is_file():
            raise PhotoError(f"{name}: no such file")
        if path.stat().st_size > MAX_BYTES:
            raise PhotoError(f"{name}: the file is larger than {MAX_BYTES // 2**20} MB; use a smaller photo")
        raw = path.read_bytes()
    if not raw:
        raise PhotoError(f"{name}: the file is empty")
    return raw, name


def _decode(raw: bytes, name: str) -> np.ndarray:
    """An image file's bytes as RGB uint8, shrunk to :data:`MAX_SIDE` as it is decoded."""
    import warnings

    from PIL import Image, ImageOps, UnidentifiedImageError

    limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, MAX_PIXELS  # Pillow refuses a bigger one itself
    try:
        with warnings.catch_warnings():
            # Pillow only warns between MAX_PIXELS and twice that: refuse those in one line too
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(raw)) as image:
                image.draft("RGB", (MAX_SIDE, MAX_SIDE))  # JPEGs decode at a reduced size: cheap on huge photos
                # a phone's photo stored sideways with an EXIF note to turn it: turned, or no face is upright
                image = ImageOps.exif_transpose(image)
                image = eight_bit(image).convert("RGB")  # 16-bit PNGs scaled, not clipped to white
                image.thumbnail((MAX_SIDE, MAX_SIDE))  # leaves an image that fits as it is
                return np.asarray(image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise PhotoError(f"{name}: the image has more than {MAX_PIXELS:,} pixels; use a smaller photo") from err
    except UnidentifiedImageError as err:
        raise PhotoError(f"{name}: not an image (no image format recognised); use a JPEG or PNG photo") from err
    except (OSError, SyntaxError, ValueError) as err:
        raise PhotoError(f"{name}: a damaged or unreadable image ({err}); use a JPEG or PNG photo") from err
    finally:
        Image.MAX_IMAGE_PIXELS = limit  # Pillow's own limit for everyone else's images


def _as_rgb(array: np.ndarray, name: str) -> np.ndarray:
    """A grey, RGB or RGBA array as RGB uint8 (values in [0, 1] are taken as fractions of 255)."""
    array = np.asarray(array)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] not in (3, 4):
        raise PhotoError(f"{name}: expected a grey, RGB or RGBA image, got an array of shape {array.shape}")
    array = array[..., :3]
    if array.dtype != np.uint8:
        array = np.clip(array * (255 if array.max() <= 1 else 1), 0, 255).astype(np.uint8)
    return array


def _shrunk(array: np.ndarray) -> np.ndarray:
    """An RGB array too large for :data:`MAX_SIDE`, shrunk to fit, its aspect ratio kept."""
    from PIL import Image

    image = Image.fromarray(array)
    image.thumbnail((MAX_SIDE, MAX_SIDE))
    return np.asarray(image)


def load_photo(photo: str = "sample") -> np.ndarray:
    """A photo for the notebooks' "try it" section, as :func:`read_photo` returns it.

    ``"sample"``: scikit-image's astronaut portrait (no download); ``"upload"``: a file the
    user picks in Colab; an ``http(s)://`` address; or a path.
    """
    if photo == "sample":
        import skimage.data

        return read_photo(skimage.data.astronaut(), name="scikit-image's astronaut")
    if photo == "upload":
        try:
            from google.colab import files
        except ImportError as err:
            raise PhotoError('photo="upload" works in Colab only; elsewhere give a path to the photo') from err
        name, content = next(iter(files.upload().items()))
        return read_photo(content, name=name)
    if str(photo).startswith(("http://", "https://")):
        import urllib.request

        try:
            with urllib.request.urlopen(str(photo), timeout=30) as response:
                content = response.read(MAX_BYTES + 1)
        except OSError as err:
            raise PhotoError(f"{photo}: could not download it ({err})") from err
        if len(content) > MAX_BYTES:
            raise PhotoError(f"{photo}: larger than {MAX_BYTES // 2**20} MB; use a smaller photo")
        return read_photo(content, name=str(photo))
    return read_photo(photo)


def crop_face(photo: np.ndarray, box: tuple[int, int, int, int], margin: float = 0.1) -> np.ndarray:
    """The face in `box`, widened by `margin` on each side, as a 48 x 48 grey uint8 image."""
    import cv2

    x, y, w, h = box
    dx, dy = int(round(w * margin)), int(round(h * margin))
    top, bottom = max(y - dy, 0), min(y + h + dy, photo.shape[0])
    left, right = max(x - dx, 0), min(x + w + dx, photo.shape[1])
    grey = cv2.cvtColor(photo[top:bottom, left:right], cv2.COLOR_RGB2GRAY)
    return cv2.resize(grey, (IMAGE_SIZE, IMAGE_SIZE), interpolation=cv2.INTER_AREA)


def predict_photo(source, model, margin: float = 0.1, cropped: bool = False) -> list[Face]:
    """Every face the detector finds in the photo, with the model's seven probabilities.
    With `cropped`, the photo is one face already (as FER2013's images are): the whole photo
    is classified, without detection.

    An empty list means no face was found."""
    return faces_in_images([read_photo(source)], model, margin, cropped)[0]


def faces_in_images(images: list[np.ndarray], model, margin: float = 0.1,
                    cropped: bool = False) -> list[list[Face]]:
    """The faces of each RGB image, found one image at a time and classified all together in
    one network call (a call per image would pay the network's per-call cost each time).
    With `cropped`, each image is one face: its box is the whole image."""
    if cropped:  # a detector tuned for photos rarely finds a face that fills a 48 x 48 image
        boxes = [[(0, 0, image.shape[1], image.shape[0])] for image in images]
        margin = 0.0
    else:
        boxes = [detect_faces(image) for image in images]
    crops = [crop_face(image, box, margin) for image, found in zip(images, boxes) for box in found]
    faces = iter(classify_faces(crops, [box for found in boxes for box in found], model))
    return [[next(faces) for _ in found] for found in boxes]


def classify_faces(crops, boxes, model, batch_size: int = 256) -> list[Face]:
    """The model's probabilities for 48 x 48 grey face crops (one network call, in batches)."""
    if not len(crops):
        return []
    probabilities = np.asarray(model.predict(as_model_input(np.stack(crops)), batch_size=batch_size, verbose=0),
                               dtype=np.float64)
    return [Face(tuple(box), {e: float(p) for e, p in zip(EMOTIONS, row)}) for box, row in zip(boxes, probabilities)]


#: A model whose best validation accuracy is within this of always answering the most common
#: emotion has not learned to recognise emotions (a smoke run's model typically has not).
NOT_LEARNED_MARGIN = 0.05


def load_run_model(run_dir, model: str = "cnn", stage: str | None = None):
    """The trained `model` (a registered name: ``cnn``, ``vit`` ...) of a run folder: its
    final (phase-2) model, else its phase-1 model. Raises FileNotFoundError that says which
    notebook trains it."""
    from .models import load_model

    return load_model(run_model_path(run_dir, model, stage))


def not_learned_warning(run_dir, model: str = "cnn", stage: str | None = None) -> str | None:
    """Why a run's model should not be trusted, in one sentence, or None: it comes from a smoke
    run or from synthetic faces, or its best validation accuracy is within
    :data:`NOT_LEARNED_MARGIN` of always answering the most common emotion."""
    from .files import read_json
    from .models import display_name
    from .runfolder import RunFolder

    card = read_json(RunFolder(Path(run_dir).expanduser()).card, {})
    reasons = []
    if card.get("profile") == "smoke":
        reasons.append("it comes from a smoke run (a few epochs on a small subset, to check the pipeline)")
    if card.get("synthetic"):
        reasons.append("it was trained on synthetic faces, not FER2013")
    history = run_model_path(run_dir, model, stage).parent / "history.csv"
    majority = card.get("val_majority")
    if majority is not None and history.exists():
        import pandas as pd

        best = float(pd.read_csv(history)["val_accuracy"].max())
        if best < majority + NOT_LEARNED_MARGIN:
            reasons.append(f"its best validation accuracy, {best:.0%}, is within {NOT_LEARNED_MARGIN:.0%} of "
                           f"always answering the most common emotion ({majority:.0%})")
    if not reasons:
        return None
    return (f"warning: this {display_name(model)} has not learned to recognise emotions: {'; '.join(reasons)}. "
            "Its answers are close to guesses.")


def run_model_path(run_dir, model: str = "cnn", stage: str | None = None) -> Path:
    """The file of :func:`load_run_model`'s model."""
    from .models import model_spec
    from .runfolder import RunFolder

    spec = model_spec(model)  # refuses an unknown name, listing the registered ones
    folder = RunFolder(Path(run_dir).expanduser())
    if not folder.root.is_dir():
        raise FileNotFoundError(f"{folder.root}: no such run folder")
    stages = [stage] if stage else ["phase2", "phase1"]
    for candidate in stages:
        path = folder.final_model(model, candidate)
        if path.exists():
            return path
    notebook = spec.phase1_page or "04_phase2"
    raise FileNotFoundError(f"{folder.root} holds no trained {spec.display} (looked for "
                            f"{', '.join(str(folder.final_model(model, s).relative_to(folder.root)) for s in stages)}); "
                            f"run notebook {notebook} (or `ferlib run`) with this run folder first")


def write_faces(faces_by_photo: dict[str, list[Face]], path, fmt: str | None = None) -> Path:
    """All faces of all photos as CSV (one row per face) or JSON, by the file's suffix."""
    from .files import atomic_write, write_json

    path = Path(path)
    fmt = fmt or path.suffix.lstrip(".").lower()
    if fmt == "json":
        return write_json(path, {photo: [f.as_dict() for f in faces] for photo, faces in faces_by_photo.items()})
    if fmt != "csv":
        raise ValueError(f"unknown format {fmt!r}; use csv or json")
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["photo", "face", "x", "y", "width", "height", "emotion", *EMOTIONS])
    for photo, faces in faces_by_photo.items():
        for i, face in enumerate(faces):
            writer.writerow([photo, i, *face.box, face.emotion, *(f"{face.probabilities[e]:.4f}" for e in EMOTIONS)])
    return atomic_write(path, lambda f: f.write(buffer.getvalue().encode()))


def plot_faces(photo, faces: list[Face], title: str | None = None):
    """The photo with a numbered box and the top emotion on each face, and one bar chart of
    the seven probabilities per face."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    photo = read_photo(photo)
    n = max(len(faces), 1)
    fig = Figure(figsize=(6.5 + 2.6 * min(n, 3), 5.2), layout="constrained")
    grid = fig.add_gridspec(max(min(n, 3), 1), 2, width_ratios=[2.6, 1.2])
    ax = fig.add_subplot(grid[:, 0])
    ax.imshow(photo)
    ax.axis("off")
    for i, face in enumerate(faces):
        x, y, w, h = face.box
        ax.add_patch(Rectangle((x, y), w, h, fill=False, edgecolor="#ffcc00", linewidth=2))
        ax.text(x, y - 4, f"{i + 1}: {face.emotion} {face.probabilities[face.emotion]:.0%}", color="black",
                fontsize=10, va="bottom", bbox={"facecolor": "#ffcc00", "edgecolor": "none", "pad": 1.5})
    ax.set_title(title or (f"{len(faces)} face{'s' if len(faces) != 1 else ''} found" if faces else "no face found"))
    for i, face in enumerate(faces[:3]):
        bars = fig.add_subplot(grid[i, 1])
        values = [face.probabilities[e] for e in EMOTIONS]
        colors = ["#ffcc00" if e == face.emotion else "#9aa5b1" for e in EMOTIONS]
        bars.barh(EMOTIONS, values, color=colors)
        bars.set_xlim(0, 1)
        bars.set_xlabel("probability", fontsize=8)
        bars.invert_yaxis()
        bars.set_title(f"face {i + 1}", fontsize=10)
        bars.tick_params(labelsize=8)
        for side in ("top", "right"):
            bars.spines[side].set_visible(False)
    return fig


def plot_crops(crops) -> "Figure":
    """The 48 x 48 grey faces the models receive, side by side."""
    from matplotlib.figure import Figure

    crops = list(crops)
    fig = Figure(figsize=(1.6 * max(len(crops), 1), 1.9), layout="constrained")
    for i, crop in enumerate(crops):
        ax = fig.add_subplot(1, len(crops), i + 1)
        ax.imshow(crop, cmap="gray", vmin=0, vmax=255)
        ax.set_title(f"face {i + 1}", fontsize=9)
        ax.axis("off")
    return fig


def predict_files(photos, model, out_dir=None, fmt: str = "csv", label: str = "the model",
                  photos_per_batch: int = 32, cropped: bool = False) -> dict:
    """The command line's work: every photo's faces, an annotated PNG per photo and one table of
    all faces in `out_dir`. The faces of `photos_per_batch` photos at a time go through the
    network together (a photo at a time would pay the network's per-call cost once per photo).
    With `cropped`, each photo is one face already, classified whole. Photos that cannot be
    read are reported, not raised."""
    out_dir = Path(out_dir or ".")
    out_dir.mkdir(parents=True, exist_ok=True)
    results, problems, images = {}, {}, {}
    photos = list(photos)
    for start in range(0, len(photos), photos_per_batch):
        read = {}
        for photo in photos[start:start + photos_per_batch]:
            try:
                read[str(photo)] = read_photo(photo)
            except PhotoError as err:
                problems[str(photo)] = str(err)
        for (photo, pixels), faces in zip(read.items(), faces_in_images(list(read.values()), model, cropped=cropped)):
            results[photo] = faces
            images[photo] = _save_annotated(pixels, results[photo], _annotated_name(photo, out_dir, images.values()),
                                            f"{Path(photo).name}: " + _faces_title(results[photo], label))
    table = write_faces(results, out_dir / f"faces.{fmt}", fmt) if results else None
    return {"faces": results, "problems": problems, "images": images, "table": table}


def _annotated_name(photo: str, out_dir: Path, taken) -> Path:
    """``<stem>.faces.png`` in `out_dir`, numbered when another photo of this call had the same
    stem (``face.jpg`` and ``face.png``, or ``a/face.jpg`` and ``b/face.jpg``)."""
    taken = set(taken)
    stem = Path(photo).stem
    target, n = out_dir / f"{stem}.faces.png", 1
    while target in taken:
        n += 1
        target = out_dir / f"{stem}-{n}.faces.png"
    return target


def _faces_title(faces: list[Face], label: str) -> str:
    return f"{len(faces)} face{'s' if len(faces) != 1 else ''}, {label}" if faces else "no face found"


def _save_annotated(pixels: np.ndarray, faces: list[Face], target: Path, title: str) -> Path:
    from .files import atomic_write

    figure = plot_faces(pixels, faces, title=title)
    atomic_write(target, lambda f: figure.savefig(f, format="png", dpi=110))
    return target

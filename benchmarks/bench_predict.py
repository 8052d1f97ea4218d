"""Benchmark: ``ferlib predict``'s two stages, faces per second, on a set of photos.

    python benchmarks/bench_predict.py [--photos 24] [--faces 2048]

Prints, in one run on one machine, for the model ferlib ships (or, where none ships, the same
network untrained, which costs the same):

* detection: photos read, shrunk and searched by OpenCV's Haar cascade, in faces/s and photos/s,
  on group photos made by tiling scikit-image's astronaut portrait (nine faces each);
* classification: `--faces` face crops through the network in batches of 256
  (:func:`ferlib.predict.classify_faces`, what the command does), against one call per photo's
  faces (what it did before), measured side by side.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path


def group_photo():
    """A 3 x 3 grid of the astronaut's portrait: nine frontal faces in one 1,536-pixel photo."""
    import numpy as np
    import skimage.data

    face = skimage.data.astronaut()
    return np.concatenate([np.concatenate([face] * 3, axis=1)] * 3, axis=0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=24, help="group photos to detect faces in")
    parser.add_argument("--faces", type=int, default=2048, help="face crops to classify")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    from ferlib.predict import classify_faces, crop_face, detect_faces, read_photo
    from ferlib.provenance import device_name

    try:
        from ferlib.shipped import load_shipped_model

        model, which = load_shipped_model(), "the shipped model"
    except FileNotFoundError:
        from ferlib.models import build_model

        model, which = build_model("fastcnn"), "the fast CNN, untrained (no model ships here)"
    print(f"{device_name()}; {which}, {model.count_params():,} weights")

    photo = group_photo()
    started = time.perf_counter()
    crops, boxes = [], []
    for _ in range(args.photos):
        pixels = read_photo(photo)
        found = detect_faces(pixels)
        crops += [crop_face(pixels, box) for box in found]
        boxes += found
    seconds = time.perf_counter() - started
    print(f"detection: {len(boxes)} faces in {args.photos} photos of {photo.shape[1]} x {photo.shape[0]} "
          f"pixels in {seconds:.2f} s: {len(boxes) / seconds:.0f} faces/s, {args.photos / seconds:.1f} photos/s")

    faces = [crops[i % len(crops)] for i in range(args.faces)]
    places = [boxes[i % len(boxes)] for i in range(args.faces)]
    classify_faces(faces[:256], places[:256], model)  # trace and warm up
    per_photo = 9
    for label, run in (
        ("batches of 256", lambda: classify_faces(faces, places, model)),
        (f"one call per photo ({per_photo} faces)", lambda: [
            classify_faces(faces[i:i + per_photo], places[i:i + per_photo], model)
            for i in range(0, len(faces), per_photo)]),
    ):
        started = time.perf_counter()
        run()
        seconds = time.perf_counter() - started
        print(f"classification, {label}: {len(faces) / seconds:.0f} faces/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

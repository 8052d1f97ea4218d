"""Tests of ferlib.data: finding, parsing, caching and validating FER2013.

Everything except the ``realdata`` tests runs on tiny generated files (a few CSV rows, a
few 48x48 images) in tmp folders; the autouse fixture in conftest.py gives each test its
own cache folder, turns downloads off and clears FER2013_PATH.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import ferlib.data as fd
import ferlib.data.challenge_csv as challenge_csv
from ferlib.data import (
    EMOTIONS,
    FER2013Error,
    FER2013NotFound,
    load_data,
    load_fer2013,
    load_synthetic,
    read_challenge_csv,
    read_image_folder,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from naive_parser import read_csv_naive  # noqa: E402  (the benchmark's baseline parser)

# The original challenge CSV, gzip-compressed (its README gives this checksum). An earlier
# copy, rebuilt from the histogram-equalized image-folder release, had sha256:97fc5c1f...
REAL_SHA256 = "sha256:aee2206a1e4bdc0155d31e955aa5d747083ca7e0e89d2ba9a64ef431b3f9144a"
HEADER = "emotion,pixels,Usage"
CLASS_FOLDERS = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")


# --------------------------------------------------------------------------- helpers


def make_rows(n: int = 6, seed: int = 0):
    """n random 48x48 uint8 images, labels cycling through 0..6, usages in challenge order."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 48, 48), dtype=np.uint8)
    images[0, 0, :3] = (0, 255, 7)  # make sure 1-, 2- and 3-digit values and both ends occur
    labels = np.arange(n) % 7
    usage = np.asarray(["Training"] * (n - n // 3) + ["PublicTest"] * (n // 6) + ["PrivateTest"] * (n // 3 - n // 6))
    return images, labels, usage


def csv_lines(images, labels, usage, *, quote: bool = False) -> list[str]:
    """The challenge CSV as a list of lines (header first, no line endings)."""
    lines = [HEADER]
    for img, lab, use in zip(images, labels, usage):
        pixels = " ".join(map(str, np.asarray(img).ravel().tolist()))
        if quote:
            pixels = f'"{pixels}"'
        lines.append(f"{lab},{pixels},{use}")
    return lines


def write_lines(path: Path, lines: list[str], *, newline: str = "\n", gz: bool = False) -> Path:
    data = (newline.join(lines) + newline).encode()
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def write_csv(path: Path, n: int = 6, seed: int = 0, *, quote=False, newline="\n", gz=False):
    """A tiny valid challenge CSV; returns (path, images, labels, usage)."""
    images, labels, usage = make_rows(n, seed)
    write_lines(path, csv_lines(images, labels, usage, quote=quote), newline=newline, gz=gz)
    return path, images, labels, usage


def save_image(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array, np.uint8)).save(path)
    return path


def make_image_folder(root: Path, per_class: int = 1, seed: int = 0, suffix: str = ".png") -> Path:
    """The image-folder layout: train/<class>/Training_<i>, test/<class>/{Public,Private}Test_<i>."""
    rng = np.random.default_rng(seed)
    for c, cls in enumerate(CLASS_FOLDERS):
        for i in range(per_class):
            for part, prefix in (("train", "Training"), ("test", "PublicTest"), ("test", "PrivateTest")):
                img = rng.integers(0, 256, size=(48, 48), dtype=np.uint8)
                save_image(root / part / cls / f"{prefix}_{c}{i:03d}{suffix}", img)
    return root


def parsed_files(cache: Path) -> list[Path]:
    return sorted(cache.glob("parsed-*.npz"))


def assert_same(a, b):
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.usage, b.usage)
    assert a.fingerprint == b.fingerprint
    assert a.format == b.format


# --------------------------------------------------------------------------- classes


def test_emotions_canonical_order():
    assert EMOTIONS == ("Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral")
    assert fd.NUM_CLASSES == 7
    assert fd.USAGES == ("Training", "PublicTest", "PrivateTest")


def test_class_folders_map_to_canonical_codes(tmp_path):
    root = tmp_path / "folders"
    for cls in CLASS_FOLDERS:
        save_image(root / "train" / cls / f"Training_{cls}.png", np.zeros((48, 48), np.uint8))
    data = read_image_folder(root)
    # Rows are sorted by file name, which here is the class name.
    names = sorted(CLASS_FOLDERS)
    assert [EMOTIONS[code] for code in data.labels] == [n.capitalize() for n in names]
    assert data.class_counts() == {e: 1 for e in EMOTIONS}
    assert list(data.class_counts()) == list(EMOTIONS)


# --------------------------------------------------------------------------- challenge CSV


@pytest.mark.parametrize("gz", [False, True], ids=["csv", "csv.gz"])
def test_load_challenge_csv(tmp_path, gz):
    path, images, labels, usage = write_csv(tmp_path / ("fer2013.csv.gz" if gz else "fer2013.csv"), n=9, gz=gz)
    data = load_fer2013(path)
    assert data.images.dtype == np.uint8
    assert data.images.shape == (9, 48, 48)
    np.testing.assert_array_equal(data.images, images)
    assert np.issubdtype(data.labels.dtype, np.integer)
    np.testing.assert_array_equal(data.labels, labels)
    np.testing.assert_array_equal(data.usage, usage)
    assert len(data) == 9
    assert data.format == "csv"
    assert not data.is_synthetic
    assert data.name == "FER2013"
    assert data.fingerprint == "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
    assert data.usage_counts() == {"Training": 6, "PublicTest": 1, "PrivateTest": 2}


def test_plain_and_gzip_give_same_arrays(tmp_path):
    plain, *_ = write_csv(tmp_path / "a.csv", n=5)
    packed = tmp_path / "a.csv.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    a, b = load_fer2013(plain), load_fer2013(packed)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.usage, b.usage)
    assert a.fingerprint != b.fingerprint  # the fingerprint is of the file as stored


@pytest.mark.parametrize(
    "quote,newline",
    [(False, "\n"), (True, "\n"), (False, "\r\n"), (True, "\r\n")],
    ids=["lf", "quoted", "crlf", "quoted-crlf"],
)
def test_fast_parser_equals_naive(tmp_path, quote, newline):
    path, images, labels, _ = write_csv(tmp_path / "fer.csv", n=12, seed=3, quote=quote, newline=newline)
    fast = read_challenge_csv(path)
    naive_images, naive_labels = read_csv_naive(path)
    np.testing.assert_array_equal(fast.images, naive_images)
    np.testing.assert_array_equal(fast.labels, naive_labels)
    np.testing.assert_array_equal(fast.images, images)
    np.testing.assert_array_equal(fast.labels, labels)


def test_fast_parser_equals_naive_across_blocks(tmp_path, monkeypatch):
    # Blocks of 2 rows exercise the block boundaries and the per-block row offsets.
    monkeypatch.setattr(challenge_csv, "_ROWS_PER_BLOCK", 2)
    path, images, labels, usage = write_csv(tmp_path / "fer.csv", n=7, seed=5, quote=True, newline="\r\n")
    fast = read_challenge_csv(path)
    naive_images, naive_labels = read_csv_naive(path)
    np.testing.assert_array_equal(fast.images, naive_images)
    np.testing.assert_array_equal(fast.labels, naive_labels)
    np.testing.assert_array_equal(fast.usage, usage)


def test_quoted_fields_crlf_extra_spaces_and_no_final_newline(tmp_path):
    px = np.arange(2304) % 256
    spaced = "  ".join(map(str, px))
    text = (
        '"emotion","pixels","Usage"\r\n'
        f'"2","  {spaced} ","Training"\r\n'
        f"5, {spaced} , PrivateTest \r\n"
        f'3,"{spaced}",PublicTest'  # no line ending after the last row
    )
    path = tmp_path / "quoted.csv"
    path.write_bytes(text.encode())
    data = read_challenge_csv(path)
    np.testing.assert_array_equal(data.labels, [2, 5, 3])
    np.testing.assert_array_equal(data.usage, ["Training", "PrivateTest", "PublicTest"])
    for img in data.images:
        np.testing.assert_array_equal(img.ravel(), px)


def test_blank_lines_are_skipped_but_counted(tmp_path):
    images, labels, usage = make_rows(3)
    lines = csv_lines(images, labels, usage)
    lines.insert(2, "")  # line 3 is blank; the rows are now on lines 2, 4, 5
    lines[4] = lines[4].replace(" ", " 12a ", 1)
    path = write_lines(tmp_path / "blank.csv", lines)
    with pytest.raises(FER2013Error, match=r"line 5\b"):
        read_challenge_csv(path)
    lines[4] = csv_lines(images, labels, usage)[3]
    write_lines(path, lines)
    np.testing.assert_array_equal(read_challenge_csv(path).labels, labels)


# --------------------------------------------------------------------------- bad CSV input


def _bad_pixels(values):
    return lambda row: row.split(",")[0] + "," + " ".join(map(str, values)) + "," + row.split(",")[-1]


def _replace_pixel(token):
    def edit(row):
        emotion, pixels, use = row.split(",")
        values = pixels.split()
        values[100] = token
        return f"{emotion},{' '.join(values)},{use}"

    return edit


# (id, line to break (1-based; line 1 is the header), edit of that line, words the message must hold)
BAD_ROWS = [
    ("too-few-pixels", 3, _bad_pixels([7] * 2303), "2303"),
    ("too-many-pixels", 4, _bad_pixels([7] * 2305), "2305"),
    ("no-pixels", 2, _bad_pixels([]), "0 pixel"),
    ("non-numeric-12a", 3, _replace_pixel("12a"), "12a"),
    ("non-numeric-abc", 2, _replace_pixel("abc"), "abc"),
    ("decimal-point", 4, _replace_pixel("1.5"), "1.5"),
    ("out-of-range-256", 4, _replace_pixel("256"), "out of range"),
    ("out-of-range-1000", 3, _replace_pixel("1000"), "out of range"),
    ("negative", 2, _replace_pixel("-5"), "-5"),
    ("emotion-7", 3, lambda row: "7" + row[1:], "'7'"),
    ("emotion-x", 4, lambda row: "x" + row[1:], "'x'"),
    ("emotion-empty", 2, lambda row: row[1:], "emotion"),
    ("unknown-usage", 3, lambda row: row.rsplit(",", 1)[0] + ",Validation", "Validation"),
    ("two-fields", 4, lambda row: row.rsplit(",", 1)[0], "3 comma-separated"),
]


@pytest.mark.parametrize("line,edit,words", [b[1:] for b in BAD_ROWS], ids=[b[0] for b in BAD_ROWS])
def test_bad_row_is_reported_with_file_and_line(tmp_path, ferlib_cache, line, edit, words):
    images, labels, usage = make_rows(3)
    lines = csv_lines(images, labels, usage)
    lines[line - 1] = edit(lines[line - 1])
    path = write_lines(tmp_path / "broken.csv", lines)
    with pytest.raises(FER2013Error) as info:
        load_fer2013(path)
    message = str(info.value)
    assert "broken.csv" in message
    assert re.search(rf"\bline {line}\b", message), message
    assert words in message
    assert parsed_files(ferlib_cache) == []
    assert list(ferlib_cache.iterdir()) == []  # no temp file either


def test_bad_row_reported_in_later_block(tmp_path, monkeypatch):
    monkeypatch.setattr(challenge_csv, "_ROWS_PER_BLOCK", 2)
    images, labels, usage = make_rows(7)
    for line, edit in ((7, _replace_pixel("abc")), (6, _bad_pixels([1] * 2000)), (5, _replace_pixel("300"))):
        lines = csv_lines(images, labels, usage)
        lines[line - 1] = edit(lines[line - 1])
        path = write_lines(tmp_path / f"late{line}.csv", lines)
        with pytest.raises(FER2013Error, match=rf"late{line}\.csv, line {line}\b"):
            read_challenge_csv(path)


def test_first_bad_row_is_the_one_reported(tmp_path, monkeypatch):
    monkeypatch.setattr(challenge_csv, "_ROWS_PER_BLOCK", 2)
    images, labels, usage = make_rows(7)
    lines = csv_lines(images, labels, usage)
    lines[3] = _replace_pixel("abc")(lines[3])  # line 4, second block
    lines[6] = _replace_pixel("xyz")(lines[6])  # line 7, third block
    path = write_lines(tmp_path / "two.csv", lines)
    with pytest.raises(FER2013Error, match=r"line 4\b.*'abc'"):
        read_challenge_csv(path)


@pytest.mark.parametrize(
    "header,missing", [("emotion,Usage", "pixels"), ("pixels,Usage", "emotion"), ("emotion,pixels", "Usage")]
)
def test_missing_columns(tmp_path, ferlib_cache, header, missing):
    images, labels, usage = make_rows(2)
    lines = csv_lines(images, labels, usage)
    lines[0] = header
    path = write_lines(tmp_path / "columns.csv", lines)
    with pytest.raises(FER2013Error) as info:
        load_fer2013(path)
    message = str(info.value)
    assert "columns.csv" in message
    assert re.search(r"\bline 1\b", message)
    assert missing in message
    assert parsed_files(ferlib_cache) == []


@pytest.mark.parametrize("order", [("Usage", "emotion", "pixels"), ("pixels", "Usage", "emotion")])
def test_columns_in_another_order_are_taken_by_name(tmp_path, order):
    images, labels, usage = make_rows(6)
    lines = [",".join(order)]
    for img, lab, use in zip(images, labels, usage):
        fields = {"emotion": str(lab), "pixels": " ".join(map(str, img.ravel().tolist())), "Usage": use}
        lines.append(",".join(fields[name] for name in order))
    data = read_challenge_csv(write_lines(tmp_path / "order.csv", lines))
    np.testing.assert_array_equal(data.images, images)
    np.testing.assert_array_equal(data.labels, labels)
    assert data.usage.tolist() == usage.tolist()


def test_error_messages_quote_a_huge_value_only_in_part(tmp_path):
    images, labels, usage = make_rows(2)
    lines = csv_lines(images, labels, usage)
    lines[2] = "x" * 2_000_000 + "," + lines[2].split(",", 1)[1]  # a 2 MB emotion field
    with pytest.raises(FER2013Error) as info:
        read_challenge_csv(write_lines(tmp_path / "huge.csv", lines))
    message = str(info.value)
    assert "line 3" in message and "2,000,000 characters" in message
    assert len(message) < 600


@pytest.mark.parametrize(
    "name,content,words",
    [
        ("empty.csv", b"", "empty"),
        ("blank.csv", b"\n\n  \n", "empty"),
        ("header-only.csv", b"emotion,pixels,Usage\n", "no data rows"),
        ("header-only-crlf.csv", b"emotion,pixels,Usage\r\n\r\n", "no data rows"),
        ("empty.csv.gz", gzip.compress(b""), "empty"),
        ("corrupt.csv.gz", b"\x1f\x8b\x08\x00" + b"this is not deflate data" * 10, "gzip"),
        ("truncated.csv.gz", None, "gzip"),
    ],
)
def test_unusable_files(tmp_path, ferlib_cache, name, content, words):
    if content is None:  # a real gzip file cut in half
        lines = csv_lines(*make_rows(4))
        content = gzip.compress(("\n".join(lines) + "\n").encode())
        content = content[: len(content) // 2]
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(FER2013Error) as info:
        load_fer2013(path)
    assert name in str(info.value)
    assert words in str(info.value)
    assert parsed_files(ferlib_cache) == []


# --------------------------------------------------------------------------- image folders


def test_image_folder_jpg_and_png(tmp_path):
    root = tmp_path / "release"
    rng = np.random.default_rng(1)
    gray = {}
    for name, part, cls in [
        ("Training_1.png", "train", "happy"),
        ("Training_2.jpg", "train", "sad"),
        ("PublicTest_3.JPG", "test", "fear"),
        ("PrivateTest_4.jpeg", "test", "angry"),
    ]:
        img = rng.integers(0, 256, size=(48, 48), dtype=np.uint8)
        gray[name] = (save_image(root / part / cls / name, img), cls)
    (root / "train" / "happy" / "notes.txt").write_text("not an image")
    data = load_fer2013(root)
    assert data.format == "folder"
    assert data.images.dtype == np.uint8 and data.images.shape == (4, 48, 48)
    assert data.usage.tolist() == ["Training", "Training", "PublicTest", "PrivateTest"]
    order = ["Training_1.png", "Training_2.jpg", "PublicTest_3.JPG", "PrivateTest_4.jpeg"]
    assert [EMOTIONS[c] for c in data.labels] == [gray[n][1].capitalize() for n in order]
    for img, name in zip(data.images, order):
        with Image.open(gray[name][0]) as pil:
            np.testing.assert_array_equal(img, np.asarray(pil.convert("L")))
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", data.fingerprint)


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_colour_images_become_grayscale(tmp_path, suffix):
    root = tmp_path / "colour"
    rgb = np.zeros((48, 48, 3), np.uint8)
    rgb[:, :16] = (255, 0, 0)
    rgb[:, 16:32] = (0, 255, 0)
    rgb[:, 32:] = (0, 0, 255)
    path = save_image(root / "train" / "surprise" / f"Training_1{suffix}", rgb)
    rgba = np.dstack([np.full((48, 48), 200, np.uint8)] * 3 + [np.full((48, 48), 255, np.uint8)])
    save_image(root / "train" / "surprise" / "Training_2.png", rgba)
    data = read_image_folder(root)
    assert data.images.shape == (2, 48, 48) and data.images.dtype == np.uint8
    with Image.open(path) as pil:
        np.testing.assert_array_equal(data.images[0], np.asarray(pil.convert("L")))
    if suffix == ".png":  # lossless: ITU-R 601 luma of pure red, green, blue
        assert data.images[0, 0, 0] == 76 and data.images[0, 0, 20] == 150 and data.images[0, 0, 40] == 29
    assert (data.images[1] == 200).all()


def test_usage_from_file_name_prefix_else_folder(tmp_path):
    root = tmp_path / "names"
    z = np.zeros((48, 48), np.uint8)
    for rel in [
        "train/happy/Training_b.png",
        "train/happy/a.png",  # no prefix in train/: Training
        "test/happy/PublicTest_c.png",
        "test/happy/PrivateTest_d.png",
        "test/happy/e.png",  # no prefix in test/: PrivateTest
        "test/happy/PublicTest_a.png",
    ]:
        save_image(root / rel, z)
    data = read_image_folder(root)
    # ordered like the challenge CSV: by usage, then file name
    assert data.usage.tolist() == ["Training", "Training", "PublicTest", "PublicTest", "PrivateTest", "PrivateTest"]
    assert data.usage_counts() == {"Training": 2, "PublicTest": 2, "PrivateTest": 2}


def test_image_folder_only_train_or_only_test(tmp_path):
    z = np.zeros((48, 48), np.uint8)
    save_image(tmp_path / "a" / "train" / "Fear" / "Training_1.png", z)  # class folder names: any case
    save_image(tmp_path / "b" / "test" / "neutral" / "PublicTest_1.png", z)
    a, b = load_fer2013(tmp_path / "a"), load_fer2013(tmp_path / "b")
    assert a.labels.tolist() == [EMOTIONS.index("Fear")] and a.usage.tolist() == ["Training"]
    assert b.labels.tolist() == [EMOTIONS.index("Neutral")] and b.usage.tolist() == ["PublicTest"]


def test_image_folder_fingerprint_tracks_content(tmp_path):
    root = make_image_folder(tmp_path / "fp", per_class=1)
    first = read_image_folder(root).fingerprint
    assert read_image_folder(root).fingerprint == first
    target = next((root / "train" / "sad").iterdir())
    save_image(target, np.full((48, 48), 9, np.uint8))
    assert read_image_folder(root).fingerprint != first


@pytest.mark.parametrize("kind", ["garbage", "truncated", "empty"])
def test_corrupt_image(tmp_path, ferlib_cache, kind):
    root = make_image_folder(tmp_path / "corrupt", per_class=1, suffix=".jpg")
    bad = root / "train" / "fear" / "Training_broken.jpg"
    if kind == "garbage":
        bad.write_bytes(b"this is not a jpeg at all" * 20)
    elif kind == "truncated":
        good = next((root / "train" / "happy").iterdir()).read_bytes()
        bad.write_bytes(good[: len(good) // 3])
    else:
        bad.write_bytes(b"")
    with pytest.raises(FER2013Error) as info:
        load_fer2013(root)
    assert "Training_broken.jpg" in str(info.value)
    assert parsed_files(ferlib_cache) == []


@pytest.mark.parametrize("shape", [(40, 40), (48, 47), (96, 96)])
def test_image_not_48x48(tmp_path, ferlib_cache, shape):
    root = make_image_folder(tmp_path / "size", per_class=1)
    save_image(root / "test" / "disgust" / "PublicTest_big.png", np.zeros(shape, np.uint8))
    with pytest.raises(FER2013Error) as info:
        load_fer2013(root)
    message = str(info.value)
    assert "PublicTest_big.png" in message
    assert f"{shape[1]}x{shape[0]}" in message and "48x48" in message
    assert parsed_files(ferlib_cache) == []


def test_unknown_class_folder(tmp_path, ferlib_cache):
    root = make_image_folder(tmp_path / "classes", per_class=1)
    save_image(root / "train" / "contempt" / "Training_x.png", np.zeros((48, 48), np.uint8))
    with pytest.raises(FER2013Error) as info:
        load_fer2013(root)
    assert "contempt" in str(info.value)
    assert parsed_files(ferlib_cache) == []


def test_image_folder_without_images(tmp_path, ferlib_cache):
    root = tmp_path / "hollow"
    (root / "train" / "happy").mkdir(parents=True)
    (root / "test" / "sad").mkdir(parents=True)
    with pytest.raises(FER2013Error, match="hollow"):
        load_fer2013(root)
    assert parsed_files(ferlib_cache) == []


# --------------------------------------------------------------------------- discovery


def test_explicit_argument_comes_first(tmp_path, monkeypatch, ferlib_cache):
    arg, *_ = write_csv(tmp_path / "arg.csv", n=3, seed=1)
    env, *_ = write_csv(tmp_path / "env.csv", n=4, seed=2)
    write_csv(ferlib_cache / "fer2013.csv.gz", n=5, seed=3, gz=True)
    monkeypatch.setenv("FER2013_PATH", str(env))
    data = load_fer2013(arg)
    assert data.source == str(arg) and len(data) == 3
    assert fd.find_fer2013(arg) == arg


def test_env_comes_before_cache(tmp_path, monkeypatch, ferlib_cache):
    env, *_ = write_csv(tmp_path / "env.csv", n=4, seed=2)
    write_csv(ferlib_cache / "fer2013.csv.gz", n=5, seed=3, gz=True)
    monkeypatch.setenv("FER2013_PATH", str(env))
    data = load_fer2013()
    assert data.source == str(env) and len(data) == 4
    assert load_fer2013("auto").source == str(env)


@pytest.mark.parametrize("form", ["fer2013.csv.gz", "fer2013.csv", "fer2013"])
def test_cache_copy_is_found(ferlib_cache, form):
    if form == "fer2013":
        make_image_folder(ferlib_cache / "fer2013", per_class=1)
        expected = 21
    else:
        write_csv(ferlib_cache / form, n=5, gz=form.endswith(".gz"))
        expected = 5
    assert fd.find_fer2013() == ferlib_cache / form
    data = load_fer2013()
    assert len(data) == expected
    assert data.source == str(ferlib_cache / form)


def test_kagglehub_cached_copy_is_found(tmp_path):
    version = tmp_path / "kagglehub-cache" / "datasets" / "msambare" / "fer2013" / "versions" / "1"
    make_image_folder(version, per_class=1)
    assert fd.find_fer2013() == version
    assert len(load_fer2013()) == 21


def test_kagglehub_cached_copy_newest_version_first(tmp_path):
    versions = tmp_path / "kagglehub-cache" / "datasets" / "msambare" / "fer2013" / "versions"
    for v in ("2", "9", "10"):
        save_image(versions / v / "train" / "happy" / "Training_1.png", np.zeros((48, 48), np.uint8))
    assert fd.find_fer2013() == versions / "10"


@pytest.mark.parametrize("holder", ["fer2013.csv.gz", "fer2013.csv"])
def test_directory_holding_the_csv(tmp_path, monkeypatch, holder):
    (tmp_path / "data").mkdir()
    write_csv(tmp_path / "data" / holder, n=3, gz=holder.endswith(".gz"))
    assert load_fer2013(tmp_path / "data").source == str(tmp_path / "data" / holder)
    monkeypatch.setenv("FER2013_PATH", str(tmp_path / "data"))
    assert len(load_fer2013()) == 3


def test_nothing_found_and_no_download(ferlib_cache):
    with pytest.raises(FER2013NotFound) as info:
        load_fer2013()
    message = str(info.value)
    assert "kaggle" in message.lower()
    assert "FER2013_PATH" in message
    assert str(ferlib_cache) in message  # where to put a copy
    with pytest.raises(FER2013NotFound):
        load_fer2013(download=False)
    assert fd.find_fer2013() is None


@pytest.mark.parametrize("via", ["argument", "env"])
def test_missing_explicit_path_is_named(tmp_path, monkeypatch, ferlib_cache, via):
    write_csv(ferlib_cache / "fer2013.csv.gz", n=3, gz=True)  # must not be used instead
    missing = tmp_path / "no" / "such" / "fer2013.csv"
    if via == "env":
        monkeypatch.setenv("FER2013_PATH", str(missing))
        call = lambda: load_fer2013()  # noqa: E731
    else:
        call = lambda: load_fer2013(missing)  # noqa: E731
    with pytest.raises(FER2013NotFound) as info:
        call()
    assert str(missing) in str(info.value)
    assert "does not exist" in str(info.value)


def test_directory_without_fer2013_is_rejected(tmp_path):
    (tmp_path / "empty-dir").mkdir()
    with pytest.raises(FER2013NotFound, match="holds no FER2013"):
        load_fer2013(tmp_path / "empty-dir")


def test_not_found_is_not_a_format_error():
    # Callers can tell "no data" (FileNotFoundError) from "bad data" (ValueError).
    assert issubclass(FER2013NotFound, FileNotFoundError)
    assert issubclass(FER2013Error, ValueError)
    assert not issubclass(FER2013Error, FER2013NotFound)


# --------------------------------------------------------------------------- Kaggle (faked)


class FakeKaggle:
    def __init__(self, result=None, error=None):
        self.result, self.error, self.calls = result, error, []

    def __call__(self, handle, *args, **kwargs):
        self.calls.append(handle)
        if self.error is not None:
            raise self.error
        return str(self.result)


@pytest.fixture
def fake_kaggle(monkeypatch):
    kagglehub = pytest.importorskip("kagglehub")

    def install(result=None, error=None):
        fake = FakeKaggle(result, error)
        monkeypatch.setattr(kagglehub, "dataset_download", fake)
        return fake

    return install


def test_kaggle_source_uses_kagglehub(tmp_path, fake_kaggle, ferlib_cache):
    root = make_image_folder(tmp_path / "kaggle-download", per_class=2, suffix=".jpg")
    fake = fake_kaggle(root)
    data = load_fer2013("kaggle")
    assert fake.calls == ["msambare/fer2013"]
    assert data.format == "folder" and data.source == str(root)
    assert len(data) == 42 and data.images.shape == (42, 48, 48)
    assert data.usage_counts() == {"Training": 14, "PublicTest": 14, "PrivateTest": 14}
    assert len(parsed_files(ferlib_cache)) == 1


def test_kaggle_download_one_level_down(tmp_path, fake_kaggle):
    root = tmp_path / "kaggle-download"
    make_image_folder(root / "fer2013", per_class=1)
    fake_kaggle(root)
    assert load_fer2013("kaggle").source == str(root / "fer2013")


@pytest.mark.parametrize(
    "error", [ConnectionError("network is unreachable"), OSError("timed out"), RuntimeError("401 Unauthorized")]
)
def test_kaggle_failure_is_not_found(fake_kaggle, error):
    fake = fake_kaggle(error=error)
    with pytest.raises(FER2013NotFound) as info:
        load_fer2013("kaggle")
    message = str(info.value)
    assert fake.calls == ["msambare/fer2013"]
    assert "Kaggle" in message and "network" in message
    assert str(error) in message


def test_kaggle_download_without_images(tmp_path, fake_kaggle):
    (tmp_path / "odd-download").mkdir()
    fake_kaggle(tmp_path / "odd-download")
    with pytest.raises(FER2013NotFound, match="odd-download"):
        load_fer2013("kaggle")


def test_download_when_nothing_local_and_downloads_allowed(tmp_path, monkeypatch, fake_kaggle):
    monkeypatch.delenv("FERLIB_NO_DOWNLOAD")
    fake = fake_kaggle(make_image_folder(tmp_path / "dl", per_class=1))
    assert len(load_fer2013()) == 21
    assert fake.calls == ["msambare/fer2013"]


def test_no_download_when_off(tmp_path, monkeypatch, fake_kaggle):
    fake = fake_kaggle(make_image_folder(tmp_path / "dl", per_class=1))
    with pytest.raises(FER2013NotFound):
        load_fer2013()  # FERLIB_NO_DOWNLOAD=1 from the autouse fixture
    monkeypatch.delenv("FERLIB_NO_DOWNLOAD")
    with pytest.raises(FER2013NotFound):
        load_fer2013(download=False)
    assert fake.calls == []


def test_download_true_downloads_even_with_local_copy(tmp_path, fake_kaggle, ferlib_cache):
    write_csv(ferlib_cache / "fer2013.csv.gz", n=3, gz=True)
    fake = fake_kaggle(make_image_folder(tmp_path / "dl", per_class=1))
    assert load_fer2013(download=True).format == "folder"
    assert fake.calls == ["msambare/fer2013"]


# --------------------------------------------------------------------------- cache


def test_second_load_comes_from_cache(tmp_path, monkeypatch, ferlib_cache):
    path, images, labels, usage = write_csv(tmp_path / "fer.csv", n=6)
    first = load_fer2013(path)
    cached = parsed_files(ferlib_cache)
    assert len(cached) == 1

    def must_not_parse(*args, **kwargs):
        raise AssertionError("parsed again although the cache is fresh")

    monkeypatch.setattr(fd, "read_challenge_csv", must_not_parse)
    second = load_fer2013(path)
    assert_same(first, second)
    assert second.images.dtype == np.uint8 and second.images.shape == (6, 48, 48)
    assert second.source == str(path)
    np.testing.assert_array_equal(second.images, images)
    np.testing.assert_array_equal(second.usage, usage)
    assert parsed_files(ferlib_cache) == cached


def test_image_folder_is_cached_too(tmp_path, monkeypatch, ferlib_cache):
    root = make_image_folder(tmp_path / "release", per_class=1)
    first = load_fer2013(root)
    assert len(parsed_files(ferlib_cache)) == 1
    monkeypatch.setattr(fd, "read_image_folder", lambda *a: pytest.fail("parsed again"))
    assert_same(first, load_fer2013(root))


def test_use_cache_false(tmp_path, ferlib_cache):
    path, images, *_ = write_csv(tmp_path / "fer.csv", n=2)
    np.testing.assert_array_equal(load_fer2013(path, use_cache=False).images, images)
    assert parsed_files(ferlib_cache) == []


def test_changed_source_is_parsed_again(tmp_path, ferlib_cache):
    path, *_ = write_csv(tmp_path / "fer.csv", n=4, seed=1)
    first = load_fer2013(path)
    _, images, labels, usage = write_csv(path, n=5, seed=2)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    second = load_fer2013(path)
    assert len(second) == 5
    np.testing.assert_array_equal(second.images, images)
    np.testing.assert_array_equal(second.labels, labels)
    assert second.fingerprint != first.fingerprint
    assert second.fingerprint == "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def test_changed_image_is_read_again(tmp_path):
    root = make_image_folder(tmp_path / "release", per_class=1)
    first = load_fer2013(root)
    target = root / "train" / "happy" / "Training_3000.png"
    save_image(target, np.full((48, 48), 17, np.uint8))
    st = target.stat()
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    second = load_fer2013(root)
    assert second.fingerprint != first.fingerprint
    assert any((img == 17).all() for img in second.images)
    assert not any((img == 17).all() for img in first.images)


@pytest.mark.parametrize("damage", [b"", b"garbage, not an npz file", "truncate"])
def test_corrupt_cache_is_rebuilt(tmp_path, monkeypatch, ferlib_cache, damage):
    path, images, labels, usage = write_csv(tmp_path / "fer.csv", n=4)
    first = load_fer2013(path)
    (cache_file,) = parsed_files(ferlib_cache)
    if damage == "truncate":
        damage = cache_file.read_bytes()[:200]
    cache_file.write_bytes(damage)
    calls = []
    real_reader = fd.read_challenge_csv
    monkeypatch.setattr(fd, "read_challenge_csv", lambda p: calls.append(p) or real_reader(p))
    second = load_fer2013(path)
    assert calls == [path]  # the damaged cache was not trusted
    assert_same(first, second)
    with np.load(cache_file) as z:  # and it was rewritten whole
        np.testing.assert_array_equal(z["images"], images)
    assert parsed_files(ferlib_cache) == [cache_file]


def test_no_temp_files_left_in_cache(tmp_path, ferlib_cache):
    for i in range(3):
        path, *_ = write_csv(tmp_path / f"fer{i}.csv", n=2, seed=i)
        load_fer2013(path)
        load_fer2013(path)
    load_fer2013(make_image_folder(tmp_path / "release", per_class=1))
    names = sorted(p.name for p in ferlib_cache.iterdir())
    assert len(names) == 4
    assert all(re.fullmatch(r"parsed-[0-9a-f]+\.npz", n) for n in names), names


# --------------------------------------------------------------------------- synthetic


def test_load_synthetic_says_it_is_synthetic():
    data = load_synthetic(n_per_class=4, seed=0)
    assert data.format == "synthetic"
    assert data.is_synthetic
    for text in (data.name, data.source, data.fingerprint):
        assert "synthetic" in text.lower()
    assert data.name != "FER2013"
    assert data.images.shape == (28, 48, 48) and data.images.dtype == np.uint8
    assert data.class_counts() == {e: 4 for e in EMOTIONS}
    assert set(data.usage.tolist()) <= set(fd.USAGES)
    again = load_synthetic(n_per_class=4, seed=0)
    np.testing.assert_array_equal(again.images, data.images)
    assert again.fingerprint == data.fingerprint
    assert load_synthetic(n_per_class=4, seed=1).fingerprint != data.fingerprint


def test_load_data_never_falls_back_to_synthetic():
    with pytest.raises(FER2013NotFound):
        load_data("auto")
    with pytest.raises(FER2013NotFound):
        load_data(None)
    assert load_data("synthetic", synthetic_per_class=2).is_synthetic


def test_load_data_with_a_path(tmp_path):
    path, images, *_ = write_csv(tmp_path / "fer.csv", n=3)
    data = load_data(path)
    assert not data.is_synthetic
    np.testing.assert_array_equal(data.images, images)


# --------------------------------------------------------------------------- real data


@pytest.mark.realdata
def test_real_csv_fingerprint_and_shape(fer2013, fer2013_csv):
    assert fer2013.fingerprint == REAL_SHA256
    assert fer2013.images.shape == (35887, 48, 48)
    assert fer2013.images.dtype == np.uint8
    assert np.issubdtype(fer2013.labels.dtype, np.integer)
    assert fer2013.labels.min() == 0 and fer2013.labels.max() == 6
    assert fer2013.format == "csv" and fer2013.name == "FER2013" and not fer2013.is_synthetic


@pytest.mark.realdata
def test_real_csv_holds_the_original_pixels(fer2013):
    """The challenge's own pixels, not the per-image histogram-equalized ones of the
    image-folder release (where every image spans 0..255)."""
    assert fer2013.images[0].ravel()[:8].tolist() == [70, 80, 82, 72, 58, 58, 60, 63]
    assert fer2013.images.mean() == pytest.approx(129.39, abs=0.01)
    assert fer2013.images.std() == pytest.approx(65.06, abs=0.01)
    full_range = (fer2013.images.min(axis=(1, 2)) == 0) & (fer2013.images.max(axis=(1, 2)) == 255)
    assert full_range.mean() < 0.5


@pytest.mark.realdata
def test_real_usage_counts(fer2013):
    assert fer2013.usage_counts() == {"Training": 28709, "PublicTest": 3589, "PrivateTest": 3589}
    # in that order in the file
    assert (fer2013.usage[:28709] == "Training").all()
    assert (fer2013.usage[28709:32298] == "PublicTest").all()
    assert (fer2013.usage[32298:] == "PrivateTest").all()


@pytest.mark.realdata
def test_real_training_class_counts(fer2013):
    assert fer2013.class_counts("Training") == {
        "Angry": 3995,
        "Disgust": 436,
        "Fear": 4097,
        "Happy": 7215,
        "Sad": 4830,
        "Surprise": 3171,
        "Neutral": 4965,
    }


@pytest.mark.realdata
def test_real_fast_parser_equals_naive(fer2013, fer2013_csv):
    images, labels = read_csv_naive(fer2013_csv)
    np.testing.assert_array_equal(fer2013.images, images)
    np.testing.assert_array_equal(fer2013.labels, labels)


@pytest.mark.realdata
def test_real_found_through_env(fer2013_dir, fer2013_csv, monkeypatch):
    monkeypatch.setenv("FER2013_PATH", str(fer2013_dir))
    assert fd.find_fer2013() == fer2013_csv


@pytest.fixture
def folder_sample(fer2013_dir) -> Path:
    root = fer2013_dir / "fer2013-folder-sample"
    if not root.is_dir():
        pytest.skip(f"{root} is absent")
    return root


@pytest.mark.realdata
def test_real_folder_sample(folder_sample):
    data = load_fer2013(folder_sample)
    assert data.format == "folder"
    assert data.images.shape == (112, 48, 48) and data.images.dtype == np.uint8
    assert data.class_counts() == {e: 16 for e in EMOTIONS}
    test_names = [p.name for p in (folder_sample / "test").rglob("*.jpg")]
    public = sum(n.startswith("PublicTest_") for n in test_names)
    private = sum(n.startswith("PrivateTest_") for n in test_names)
    assert public + private == 28
    assert data.usage_counts() == {"Training": 84, "PublicTest": public, "PrivateTest": private}
    assert (public, private) == (15, 13)
    assert data.class_counts("Training") == {e: 12 for e in EMOTIONS}


@pytest.mark.realdata
def test_real_folder_sample_rows_match_files(folder_sample):
    data = read_image_folder(folder_sample)
    files = sorted(
        (p for p in folder_sample.rglob("*.jpg")),
        key=lambda p: (fd.USAGES.index(p.name.split("_")[0]), p.name),
    )
    assert len(files) == len(data)
    for img, label, usage, file in zip(data.images, data.labels, data.usage, files):
        assert EMOTIONS[label].lower() == file.parent.name
        assert usage == file.name.split("_")[0]
        assert file.parts[-3] == ("train" if usage == "Training" else "test")
        with Image.open(file) as pil:
            np.testing.assert_array_equal(img, np.asarray(pil.convert("L")))


# --------------------------------------------------------------------------- hostile but valid input


def test_pixel_values_with_leading_zeros_and_tabs_are_read(tmp_path):
    images, labels, usage = make_rows(3)
    lines = csv_lines(images, labels, usage)
    first = images[0].ravel().tolist()
    lines[1] = f"{labels[0]}," + " ".join(f"{v:06d}" for v in first[:5]) + "\t" + " ".join(map(str, first[5:])) + f",{usage[0]}"
    data = read_challenge_csv(write_lines(tmp_path / "zeros.csv", lines))
    np.testing.assert_array_equal(data.images, images)
    lines[1] = lines[1].replace(f"{first[0]:06d}", "0000256", 1)
    with pytest.raises(FER2013Error, match=r"line 2\b.*pixel 1 is out of range"):
        read_challenge_csv(write_lines(tmp_path / "big.csv", lines))


def test_images_without_class_folders_get_a_clear_error(tmp_path):
    save_image(tmp_path / "train" / "Training_1.jpg", np.zeros((48, 48)))
    save_image(tmp_path / "train" / "Training_2.jpg", np.zeros((48, 48)))
    with pytest.raises(FER2013Error, match=r"2 image\(s\) lie directly in this folder.*own sub-folder"):
        read_image_folder(tmp_path)


def test_a_16_bit_png_is_scaled_not_clipped(tmp_path):
    wide = (np.arange(48 * 48).reshape(48, 48) * 28).astype(np.uint16)  # 0 .. 64,484
    path = tmp_path / "train" / "happy" / "Training_1.png"
    path.parent.mkdir(parents=True)
    Image.fromarray(wide).save(path)  # a uint16 array makes a 16-bit grey PNG
    data = read_image_folder(tmp_path)
    expected = np.round(wide / 65535 * 255).astype(np.uint8)
    np.testing.assert_array_equal(data.images[0], expected)
    assert data.images[0].max() > 200 and len(np.unique(data.images[0])) > 200  # not clipped to one value


def test_an_unwritable_cache_warns_and_loads(tmp_path, monkeypatch):
    path, images, labels, _ = write_csv(tmp_path / "fer2013.csv")
    blocker = tmp_path / "cache-is-a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("FERLIB_CACHE", str(blocker))
    with pytest.warns(UserWarning, match="FERLIB_CACHE"):
        data = load_fer2013(path)
    np.testing.assert_array_equal(data.images, images)

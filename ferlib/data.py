"""Loading FER2013 from the challenge CSV, the image-folder release or a Kaggle download.

Every loader returns a :class:`FER2013`: uint8 images ``(N, 48, 48)``, integer labels in the
canonical order of :data:`EMOTIONS`, the ``Usage`` of each row and a fingerprint of the source
files (for provenance). Parsed arrays are cached on disk (written atomically), so a second
load of the same file is a plain array read.

Where the data comes from, in order:

1. the ``source`` argument (a CSV, a ``.csv.gz``, an image-folder root, or a directory that
   holds ``fer2013.csv[.gz]``);
2. the environment variable ``FER2013_PATH`` (same forms);
3. the local cache: ``$FERLIB_CACHE/fer2013.csv[.gz]`` or ``$FERLIB_CACHE/fer2013/`` and a
   copy that ``kagglehub`` downloaded earlier;
4. a Kaggle download through ``kagglehub`` (``source="kaggle"``, ``download=True``, or when
   nothing local was found).
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .files import atomic_write

#: FER2013's emotion codes 0..6, in the order the challenge CSV uses.
EMOTIONS: tuple[str, ...] = ("Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral")
NUM_CLASSES = len(EMOTIONS)
IMAGE_SIZE = 48
N_PIXELS = IMAGE_SIZE * IMAGE_SIZE
#: The challenge's ``Usage`` values, in file order.
USAGES: tuple[str, ...] = ("Training", "PublicTest", "PrivateTest")
#: The Kaggle data set of the image-folder release.
KAGGLE_DATASET = "msambare/fer2013"
ENV_PATH = "FER2013_PATH"
ENV_CACHE = "FERLIB_CACHE"
ENV_NO_DOWNLOAD = "FERLIB_NO_DOWNLOAD"
# Bump when the parsed-array format or the parsers change, so stale caches are ignored.
_CACHE_VERSION = "1"
_IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}

HOW_TO_GET_DATA = f"""\
How to get FER2013:
  * Kaggle: pip install kagglehub, put your Kaggle API token in ~/.kaggle/kaggle.json
    (or set KAGGLE_USERNAME and KAGGLE_KEY), then call
    ferlib.load_fer2013("kaggle") or run with --data kaggle; the download ({KAGGLE_DATASET})
    is cached for later runs.
  * A file you already have: point {ENV_PATH} (or the `source` argument / --data) at the
    challenge CSV fer2013.csv or fer2013.csv.gz (columns emotion,pixels,Usage), or at the
    image-folder release (a folder holding train/<class>/*.jpg and test/<class>/*.jpg).
  * Or copy it into the cache folder {{cache}} as fer2013.csv.gz or fer2013/.
  * No data and no network? ferlib.load_synthetic() gives a labelled synthetic stand-in."""


class FER2013Error(ValueError):
    """The data exist but are malformed; the message names the file and the row or image."""


class FER2013NotFound(FileNotFoundError):
    """No FER2013 could be found or downloaded; the message says how to get it."""


@dataclass(frozen=True, eq=False)
class FER2013:
    """FER2013 (or the synthetic stand-in) as arrays, with where it came from."""

    images: np.ndarray  # (N, 48, 48) uint8
    labels: np.ndarray  # (N,) int64, codes into EMOTIONS
    usage: np.ndarray  # (N,) str, one of USAGES
    fingerprint: str  # "sha256:<hex>" of the source files
    source: str  # where it was read from
    kind: str  # "csv", "folder" or "synthetic"

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def is_synthetic(self) -> bool:
        return self.kind == "synthetic"

    @property
    def name(self) -> str:
        """A short label for tables and page banners."""
        return "synthetic FER-like faces (not FER2013)" if self.is_synthetic else "FER2013"

    def class_counts(self, usage: str | None = None) -> dict[str, int]:
        labels = self.labels if usage is None else self.labels[self.usage == usage]
        counts = np.bincount(labels, minlength=NUM_CLASSES)
        return dict(zip(EMOTIONS, counts.tolist()))

    def usage_counts(self) -> dict[str, int]:
        return {u: int(np.count_nonzero(self.usage == u)) for u in USAGES}

    def pixel_summary(self) -> dict[str, float]:
        """Grey-level statistics that tell the two releases apart.

        The challenge CSV keeps each photo's own contrast; the image-folder release has
        every image histogram-equalized, so nearly all of its images span 0..255 and their
        per-image spread is larger (standard deviation about 74).
        """
        lo, hi = self.images.min(axis=(1, 2)), self.images.max(axis=(1, 2))
        per_image_std = self.images.reshape(len(self.images), -1).std(axis=1)
        full_range = float(np.mean((lo == 0) & (hi == 255)))
        return {"mean": float(self.images.mean()), "std": float(self.images.std()),
                "per_image_std": float(per_image_std.mean()), "full_range_share": full_range,
                "looks_equalized": full_range > 0.95}


def as_model_input(images) -> np.ndarray:
    """One image or a batch, uint8 or float, as the models take it: float32 ``(N, H, W, 1)``.

    uint8 pixels are divided by 255, the report's only preprocessing step (section 2.1);
    float images are taken as already scaled to [0, 1]. The one place that rule lives.
    """
    x = np.asarray(images)
    scale = 255.0 if x.dtype == np.uint8 else 1.0
    x = x.astype(np.float32) / scale
    if x.ndim == 2:  # (H, W): one grey image
        x = x[None, ..., None]
    elif x.ndim == 3:
        # (H, W, 1) is one image with a channel axis; anything else is a batch (N, H, W).
        x = x[None] if x.shape[-1] == 1 else x[..., None]
    if x.ndim != 4:
        raise ValueError(f"expected images of shape (H, W), (H, W, 1), (N, H, W) or (N, H, W, 1), got {np.shape(images)}")
    return x


def equalize_histogram(image: np.ndarray) -> np.ndarray:
    """Per-image histogram equalization of a uint8 image: what the image-folder release
    did to every FER2013 face (its grey levels then spread over the whole 0..255 range)."""
    image = np.asarray(image, np.uint8)
    counts = np.bincount(image.ravel(), minlength=256)
    cdf = np.cumsum(counts)
    lowest = cdf[counts > 0][0]
    scale = max(cdf[-1] - lowest, 1)
    lookup = np.clip(np.round((cdf - lowest) / scale * 255), 0, 255).astype(np.uint8)
    return lookup[image]


# --------------------------------------------------------------------------- discovery


def cache_dir() -> Path:
    """Where ferlib keeps parsed arrays and where it looks for a cached copy of the data."""
    env = os.environ.get(ENV_CACHE)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ferlib"


def _how_to(extra: str = "") -> str:
    return (extra + "\n" if extra else "") + HOW_TO_GET_DATA.format(cache=cache_dir())


def _resolve(path: Path) -> Path | None:
    """The CSV or image-folder root that `path` stands for, or None."""
    if path.is_file():
        return path
    if path.is_dir():
        if (path / "train").is_dir() or (path / "test").is_dir():
            return path
        for name in ("fer2013.csv.gz", "fer2013.csv"):
            if (path / name).is_file():
                return path / name
        # A Kaggle download unpacks one level down on some versions.
        for sub in sorted(p for p in path.iterdir() if p.is_dir()):
            if (sub / "train").is_dir() and (sub / "test").is_dir():
                return sub
    return None


def _kagglehub_cached() -> Path | None:
    root = Path(os.environ.get("KAGGLEHUB_CACHE", Path.home() / ".cache" / "kagglehub"))
    versions = root / "datasets" / KAGGLE_DATASET / "versions"
    if versions.is_dir():
        numbered = [p for p in versions.iterdir() if p.name.isdigit()]
        for version in sorted(numbered, key=lambda p: int(p.name), reverse=True):  # newest first
            found = _resolve(version)
            if found is not None:
                return found
    return None


def find_fer2013(source: str | os.PathLike | None = None) -> Path | None:
    """The local FER2013 that `load_fer2013` would use, or None when only a download is left.

    Raises FER2013NotFound when an explicit source or FER2013_PATH names something that does
    not hold FER2013 (a typo should not quietly fall through to another copy).
    """
    for origin, value in (("argument", source), (ENV_PATH, os.environ.get(ENV_PATH))):
        if value is None or str(value) in ("", "auto"):
            continue
        path = Path(value).expanduser()
        found = _resolve(path)
        if found is None:
            what = "does not exist" if not path.exists() else "holds no FER2013 CSV or image folder"
            raise FER2013NotFound(_how_to(f"FER2013 path from the {origin}: {path} {what}."))
        return found
    for candidate in (cache_dir() / "fer2013.csv.gz", cache_dir() / "fer2013.csv", cache_dir() / "fer2013"):
        found = _resolve(candidate) if candidate.exists() else None
        if found is not None:
            return found
    return _kagglehub_cached()


def download_fer2013() -> Path:
    """Download the image-folder release from Kaggle with kagglehub (cached by kagglehub)."""
    try:
        import kagglehub
    except ImportError as err:  # pragma: no cover - kagglehub is a dependency
        raise FER2013NotFound(_how_to("kagglehub is not installed (pip install kagglehub).")) from err
    try:
        path = Path(kagglehub.dataset_download(KAGGLE_DATASET))
    except Exception as err:  # network errors, missing credentials, HTTP errors
        raise FER2013NotFound(
            _how_to(
                f"Downloading {KAGGLE_DATASET} from Kaggle failed: {type(err).__name__}: {err}\n"
                "Check the network connection and your Kaggle credentials."
            )
        ) from err
    found = _resolve(path)
    if found is None:
        raise FER2013NotFound(_how_to(f"The Kaggle download at {path} holds no train/ and test/ folders."))
    return found


def load_fer2013(
    source: str | os.PathLike | None = None,
    *,
    download: bool | None = None,
    use_cache: bool = True,
) -> FER2013:
    """Load FER2013 from a path, FER2013_PATH, the local cache or Kaggle (see module doc).

    ``source="kaggle"`` or ``download=True`` downloads; ``download=None`` downloads only when
    nothing local is found (unless FERLIB_NO_DOWNLOAD is set); ``download=False`` never does.
    """
    if source is not None and str(source) == "kaggle":
        path = download_fer2013()
    else:
        path = None if download else find_fer2013(source)
        if path is None:
            no_download = download is False or (download is None and os.environ.get(ENV_NO_DOWNLOAD))
            if no_download:
                raise FER2013NotFound(_how_to("No local FER2013 was found and downloading is off."))
            path = download_fer2013()
    reader = read_image_folder if path.is_dir() else read_challenge_csv
    return _cached_read(path, reader) if use_cache else reader(path)


# --------------------------------------------------------------------------- cache


def _source_stamp(path: Path) -> str:
    """Cheap identity of a source (paths, sizes, mtimes): decides whether the cache is fresh.

    Hashing the whole source on every load would cost more than the cached read saves, so
    a file rewritten with the same size and a restored mtime is not noticed; pass
    ``use_cache=False`` (or delete the cache folder) after editing data in place like that.
    """
    parts = [_CACHE_VERSION, str(path.resolve())]
    if path.is_dir():
        for entry in sorted(_image_files(path)):
            st = entry.stat()
            parts.append(f"{entry.relative_to(path)}:{st.st_size}:{st.st_mtime_ns}")
    else:
        st = path.stat()
        parts.append(f"{st.st_size}:{st.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


def _cached_read(path: Path, reader) -> FER2013:
    cache_file = cache_dir() / f"parsed-{_source_stamp(path)}.npz"
    if cache_file.is_file():
        try:
            with np.load(cache_file, allow_pickle=False) as z:
                return FER2013(
                    images=z["images"],
                    labels=z["labels"],
                    usage=np.asarray(USAGES)[z["usage_code"]],
                    fingerprint=str(z["fingerprint"]),
                    source=str(path),
                    kind=str(z["kind"]),
                )
        except Exception:  # a damaged cache is rebuilt, never trusted
            pass
    data = reader(path)
    usage_code = np.zeros(len(data), np.int8)
    for code, usage in enumerate(USAGES):
        usage_code[data.usage == usage] = code
    try:
        atomic_write(
            cache_file,
            lambda f: np.savez(
                f,
                images=data.images,
                labels=data.labels,
                usage_code=usage_code,
                fingerprint=np.str_(data.fingerprint),
                kind=np.str_(data.kind),
            ),
        )
    except OSError as err:  # the data are fine; only the cache could not be written
        import warnings

        warnings.warn(f"ferlib could not write its cache {cache_file} ({err}); loading without a cache. "
                      f"Point {ENV_CACHE} at a writable folder to make later loads fast.", stacklevel=3)
    return data


# --------------------------------------------------------------------------- challenge CSV

_EMOTION_CODES = {str(i).encode(): i for i in range(NUM_CLASSES)}
_EMOTION_CODES.update({b'"' + k + b'"': v for k, v in list(_EMOTION_CODES.items())})
_USAGE_CODES = {u.encode(): i for i, u in enumerate(USAGES)}
_USAGE_CODES.update({b'"' + k + b'"': v for k, v in list(_USAGE_CODES.items())})
_ROWS_PER_BLOCK = 1024


def _decompress(raw: bytes, path: Path) -> bytes:
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:  # python-isal decodes gzip about 3x faster than zlib; fall back when it is missing
        from isal.igzip import decompress
    except ImportError:  # pragma: no cover
        from gzip import decompress
    try:
        return decompress(raw)
    except Exception as err:
        raise FER2013Error(f"{path}: not a readable gzip file ({err}); download it again.") from err


def _sha256(raw: bytes) -> str:
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def read_challenge_csv(path: str | os.PathLike) -> FER2013:
    """Parse the challenge CSV (``emotion,pixels,Usage``; plain or gzip) into arrays.

    The pixel field is parsed with vectorised byte arithmetic in blocks of rows, on two
    threads, instead of one ``str.split`` per row; every malformed row is reported by line.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise FER2013NotFound(_how_to(f"{path}: cannot read ({err}).")) from err
    with ThreadPoolExecutor(2) as pool:  # hashing and decompressing both release the GIL
        fingerprint = pool.submit(_sha256, raw)
        text = _decompress(raw, path)
        rows = _scan_rows(text, path)
        images = _parse_pixels(text, rows, path, pool)
        return FER2013(
            images=images,
            labels=rows.labels,
            usage=np.asarray(USAGES)[rows.usage_code],
            fingerprint=fingerprint.result(),
            source=str(path),
            kind="csv",
        )


def _quote(value, limit: int = 60) -> str:
    """`value` quoted for an error message, cut to `limit` characters (a bad line can be huge)."""
    text = value.decode("utf-8", errors="replace") if isinstance(value, (bytes, bytearray)) else str(value)
    return repr(text if len(text) <= limit else text[:limit] + f"... ({len(text):,} characters)")


@dataclass
class _Rows:
    starts: np.ndarray  # byte offset of each row's pixel field
    ends: np.ndarray  # byte offset just past it
    lines: np.ndarray  # 1-based line number in the file
    labels: np.ndarray
    usage_code: np.ndarray


def _field_positions(header_line: bytes, path: Path) -> dict[str, int]:
    """Which of a row's three fields holds emotion, pixels and Usage, from the header."""
    header = header_line.decode("utf-8-sig", errors="replace").strip()
    columns = [c.strip().strip('"') for c in header.split(",")]
    expected = ["emotion", "pixels", "Usage"]
    lowered = [c.lower() for c in columns]
    if sorted(lowered) != sorted(c.lower() for c in expected):
        missing = [c for c in expected if c.lower() not in lowered]
        extra = [c for c in columns if c.lower() not in {x.lower() for x in expected}]
        problem = f"missing column(s) {', '.join(missing)}" if missing else f"unexpected column(s) {', '.join(extra)}"
        raise FER2013Error(
            f"{path}, line 1: header is {_quote(header)}: {problem}. "
            "The challenge CSV's header is 'emotion,pixels,Usage'."
        )
    # The pixel field holds no comma, so every row splits at its first and last comma into
    # three fields; the header says which field is which.
    return {name: lowered.index(name.lower()) for name in expected}


def _scan_rows(text: bytes, path: Path) -> _Rows:
    """Find each row's fields with C-level ``bytes.find`` (cheap: one pass of memchr)."""
    if not text.strip():
        raise FER2013Error(f"{path}: the file is empty; expected a header 'emotion,pixels,Usage' and rows.")
    header_end = text.find(b"\n")
    header_end = len(text) if header_end == -1 else header_end
    field_of = _field_positions(text[:header_end], path)
    starts, ends, lines, labels, usage = [], [], [], [], []
    find, rfind, n = text.find, text.rfind, len(text)
    pos, line = header_end + 1, 2
    while pos < n:
        nl = find(b"\n", pos)
        nl = n if nl == -1 else nl
        end = nl - 1 if nl > pos and text[nl - 1] == 13 else nl  # CRLF files
        if end > pos:
            c1, c2 = find(b",", pos, end), rfind(b",", pos, end)
            if c1 == -1 or c1 == c2:
                raise FER2013Error(
                    f"{path}, line {line}: expected 3 comma-separated fields (emotion,pixels,Usage), "
                    f"found {text[pos:end].count(b',') + 1}; fix or delete this row."
                )
            spans = ((pos, c1), (c1 + 1, c2), (c2 + 1, end))
            e0, e1 = spans[field_of["emotion"]]
            code = _EMOTION_CODES.get(text[e0:e1].strip())
            if code is None:
                raise FER2013Error(
                    f"{path}, line {line}: unknown emotion code {_quote(text[e0:e1])}; "
                    f"codes are 0..6 ({', '.join(f'{i} {e}' for i, e in enumerate(EMOTIONS))})."
                )
            u0, u1 = spans[field_of["Usage"]]
            use = _USAGE_CODES.get(text[u0:u1].strip())
            if use is None:
                raise FER2013Error(
                    f"{path}, line {line}: unknown Usage {_quote(text[u0:u1])}; expected one of {', '.join(USAGES)}."
                )
            a, b = spans[field_of["pixels"]]
            if b > a and text[a] == 34:  # quoted pixel field
                a += 1
            if b > a and text[b - 1] == 34:
                b -= 1
            starts.append(a)
            ends.append(b)
            lines.append(line)
            labels.append(code)
            usage.append(use)
        pos, line = nl + 1, line + 1
    if not starts:
        raise FER2013Error(f"{path}: the header is there but the file has no data rows.")
    return _Rows(
        starts=np.asarray(starts, np.int64),
        ends=np.asarray(ends, np.int64),
        lines=np.asarray(lines, np.int64),
        labels=np.asarray(labels, np.int64),
        usage_code=np.asarray(usage, np.int8),
    )


def _parse_pixels(text: bytes, rows: _Rows, path: Path, pool: ThreadPoolExecutor) -> np.ndarray:
    buf = np.frombuffer(text, np.uint8)
    images = np.empty((len(rows.starts), N_PIXELS), np.uint8)
    blocks = [(r, min(r + _ROWS_PER_BLOCK, len(rows.starts))) for r in range(0, len(rows.starts), _ROWS_PER_BLOCK)]
    # list() re-raises the first block's error, if any, in row order.
    list(pool.map(lambda b: _parse_block(buf, rows, b[0], b[1], images, path), blocks))
    return images.reshape(-1, IMAGE_SIZE, IMAGE_SIZE)


def _parse_block(buf: np.ndarray, rows: _Rows, r0: int, r1: int, out: np.ndarray, path: Path) -> None:
    """Parse the pixel fields of rows r0..r1 into ``out[r0:r1]``.

    The block's bytes are copied into a scratch array with everything between pixel fields
    blanked to spaces, so the block becomes one long run of space-separated numbers.
    """
    first, last = rows.starts[r0], rows.ends[r1 - 1]
    pad = 4  # leading blanks, so that "four places before" exists for every byte
    scratch = np.empty(last - first + pad + 1, np.uint8)
    scratch[:pad] = scratch[-1] = 32
    scratch[pad:-1] = buf[first:last]
    row_start = rows.starts[r0:r1] - first + pad  # field starts in scratch coordinates
    row_end = rows.ends[r0:r1] - first + pad
    for gap_start, gap_end in zip(row_end[:-1], row_start[1:]):
        scratch[gap_start:gap_end] = 32
    scratch[scratch == 9] = 32  # a tab separates pixel values as well as a space
    digit = scratch - np.uint8(48)  # 0..9 for digits; other bytes wrap around to > 9
    space = scratch == 32
    if np.count_nonzero(digit > 9) != np.count_nonzero(space):  # a byte neither digit nor space
        bad = np.flatnonzero((digit > 9) & ~space)[0]
        row = np.searchsorted(row_end, bad, side="right")
        raise FER2013Error(
            f"{path}, line {rows.lines[r0 + row]}: pixel value {_token_at(scratch, bad)!r} is not an "
            "integer in 0..255; the pixels field must hold 2304 space-separated integers. "
            "Fix or delete this row."
        )
    # Views shifted by 1..4 bytes: at byte i (i >= pad) they hold the digits 1..4 places
    # before it. Every number ends where a space follows a digit, so one index array of
    # those spaces reads every number's digits from the four views.
    shifted = [digit[pad - k : len(digit) - k] for k in (1, 2, 3, 4)]
    ends = np.flatnonzero(space[pad:] & (shifted[0] <= 9))
    ones, tens, hundreds, thousands = (np.take(view, ends) for view in shifted)
    counts = np.diff(np.searchsorted(ends, np.append(row_start, len(space)) - pad))
    wrong = np.flatnonzero(counts != N_PIXELS)
    if wrong.size:
        row = wrong[0]
        raise FER2013Error(
            f"{path}, line {rows.lines[r0 + row]}: {counts[row]} pixel values, expected {N_PIXELS} "
            f"(a {IMAGE_SIZE}x{IMAGE_SIZE} image). Fix or delete this row."
        )
    has_tens = tens <= 9
    has_hundreds = has_tens & (hundreds <= 9)
    value = ones.astype(np.uint16)
    value += has_tens * tens.astype(np.uint16) * 10
    value += has_hundreds * hundreds.astype(np.uint16) * 100
    # Numbers of four or more digits are rare: either leading zeros ("000119") or out of
    # range. Read those few one by one.
    for i in np.flatnonzero(has_hundreds & (thousands <= 9)):
        token = _token_before(scratch, ends[i] + pad)
        value[i] = min(int(token), 256)  # 256 marks out of range below
    too_big = np.flatnonzero(value > 255)
    if too_big.size:
        row = too_big[0] // N_PIXELS
        raise FER2013Error(
            f"{path}, line {rows.lines[r0 + row]}: pixel {too_big[0] % N_PIXELS + 1} is out of range "
            "0..255. Fix or delete this row."
        )
    out[r0:r1] = value.reshape(r1 - r0, N_PIXELS)


def _token_before(scratch: np.ndarray, end: int) -> str:
    """The digits that end just before byte `end` (a space)."""
    start = end
    while start > 0 and 48 <= scratch[start - 1] <= 57:
        start -= 1
    return scratch[start:end].tobytes().decode()


def _token_at(scratch: np.ndarray, i: int, limit: int = 20) -> str:
    """The whitespace-separated token around byte i (cut to `limit` characters)."""
    blank = (9, 10, 13, 32)
    lo = i
    while lo > 0 and scratch[lo - 1] not in blank and i - lo < limit:
        lo -= 1
    hi = i
    while hi < len(scratch) and scratch[hi] not in blank and hi - lo < limit:
        hi += 1
    return scratch[lo:hi].tobytes().decode(errors="replace")


# --------------------------------------------------------------------------- image folders


def _image_files(root: Path) -> list[Path]:
    return [
        p
        for part in ("train", "test")
        if (root / part).is_dir()
        for p in (root / part).rglob("*")
        if p.suffix.lower() in _IMAGE_SUFFIXES and p.is_file()
    ]


def _usage_of(file: Path, part: str) -> str:
    for usage in USAGES:
        if file.name.startswith(usage + "_"):
            return usage
    # No challenge prefix in the name: the folder decides.
    return "Training" if part == "train" else "PrivateTest"


def _read_image(file: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(file) as img:
            img.load()
            if img.mode in ("I;16", "I;16B", "I;16L", "I"):
                # 16-bit grey levels: scale 0..65535 to 0..255 (converting to "L" would clip them)
                wide = np.asarray(img, dtype=np.float64)
                top = 65535.0 if wide.max() > 255 else 255.0
                array = np.round(wide / top * 255).clip(0, 255).astype(np.uint8)
            else:
                gray = img.convert("L") if img.mode != "L" else img
                array = np.asarray(gray, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise FER2013Error(f"{file}: cannot read this image ({err}); replace or delete the file.") from err
    if array.shape != (IMAGE_SIZE, IMAGE_SIZE):
        raise FER2013Error(
            f"{file}: image is {array.shape[1]}x{array.shape[0]} pixels, expected "
            f"{IMAGE_SIZE}x{IMAGE_SIZE}; resize it to {IMAGE_SIZE}x{IMAGE_SIZE} or delete it."
        )
    return array


def read_image_folder(root: str | os.PathLike) -> FER2013:
    """Read the image-folder release: ``train/<class>/*.jpg`` and ``test/<class>/*.jpg``.

    Class folders are the lower-case emotion names; PNG works as well as JPEG; colour
    images become grayscale. The usage comes from the file-name prefix (``Training_``,
    ``PublicTest_``, ``PrivateTest_``), else from the folder (train: Training, test:
    PrivateTest). Rows are ordered as in the challenge CSV: by usage, then file name.
    """
    root = Path(root)
    if not ((root / "train").is_dir() or (root / "test").is_dir()):
        raise FER2013NotFound(_how_to(f"{root}: no train/ or test/ folder, so this is not the image-folder release."))
    classes = {name.lower(): code for code, name in enumerate(EMOTIONS)}
    entries = []
    for part in ("train", "test"):
        folder = root / part
        if not folder.is_dir():
            continue
        for class_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
            if class_dir.name.lower() not in classes:
                raise FER2013Error(
                    f"{class_dir}: unknown class folder {class_dir.name!r}; expected one of "
                    f"{', '.join(sorted(classes))}. Rename or remove it."
                )
            for file in class_dir.iterdir():
                if file.suffix.lower() in _IMAGE_SUFFIXES:
                    usage = _usage_of(file, part)
                    entries.append((USAGES.index(usage), file.name, file, classes[class_dir.name.lower()]))
    if not entries:
        loose = [p for part in ("train", "test") if (root / part).is_dir() for p in (root / part).iterdir()
                 if p.is_file() and p.suffix.lower() in _IMAGE_SUFFIXES]
        if loose:
            raise FER2013Error(
                f"{loose[0].parent}: {len(loose)} image(s) lie directly in this folder, but the image-folder "
                f"release keeps each emotion in its own sub-folder ({loose[0].parent}/happy/..., one of "
                f"{', '.join(sorted(classes))}). Move each image into its emotion's folder.")
        raise FER2013Error(f"{root}: the train/ and test/ folders hold no .jpg or .png images.")
    entries.sort(key=lambda e: (e[0], e[1]))
    files = [e[2] for e in entries]
    with ThreadPoolExecutor(4) as pool:  # PIL decodes with the GIL released
        images = np.stack(list(pool.map(_read_image, files)))
    digest = hashlib.sha256()
    for file in sorted(files, key=lambda f: str(f.relative_to(root))):
        digest.update(str(file.relative_to(root).as_posix()).encode() + b"\0")
        digest.update(hashlib.sha256(file.read_bytes()).digest())
    return FER2013(
        images=images,
        labels=np.asarray([e[3] for e in entries], np.int64),
        usage=np.asarray([USAGES[e[0]] for e in entries]),
        fingerprint="sha256:" + digest.hexdigest(),
        source=str(root),
        kind="folder",
    )


# --------------------------------------------------------------------------- synthetic


def load_synthetic(n_per_class: int = 300, seed: int = 0) -> FER2013:
    """The synthetic FER-like faces (see :mod:`ferlib.synthetic`) as a labelled stand-in.

    Rows get usages in FER2013's proportions (80% Training, 10% each test part). The
    result says it is synthetic in ``kind``, ``name``, ``source`` and ``fingerprint``.
    """
    from .synthetic import make_synthetic_faces

    images, labels = make_synthetic_faces(n_per_class=n_per_class, seed=seed)
    n = len(labels)
    usage = np.asarray(USAGES)[np.digitize(np.arange(n) / n, [0.8, 0.9])]
    digest = hashlib.sha256(images.tobytes() + labels.tobytes()).hexdigest()
    return FER2013(
        images=images,
        labels=labels.astype(np.int64),
        usage=usage,
        fingerprint=f"synthetic-sha256:{digest}",
        source=f"synthetic(n_per_class={n_per_class}, seed={seed})",
        kind="synthetic",
    )


def load_data(source: str | os.PathLike | None = "auto", *, synthetic_per_class: int = 300, seed: int = 0) -> FER2013:
    """The notebooks' entry point: ``"synthetic"``, ``"kaggle"``, a path, or ``"auto"``.

    ``"auto"`` (or None) is FER2013 from FER2013_PATH or the cache, else a Kaggle download;
    it never falls back to synthetic data by itself: ask for ``"synthetic"`` explicitly.
    """
    if source is not None and str(source) == "synthetic":
        return load_synthetic(synthetic_per_class, seed)
    return load_fer2013(None if source in (None, "auto") else source)

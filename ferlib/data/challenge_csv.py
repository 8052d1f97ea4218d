"""The challenge CSV (``emotion,pixels,Usage``, plain or gzip), parsed fast and strictly.

The pixel field is parsed with vectorised byte arithmetic in blocks of rows, on two
threads, instead of one ``str.split`` per row; every malformed row is reported by file and
line, with the bad value quoted (cut to a readable length) and what to do about it.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..fer2013 import EMOTIONS, FER2013, IMAGE_SIZE, N_PIXELS, NUM_CLASSES, USAGES, FER2013Error, FER2013NotFound
from ..files import sha256_of
from .sources import how_to

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


def read_challenge_csv(path: str | os.PathLike) -> FER2013:
    """Parse the challenge CSV (``emotion,pixels,Usage``; plain or gzip) into arrays.

    The pixel field is parsed with vectorised byte arithmetic in blocks of rows, on two
    threads, instead of one ``str.split`` per row; every malformed row is reported by line.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise FER2013NotFound(how_to(f"{path}: cannot read ({err}).")) from err
    with ThreadPoolExecutor(2) as pool:  # hashing and decompressing both release the GIL
        fingerprint = pool.submit(sha256_of, raw)
        text = _decompress(raw, path)
        rows = _scan_rows(text, path)
        images = _parse_pixels(text, rows, path, pool)
        return FER2013(
            images=images,
            labels=rows.labels,
            usage=np.asarray(USAGES)[rows.usage_code],
            fingerprint=fingerprint.result(),
            source=str(path),
            format="csv",
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
    """Find each row's fields with C-level ``bytes.find`` (cheap: one pass of memchr).

    The loop body runs once per row (35,887 of them), so it calls no helper of its own;
    only a bad row's error message is made elsewhere.
    """
    if not text.strip():
        raise FER2013Error(f"{path}: the file is empty; expected a header 'emotion,pixels,Usage' and rows.")
    header_end = text.find(b"\n")
    header_end = len(text) if header_end == -1 else header_end
    field_of = _field_positions(text[:header_end], path)
    emotion_field, pixels_field, usage_field = field_of["emotion"], field_of["pixels"], field_of["Usage"]
    starts, ends, lines, labels, usage = [], [], [], [], []
    find, rfind, n = text.find, text.rfind, len(text)
    pos, line = header_end + 1, 2
    while pos < n:
        nl = find(b"\n", pos)
        nl = n if nl == -1 else nl
        end = nl - 1 if nl > pos and text[nl - 1] == 13 else nl  # CRLF files
        if end > pos:  # blank lines are skipped
            c1, c2 = find(b",", pos, end), rfind(b",", pos, end)
            if c1 == -1 or c1 == c2:
                raise _bad_row(text, ((pos, end),), field_of, path, line)
            spans = ((pos, c1), (c1 + 1, c2), (c2 + 1, end))
            (e0, e1), (u0, u1), (a, b) = spans[emotion_field], spans[usage_field], spans[pixels_field]
            code, use = _EMOTION_CODES.get(text[e0:e1].strip()), _USAGE_CODES.get(text[u0:u1].strip())
            if code is None or use is None:
                raise _bad_row(text, spans, field_of, path, line)
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


def _bad_row(text: bytes, spans: tuple, field_of: dict[str, int], path: Path, line: int) -> FER2013Error:
    """What is wrong with a row :func:`_scan_rows` cannot take: `spans` are its three
    fields' byte ranges, or the whole row's alone where it does not have three fields."""
    if len(spans) != 3:
        (pos, end), = spans
        return FER2013Error(
            f"{path}, line {line}: expected 3 comma-separated fields (emotion,pixels,Usage), "
            f"found {text[pos:end].count(b',') + 1}; fix or delete this row."
        )
    e0, e1 = spans[field_of["emotion"]]
    if text[e0:e1].strip() not in _EMOTION_CODES:
        return FER2013Error(
            f"{path}, line {line}: unknown emotion code {_quote(text[e0:e1])}; "
            f"codes are 0..6 ({', '.join(f'{i} {e}' for i, e in enumerate(EMOTIONS))})."
        )
    u0, u1 = spans[field_of["Usage"]]
    return FER2013Error(
        f"{path}, line {line}: unknown Usage {_quote(text[u0:u1])}; expected one of {', '.join(USAGES)}."
    )


def _parse_pixels(text: bytes, rows: _Rows, path: Path, pool: ThreadPoolExecutor) -> np.ndarray:
    buf = np.frombuffer(text, np.uint8)
    images = np.empty((len(rows.starts), N_PIXELS), np.uint8)
    blocks = [(r, min(r + _ROWS_PER_BLOCK, len(rows.starts))) for r in range(0, len(rows.starts), _ROWS_PER_BLOCK)]
    # list() re-raises the first block's error, if any, in row order.
    list(pool.map(lambda b: _parse_block(buf, rows, b[0], b[1], images, path), blocks))
    return images.reshape(-1, IMAGE_SIZE, IMAGE_SIZE)


#: Blanks before a block's first byte, so that "four places before" exists for every byte.
_PAD = 4


def _parse_block(buf: np.ndarray, rows: _Rows, r0: int, r1: int, out: np.ndarray, path: Path) -> None:
    """Parse the pixel fields of rows r0..r1 into ``out[r0:r1]``.

    The block's bytes are copied into a scratch array with everything between pixel fields
    blanked to spaces, so the block becomes one long run of space-separated numbers.
    """
    scratch, row_start, row_end = _blank_between_fields(buf, rows, r0, r1)
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
    # Views shifted by 1..4 bytes: at byte i (i >= _PAD) they hold the digits 1..4 places
    # before it. Every number ends where a space follows a digit, so one index array of
    # those spaces reads every number's digits from the four views.
    shifted = [digit[_PAD - k : len(digit) - k] for k in (1, 2, 3, 4)]
    ends = np.flatnonzero(space[_PAD:] & (shifted[0] <= 9))
    counts = np.diff(np.searchsorted(ends, np.append(row_start, len(space)) - _PAD))
    wrong = np.flatnonzero(counts != N_PIXELS)
    if wrong.size:
        row = wrong[0]
        raise FER2013Error(
            f"{path}, line {rows.lines[r0 + row]}: {counts[row]} pixel values, expected {N_PIXELS} "
            f"(a {IMAGE_SIZE}x{IMAGE_SIZE} image). Fix or delete this row."
        )
    value = _numbers_ending_at(ends, [np.take(view, ends) for view in shifted], scratch)
    too_big = np.flatnonzero(value > 255)
    if too_big.size:
        row = too_big[0] // N_PIXELS
        raise FER2013Error(
            f"{path}, line {rows.lines[r0 + row]}: pixel {too_big[0] % N_PIXELS + 1} is out of range "
            "0..255. Fix or delete this row."
        )
    out[r0:r1] = value.reshape(r1 - r0, N_PIXELS)


def _blank_between_fields(buf: np.ndarray, rows: _Rows, r0: int, r1: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The bytes of rows r0..r1 from their first pixel field to their last, with `_PAD`
    spaces before and one after, every byte outside a pixel field (commas, the other
    fields, line ends) and every tab turned into a space; and where each row's pixel field
    starts and ends in it."""
    first, last = rows.starts[r0], rows.ends[r1 - 1]
    scratch = np.empty(last - first + _PAD + 1, np.uint8)
    scratch[:_PAD] = scratch[-1] = 32
    scratch[_PAD:-1] = buf[first:last]
    row_start = rows.starts[r0:r1] - first + _PAD  # field starts in scratch coordinates
    row_end = rows.ends[r0:r1] - first + _PAD
    for gap_start, gap_end in zip(row_end[:-1], row_start[1:]):
        scratch[gap_start:gap_end] = 32
    scratch[scratch == 9] = 32  # a tab separates pixel values as well as a space
    return scratch, row_start, row_end


def _numbers_ending_at(ends: np.ndarray, digits: list[np.ndarray], scratch: np.ndarray) -> np.ndarray:
    """The values of the numbers that end at `ends` (offsets past `_PAD`), from their last
    four `digits` (ones, tens, hundreds, thousands; > 9 where the number is shorter).
    Values above 255 stand for out of range."""
    ones, tens, hundreds, thousands = digits
    has_tens = tens <= 9
    has_hundreds = has_tens & (hundreds <= 9)
    value = ones.astype(np.uint16)
    value += has_tens * tens.astype(np.uint16) * 10
    value += has_hundreds * hundreds.astype(np.uint16) * 100
    # Numbers of four or more digits are rare: either leading zeros ("000119") or out of
    # range. Read those few one by one.
    for i in np.flatnonzero(has_hundreds & (thousands <= 9)):
        token = _token_before(scratch, ends[i] + _PAD)
        value[i] = min(int(token), 256)  # 256 marks out of range below
    return value


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

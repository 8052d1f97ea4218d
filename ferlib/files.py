"""Writing files so that a kill at any moment leaves the old file or the new one, never half.

Every file the package writes for later reading (caches, checkpoints, models, results,
run cards) goes through here.
"""

from __future__ import annotations

import hashlib

import json
import os
import shutil
import tempfile
from pathlib import Path


def atomic_write(path: str | os.PathLike, write) -> Path:
    """Call ``write(fileobj)`` on a temporary file next to `path`, then move it into place.

    Readers see either the old file or the complete new one, never a half-written file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_text(path: str | os.PathLike, text: str) -> Path:
    """`text` as UTF-8, atomically."""
    return atomic_write(path, lambda f: f.write(text.encode()))


def write_json(path: str | os.PathLike, value) -> Path:
    """`value` as indented JSON, atomically."""
    return write_text(path, json.dumps(value, indent=2, default=_plain))


class DamagedFile(ValueError):
    """A file the package wrote for later reading (a run card, a log, a model) that cannot be
    read back: cut short, emptied, or replaced by something else. The message names the file."""


def read_json(path: str | os.PathLike, default=None) -> dict:
    """The JSON object in `path`, or `default` when the file does not exist.

    Every JSON file the package keeps holds one object; an empty, cut-short or otherwise
    unreadable file, or one that holds another kind of value, raises :class:`DamagedFile`.
    """
    path = Path(path)
    if not path.exists():
        return default
    fix = "delete it (a run recreates what it needs) or restore it from a copy"
    try:
        text = path.read_text()
        value = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        what = "is empty" if not path.read_bytes().strip() else f"is not valid JSON ({err})"
        raise DamagedFile(f"{path}: {what}; {fix}") from None
    except OSError as err:
        raise DamagedFile(f"{path}: cannot be read ({err.strerror})") from None
    if not isinstance(value, dict):
        raise DamagedFile(f"{path}: holds a JSON {type(value).__name__}, not the object ferlib wrote; {fix}")
    return value


def read_json_lines(path: str | os.PathLike) -> list[dict]:
    """The JSON objects of `path`, one per line (an epoch log); none where the file does not
    exist. A line that is not a JSON object raises :class:`DamagedFile`, naming the file and
    the line."""
    path = Path(path)
    if not path.exists():
        return []
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            row, reason = None, f"is not valid JSON ({err})"
        else:
            reason = f"holds a JSON {type(row).__name__}, not an object"
        if not isinstance(row, dict):
            raise DamagedFile(f"{path}, line {number}: {reason}; delete that line (the training resumes from its "
                              "last checkpoint) or restore the file from a copy")
        rows.append(row)
    return rows


def _plain(value):
    """numpy scalars and arrays, tables, paths: what json cannot write by itself."""
    if hasattr(value, "to_json"):  # a pandas table, as its columns, index and rows
        return json.loads(value.to_json(orient="split"))
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"cannot save {type(value).__name__} as JSON")


def save_model(model, path: str | os.PathLike) -> Path:
    """``model.save`` atomically: a crash mid-save leaves the previous file (or none)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.partial.keras")
    model.save(tmp)
    os.replace(tmp, path)
    return path


def commit_dir(tmp: Path, final: Path) -> Path:
    """Move a fully written folder `tmp` to `final`, replacing an old `final`.

    No portable call swaps two folders in one rename, so it takes two: the old folder is
    renamed aside (``.<name>.old``), `tmp` is renamed to `final`, and only then is the old
    one deleted. A kill at any moment leaves `final` whole (the old folder or the new one)
    or absent (between the renames; the old one waits aside until the next commit deletes
    it), never half deleted under its own name.
    """
    final = Path(final)
    aside = final.with_name(f".{final.name}.old")
    shutil.rmtree(aside, ignore_errors=True)  # left by a commit that was killed between its renames
    if final.exists():
        os.replace(final, aside)
    os.replace(tmp, final)
    shutil.rmtree(aside, ignore_errors=True)
    return final


def sha256_of(data: bytes | str | os.PathLike) -> str:
    """``"sha256:<hex>"`` of some bytes, or of a file's bytes given its path: the one form in which
    ferlib names data, weights and downloads."""
    raw = data if isinstance(data, bytes) else Path(data).read_bytes()
    return "sha256:" + hashlib.sha256(raw).hexdigest()

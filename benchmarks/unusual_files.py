"""`ferlib predict` on the files users really have: each one works or gets one line naming it.

    python benchmarks/unusual_files.py [--set ~/.cache/ferlib/unusual-files] [--out results.md]

The set is made once, outside the project (default ``$FERLIB_CACHE/unusual-files``), from
scikit-image's astronaut photo: colour models and bit depths Pillow reads (CMYK, grey, palette,
16-bit, 32-bit float, 1-bit), every EXIF orientation, formats (WebP, TIFF, BMP, GIF, animated
GIF, ICO), damaged and impostor files (cut short, zero bytes, text, HTML, a video named .jpg,
a folder named .jpg), extreme shapes (1 x 1, 20000 x 20, a pixel bomb) and odd names (spaces,
non-ASCII, a leading dash). Then one `ferlib predict` call reads them all with the shipped model,
and the script prints, per file, what the user saw. It fails (exit 1) when a file got a
traceback, no answer at all, or more than one line of error.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def make_set(folder: Path) -> list[Path]:
    import skimage.data

    folder.mkdir(parents=True, exist_ok=True)
    photo = Image.fromarray(skimage.data.astronaut())
    made = []

    def save(name, image=None, raw: bytes | None = None, **options):
        path = folder / name
        if raw is not None:
            path.write_bytes(raw)
        else:
            image.save(path, **options)
        made.append(path)

    save("plain.jpg", photo, quality=92)
    save("progressive.jpg", photo, quality=85, progressive=True)
    save("cmyk.jpg", photo.convert("CMYK"))
    save("grey.jpg", photo.convert("L"))
    save("palette.png", photo.convert("P", palette=Image.Palette.ADAPTIVE))
    rgba = photo.convert("RGBA")
    rgba.putalpha(Image.new("L", photo.size, 128))
    save("half-transparent.png", rgba)
    save("grey-alpha.png", photo.convert("LA"))
    save("grey-16bit.png", Image.fromarray((np.asarray(photo.convert("L"), np.uint16) * 257)))
    save("float32.tif", Image.fromarray(np.asarray(photo.convert("L"), np.float32) / 255))
    save("one-bit.png", photo.convert("1"))
    save("photo.webp", photo, quality=80)
    save("photo.bmp", photo)
    save("photo.tif", photo, compression="tiff_lzw")
    save("photo.gif", photo.convert("P"))
    frames = [photo.rotate(angle) for angle in (0, 5, 10)]
    frames[0].save(folder / "animated.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    made.append(folder / "animated.gif")
    save("photo.ico", photo.resize((256, 256)))
    for orientation in range(1, 9):  # the photo stored as a phone would, with the EXIF note to undo it
        stored = _stored_for_orientation(photo, orientation)
        exif = Image.Exif()
        exif[0x0112] = orientation
        save(f"exif-orientation-{orientation}.jpg", stored, exif=exif, quality=90)
    plain = (folder / "plain.jpg").read_bytes()
    save("cut-short.jpg", raw=plain[: len(plain) // 3])
    save("header-only.jpg", raw=plain[:200])
    save("empty.jpg", raw=b"")
    save("text.jpg", raw=b"this is not a photo\n")
    save("page.png", raw=b"<html><body>404 Not Found</body></html>")
    save("video-named.jpg", raw=b"\x00\x00\x00\x18ftypmp42" + bytes(500))
    save("bad-crc.png", raw=_png_with_bad_crc(photo))
    save("tiny.png", photo.resize((1, 1)))
    save("strip.png", Image.new("RGB", (20000, 20), (128, 128, 128)))
    save("bomb.png", raw=_huge_png(30000, 30000))
    save("no suffix", photo.convert("RGB"), format="JPEG")
    save("wrong-suffix.png", photo, format="JPEG")
    save("名前 with spaces.jpg", photo, quality=90)
    save("-starts-with-dash.jpg", photo, quality=90)
    save("UPPER.JPEG", photo, quality=90)
    folder_named_jpg = folder / "folder.jpg"
    folder_named_jpg.mkdir(exist_ok=True)
    made.append(folder_named_jpg)
    link = folder / "dangling-link.jpg"
    if not link.is_symlink():
        link.symlink_to(folder / "nowhere.jpg")
    made.append(link)
    return made


def _stored_for_orientation(photo: Image.Image, orientation: int) -> Image.Image:
    """The pixels a camera stores so that applying `orientation` shows `photo` upright."""
    undo = {1: [], 2: [Image.Transpose.FLIP_LEFT_RIGHT], 3: [Image.Transpose.ROTATE_180],
            4: [Image.Transpose.FLIP_TOP_BOTTOM], 5: [Image.Transpose.TRANSPOSE], 6: [Image.Transpose.ROTATE_90],
            7: [Image.Transpose.TRANSVERSE], 8: [Image.Transpose.ROTATE_270]}[orientation]
    for step in undo:
        photo = photo.transpose(step)
    return photo


def _png_with_bad_crc(photo: Image.Image) -> bytes:
    buffer = io.BytesIO()
    photo.save(buffer, format="PNG")
    raw = bytearray(buffer.getvalue())
    raw[29:33] = b"\x00\x00\x00\x00"  # the IHDR chunk's checksum
    return bytes(raw)


def _huge_png(width: int, height: int) -> bytes:
    """A small file that claims `width` x `height` pixels (a decompression bomb)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = zlib.compress(b"".join(b"\x00" + bytes(width) for _ in range(16)))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", rows) + chunk(b"IEND", b""))


def main(argv=None) -> int:
    from ferlib.data.sources import cache_dir

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", type=Path, default=cache_dir() / "unusual-files")
    parser.add_argument("--out", type=Path, default=None, help="also write the table (Markdown) here")
    args = parser.parse_args(argv)
    shutil.rmtree(args.set, ignore_errors=True)
    files = make_set(args.set)
    out = args.set.parent / "unusual-files-predictions"
    command = [sys.executable, "-m", "ferlib", "predict", "--out", str(out), "--", *map(str, files)]
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    said = [line for line in done.stdout.splitlines() if not line.startswith(("  annotated", "table:"))]
    errors = [line.removeprefix("ferlib: error: ") for line in done.stderr.splitlines() if str(args.set) in line]
    failures, rows = [], []
    for path in files:
        mine = [line for line in said if line.startswith(f"{path}:")]
        complaints = [line for line in errors if line.startswith(f"{path}:")]
        if mine and not complaints:
            outcome = "; ".join(line[len(str(path)) + 2:] for line in mine)
        elif len(complaints) == 1 and not mine:
            outcome = "error: " + complaints[0][len(str(path)) + 2:]
        else:
            outcome = f"FAILED ({len(mine)} answers, {len(complaints)} error lines)"
            failures.append(path.name)
        rows.append(f"| `{path.name}` | {outcome.replace(str(args.set), '<set>')} |")  # no machine path in the record
    if "Traceback" in done.stderr:
        failures.append("a traceback on stderr")
    table = "\n".join(["| file | what `ferlib predict` said |", "|---|---|", *rows])
    print(table)
    print(f"\n{len(files)} files, exit code {done.returncode}; "
          + (f"FAILED: {', '.join(failures)}" if failures else "each one answered or named in one line"))
    if failures:
        print(done.stderr[-3000:], file=sys.stderr)
    if args.out:
        import datetime

        import cv2

        heading = (f"`ferlib predict` with the shipped model on {len(files)} unusual files, "
                   f"{datetime.date.today()}, OpenCV {cv2.__version__} (python benchmarks/unusual_files.py)")
        args.out.write_text(f"{heading}\n\n{table}\n")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

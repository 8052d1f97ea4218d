"""Decoded images as 8-bit pixels, whatever depth the file stored (the data folders and the
photos a user classifies both read images through here)."""

from __future__ import annotations

import numpy as np

#: Pillow's modes for one channel of more than 8 bits: PNGs of 16-bit grey levels, 32-bit integers.
WIDE_MODES = ("I;16", "I;16B", "I;16L", "I")


def eight_bit(image):
    """A Pillow image with 8-bit channels: a 16-bit (or 32-bit integer) grey image scaled from
    0..65535 to 0..255, since Pillow's own conversion clips it (to white, for most photos); a
    floating-point grey image (TIFFs from scientific software) scaled from 0..1 when its values
    lie there, since Pillow's conversion would leave it black; any other image as it is."""
    from PIL import Image

    if image.mode not in WIDE_MODES and image.mode != "F":
        return image
    wide = np.nan_to_num(np.asarray(image, dtype=np.float64))
    if image.mode == "F":
        top = 1.0 if wide.max() <= 1.0 else (255.0 if wide.max() <= 255 else 65535.0)
    else:
        top = 65535.0 if wide.max() > 255 else 255.0
    return Image.fromarray(np.round(wide / top * 255).clip(0, 255).astype(np.uint8), mode="L")

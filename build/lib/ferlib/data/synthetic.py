"""SYNTHETIC stand-in for FER2013: procedurally drawn cartoon faces.

Everything in this module is **synthetic**. The images are not photographs
of people and are not taken from FER2013 or from any other data set; they
are drawn from scratch with numpy so that the course pipeline (loading,
splitting, training, evaluating) can run on a machine that has neither the
FER2013 files nor network access. Accuracy figures obtained on these images
say nothing about how a model does on real faces.

Format
------
The output mimics FER2013's layout: 48x48 grayscale ``uint8`` images and
integer labels in FER2013's order::

    0 Angry, 1 Disgust, 2 Fear, 3 Happy, 4 Sad, 5 Surprise, 6 Neutral

How a face is drawn
-------------------
Each face is rendered in a canonical, upright "face frame" (origin at the
face centre, x to the right, y downwards, units of pixels at scale 1):
a face oval with a hair cap, two eyes (sclera, iris, upper lid), two
eyebrows, a nose hint and a mouth. Strokes are anti-aliased: every pixel's
distance to a poly-line is turned into ink with a smooth falloff, and filled
shapes (oval, eyes, open mouth) get a soft edge, so the result looks like a
simple drawing rather than blocks.

An expression is a set of geometric offsets from the neutral face (brow
height, slant and position, eye opening, mouth curve, width and opening,
an asymmetric lip raise, a nose wrinkle), scaled by a random intensity in
[0.15, 1] (skewed towards strong expressions). Weak expressions are close
to Neutral, so the classes overlap and the task is learnable but not
trivial: on raw pixels a regularised logistic regression gets roughly
0.6 accuracy (chance is 1/7), while each image's mean brightness alone is
at chance level.

Every image also gets its own head pose (rotation of up to 15 degrees and
shift of up to 3 pixels, both normally distributed and clipped; scale 0.9
to 1.1), skin, hair and background brightness, a linear lighting gradient,
small jitter of every feature, a light blur and Gaussian pixel noise.
Output is fully determined by ``(n_per_class, seed)``.
"""

from __future__ import annotations

import numbers

import hashlib

import numpy as np
from scipy import ndimage

from ..fer2013 import FER2013, IMAGE_SIZE as _SIZE, NUM_CLASSES as _N_CLASSES, USAGES

__all__ = ["make_synthetic_faces", "load_synthetic"]

# Pixel grid, shape (2, 48*48): x (column) and y (row) of every pixel centre.
_YY, _XX = np.mgrid[0:_SIZE, 0:_SIZE].astype(np.float64)
_GRID = np.stack([_XX.ravel(), _YY.ravel()])

# Neutral geometry, in face-frame units (pixels at scale 1, y pointing down).
_NEUTRAL = {
    "brow_inner_y": -9.0,  # height of the brow's inner end (negative = up)
    "brow_outer_y": -9.0,  # height of the brow's outer end
    "brow_inner_x": 3.2,  # |x| of the brow's inner end
    "brow_arch": 0.8,  # upward bulge of the brow's middle
    "eye_open": 1.0,  # multiplier on the eye's vertical half-axis
    "mouth_y": 11.0,  # height of the mouth line's centre
    "mouth_w": 6.0,  # half-width of the mouth
    "mouth_curve": 0.0,  # corner offset vs. centre (negative = corners up)
    "mouth_open": 0.0,  # half-height of the mouth opening at its centre
    "mouth_round": 0.0,  # 0: lens-shaped opening, 1: round "O"
    "sneer": 0.0,  # one-sided raise of the upper lip / mouth corner
    "wrinkle": 0.0,  # strength of nose-wrinkle strokes
}

# Per-class offsets from neutral at full intensity.
_DELTAS = {
    0: {  # Angry: brows lowered and slanting down to the centre, tight mouth
        "brow_inner_y": 3.2, "brow_outer_y": -0.6, "brow_inner_x": -0.6,
        "brow_arch": -0.8, "eye_open": -0.25, "mouth_w": -1.8,
        "mouth_curve": 0.3, "mouth_y": 0.3,
    },
    1: {  # Disgust: curled, raised upper lip on one side, lowered brows, wrinkle
        "brow_inner_y": 2.2, "brow_outer_y": 1.0, "brow_inner_x": -0.4,
        "eye_open": -0.35, "mouth_curve": 1.2, "mouth_y": -1.0,
        "sneer": 4.0, "wrinkle": 1.0, "mouth_open": 0.3,
    },
    2: {  # Fear: brows raised and drawn together, eyes wide, mouth stretched
        "brow_inner_y": -3.2, "brow_outer_y": -0.8, "brow_inner_x": -1.0,
        "brow_arch": -0.6, "eye_open": 0.6, "mouth_w": 2.8,
        "mouth_open": 1.4, "mouth_curve": 0.8, "mouth_y": 0.8,
    },
    3: {  # Happy: smile, slightly narrowed eyes
        "brow_inner_y": -0.3, "brow_outer_y": -0.3, "eye_open": -0.35,
        "mouth_w": 2.2, "mouth_curve": -3.8, "mouth_open": 0.9, "mouth_y": -0.3,
    },
    4: {  # Sad: downturned mouth, inner brow ends raised
        "brow_inner_y": -2.8, "brow_outer_y": 1.6, "brow_arch": -0.5,
        "eye_open": -0.25, "mouth_w": -0.6, "mouth_curve": 3.2, "mouth_y": 0.6,
    },
    5: {  # Surprise: brows high and arched, eyes wide, open round mouth
        "brow_inner_y": -2.6, "brow_outer_y": -2.6, "brow_arch": 0.7,
        "eye_open": 0.7, "mouth_w": -2.4, "mouth_open": 3.8,
        "mouth_round": 1.0, "mouth_y": 1.4,
    },
    6: {},  # Neutral
}

# Standard deviation of the per-feature jitter (same units as _NEUTRAL).
_JITTER = {
    "brow_inner_y": 0.5, "brow_outer_y": 0.5, "brow_inner_x": 0.3,
    "brow_arch": 0.25, "eye_open": 0.08, "mouth_y": 0.6, "mouth_w": 0.5,
    "mouth_curve": 0.4, "mouth_open": 0.1, "mouth_round": 0.0, "sneer": 0.15,
    "wrinkle": 0.0,
}


def _smoothstep(edge0, edge1, x):
    """Smooth 0->1 ramp between edge0 and edge1 (used for anti-aliasing)."""
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _polyline_ink(px, py, xs, ys, half_width, soft=0.7):
    """Ink in [0, 1] of a soft stroke along the poly-line (xs, ys).

    Only pixels inside the stroke's bounding box are evaluated (speed).
    """
    reach = half_width + soft + 0.5
    box = (
        (px > xs.min() - reach) & (px < xs.max() + reach)
        & (py > ys.min() - reach) & (py < ys.max() + reach)
    )
    out = np.zeros_like(px)
    if not box.any():
        return out
    qx, qy = px[box], py[box]
    ax, ay = xs[:-1], ys[:-1]
    dx, dy = xs[1:] - ax, ys[1:] - ay
    len2 = dx * dx + dy * dy + 1e-12
    rx = qx[:, None] - ax[None, :]
    ry = qy[:, None] - ay[None, :]
    t = np.clip((rx * dx + ry * dy) / len2, 0.0, 1.0)
    ex = rx - t * dx
    ey = ry - t * dy
    dist = np.sqrt((ex * ex + ey * ey).min(axis=1))
    out[box] = 1.0 - _smoothstep(half_width - soft, half_width + soft, dist)
    return out


def _ellipse_field(px, py, cx, cy, ax, ay):
    """Approximate signed distance (pixels, negative inside) to an ellipse."""
    u = (px - cx) / ax
    v = (py - cy) / ay
    r = np.sqrt(u * u + v * v) + 1e-9
    grad = np.sqrt((u / ax) ** 2 + (v / ay) ** 2) / r + 1e-9
    return (r - 1.0) / grad


def _soft_fill(field, soft=0.7):
    """Coverage in [0, 1] of the region field < 0, with a soft edge."""
    return 1.0 - _smoothstep(-soft, soft, field)


def _expression_params(label, intensity, rng):
    """Neutral geometry + intensity * class offsets + random jitter."""
    delta = _DELTAS[label]
    p = {}
    for key, base in _NEUTRAL.items():
        p[key] = base + intensity * delta.get(key, 0.0) + _JITTER[key] * rng.standard_normal()
    p["eye_open"] = max(p["eye_open"], 0.35)
    p["mouth_w"] = max(p["mouth_w"], 2.5)
    p["mouth_open"] = max(p["mouth_open"], 0.0)
    p["sneer"] = max(p["sneer"], 0.0)
    return p


def _mouth_lips(u, p, sneer_side):
    """Heights of the upper and lower lip at normalised mouth position u.

    u runs from -1 (left corner) to +1 (right corner). The centre line is
    mouth_y + mouth_curve * u^2; the opening is lens-shaped (mouth_round=0)
    or round (mouth_round=1); "sneer" lifts the upper lip on one side.
    """
    inside = np.clip(1.0 - u * u, 0.0, 1.0)
    sneer = p["sneer"] * np.clip(sneer_side * u, 0.0, 1.0)
    centre = p["mouth_y"] + p["mouth_curve"] * u * u - 0.6 * sneer
    half_open = p["mouth_open"] * (inside + p["mouth_round"] * (np.sqrt(inside) - inside))
    upper = centre - half_open - 0.8 * sneer * np.sqrt(inside)
    lower = centre + half_open * (1.0 + 0.3 * p["mouth_round"])
    return upper, lower


def _render_face(label, rng):
    """Draw one synthetic face; returns float image in 0..255, shape (48, 48).

    The parts are drawn in a fixed order, and each draws its random numbers in a fixed
    order, so a seed always gives the same face.
    """
    intensity = 1.0 if label == 6 else 0.15 + 0.85 * rng.beta(1.6, 1.0)
    p = _expression_params(label, intensity, rng)
    px, py, aa = _head_pose(rng)
    background, skin, hair, ink_strength, light_dir, light_amp = (
        rng.uniform(0.10, 0.85), rng.uniform(0.45, 0.92), rng.uniform(0.05, 0.40),
        rng.uniform(0.55, 0.85), rng.uniform(0.0, 2.0 * np.pi), rng.uniform(0.0, 0.35))
    img, face, hair_cov = _draw_head(px, py, aa, background, skin, hair, rng)
    ink = np.zeros_like(px)
    t = np.linspace(-1.0, 1.0, 13)
    img, ink, eye_y = _draw_eyes(img, ink, px, py, aa, p, hair_cov, t, rng)
    ink = _draw_brows(ink, px, py, aa, p, eye_y, t, rng)
    ink, nose_x = _draw_nose(ink, px, py, aa, rng)
    sneer_side = 1.0 if rng.uniform() < 0.5 else -1.0
    ink = _draw_wrinkles(ink, px, py, aa, p, nose_x, sneer_side)
    ink = _draw_mouth(ink, px, py, aa, p, nose_x, sneer_side, rng)
    img = img * (1.0 - ink_strength * ink * face)
    # A lighting gradient across the whole picture, then camera blur and noise.
    img = img * (1.0 + light_amp * (np.cos(light_dir) * px + np.sin(light_dir) * py) / 24.0)
    img = img.reshape(_SIZE, _SIZE) * 255.0
    blur = rng.uniform(0.0, 0.7)
    if blur > 0.3:
        img = ndimage.gaussian_filter(img, blur, mode="nearest")
    return img + rng.normal(0.0, rng.uniform(2.0, 10.0), size=img.shape)


def _head_pose(rng):
    """Pixel centres inverse-mapped into the canonical face frame (tilt, scale, offset),
    and the anti-aliasing half-width in that frame (about 0.6 output pixels)."""
    angle = np.deg2rad(np.clip(rng.normal(0.0, 6.0), -15.0, 15.0))
    scale = rng.uniform(0.9, 1.1)
    cx = 23.5 + np.clip(rng.normal(0.0, 1.3), -3.0, 3.0)
    cy = 24.5 + np.clip(rng.normal(0.0, 1.3), -3.0, 3.0)
    c, s = np.cos(angle), np.sin(angle)
    gx, gy = _GRID[0] - cx, _GRID[1] - cy
    return (c * gx + s * gy) / scale, (-s * gx + c * gy) / scale, 0.6 / scale


def _draw_head(px, py, aa, background, skin, hair, rng):
    """Background, face oval and hair cap; returns the image and the face and hair masks."""
    face_ax = 16.0 + rng.normal(0.0, 0.6)
    face_ay = 20.0 + rng.normal(0.0, 0.6)
    face = _soft_fill(_ellipse_field(px, py, 0.0, 0.5, face_ax, face_ay), aa)
    hair_line = -16.0 + rng.normal(0.0, 0.8)
    hair_cov = _soft_fill(_ellipse_field(px, py, 0.0, -1.0, face_ax + 1.5, face_ay + 1.0), aa)
    hair_cov = hair_cov * (1.0 - _smoothstep(hair_line - 1.0, hair_line + 1.0, py - 0.02 * px * px))
    hair_cov *= rng.uniform(0.0, 1.0) < 0.85  # some faces are drawn bald
    img = background * np.ones_like(px)
    img = img * (1.0 - face) + skin * face
    return img * (1.0 - hair_cov) + hair * hair_cov, face, hair_cov


def _draw_eyes(img, ink, px, py, aa, p, hair_cov, t, rng):
    """Lighter sclera, dark iris, dark upper lid; returns the image, the ink and the eye height."""
    eye_x = 7.0 + rng.normal(0.0, 0.3)
    eye_y = -3.0 + rng.normal(0.0, 0.4)
    eye_ax = 3.6 + rng.normal(0.0, 0.2)
    eye_ay = 1.9 * p["eye_open"]
    gaze = rng.normal(0.0, 0.4)
    sclera_gain = rng.uniform(0.05, 0.2)
    for side in (-1.0, 1.0):
        ex = side * eye_x
        sclera = _soft_fill(_ellipse_field(px, py, ex, eye_y, eye_ax, eye_ay), aa * 0.8)
        img = img + sclera_gain * sclera * (1.0 - hair_cov)
        iris_r = min(1.7, 0.6 + eye_ay)
        iris = _soft_fill(np.hypot(px - ex - gaze, py - eye_y) - iris_r, aa) * sclera
        ink = np.maximum(ink, 0.95 * iris)
        lid_x = ex + eye_ax * 1.05 * t
        lid_y = eye_y - eye_ay * np.sqrt(np.clip(1.0 - t * t, 0.0, 1.0))
        ink = np.maximum(ink, 0.8 * _polyline_ink(px, py, lid_x, lid_y, 0.45, aa))
    return img, ink, eye_y


def _draw_brows(ink, px, py, aa, p, eye_y, t, rng):
    """Eyebrows: a quadratic arc from the inner to the outer end, relative to the eyes."""
    brow_len = 8.5 + rng.normal(0.0, 0.4)
    brow_w = rng.uniform(0.6, 0.95)
    for side in (-1.0, 1.0):
        xi = side * p["brow_inner_x"]
        xo = side * (p["brow_inner_x"] + brow_len)
        bx = xi + (xo - xi) * (t + 1.0) / 2.0
        u = (t + 1.0) / 2.0
        by = p["brow_inner_y"] + (p["brow_outer_y"] - p["brow_inner_y"]) * u
        by = by - p["brow_arch"] * 4.0 * u * (1.0 - u)
        by = by + (eye_y + 3.0)  # brows move with the eyes
        ink = np.maximum(ink, 0.9 * _polyline_ink(px, py, bx, by, brow_w, aa))
    return ink


def _draw_nose(ink, px, py, aa, rng):
    """A short bridge shadow and two nostrils; returns the ink and the nose's x."""
    nose_x = rng.normal(0.0, 0.3)
    nx = np.array([nose_x - 0.4, nose_x + 0.3, nose_x + 1.3, nose_x])
    ny = np.array([0.0, 3.0, 5.4, 6.0])
    ink = np.maximum(ink, 0.35 * _polyline_ink(px, py, nx, ny, 0.4, aa))
    for side in (-1.0, 1.0):
        nost = _soft_fill(np.hypot(px - (nose_x + side * 1.8), (py - 6.0) * 1.6) - 0.8, aa)
        ink = np.maximum(ink, 0.55 * nost)
    return ink, nose_x


def _draw_wrinkles(ink, px, py, aa, p, nose_x, sneer_side):
    """Disgust's nose wrinkle: creases across the bridge and a deep nasolabial fold on the
    side where the upper lip is raised."""
    wrinkle = min(p["wrinkle"], 1.0)
    if wrinkle <= 0.05:
        return ink
    for k in range(2):
        wx = np.array([-1.6, 0.0, 1.6]) + nose_x
        wy = np.array([0.3, -0.2, 0.3]) + 1.5 * k - 0.5
        ink = np.maximum(ink, 0.7 * wrinkle * _polyline_ink(px, py, wx, wy, 0.35, aa))
    fx = nose_x + sneer_side * np.array([2.6, 3.8, 4.8, 5.6])
    fy = np.array([5.0, 6.6, 8.4, 10.2])
    fy = fy + (p["mouth_y"] - 11.0) * np.array([0.0, 0.3, 0.6, 0.9])
    return np.maximum(ink, 0.75 * wrinkle * _polyline_ink(px, py, fx, fy, 0.4, aa))


def _draw_mouth(ink, px, py, aa, p, nose_x, sneer_side, rng):
    """The mouth: centre line y = y0 + curve * u^2 (+ sneer), the opening around it, teeth
    along the upper lip of wide openings, and both lips."""
    mw = p["mouth_w"]
    u = (px - nose_x) / mw
    upper, lower = _mouth_lips(u, p, sneer_side)
    gap = np.minimum(np.minimum(py - upper, lower - py), (1.0 - np.abs(u)) * mw)
    mouth_fill = _smoothstep(-aa, aa, gap) * (np.abs(u) < 1.2)
    teeth_edge = upper + 0.5 * (lower - upper)
    teeth = _smoothstep(-aa, aa, teeth_edge - py) * (1.0 - p["mouth_round"])
    teeth *= np.clip(lower - upper - 1.0, 0.0, 1.0)
    ink = np.maximum(ink, mouth_fill * (0.95 - 0.6 * teeth))
    lip_t = np.linspace(-1.0, 1.0, 17)
    lip_x = nose_x + mw * lip_t
    lip_up, lip_lo = _mouth_lips(lip_t, p, sneer_side)
    lip_w = rng.uniform(0.45, 0.7)
    ink = np.maximum(ink, 0.85 * _polyline_ink(px, py, lip_x, lip_up, lip_w, aa))
    return np.maximum(ink, 0.85 * _polyline_ink(px, py, lip_x, lip_lo, lip_w, aa))


def make_synthetic_faces(n_per_class: int = 100, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Return (images, labels) of a SYNTHETIC, FER2013-like data set.

    The faces are procedurally drawn cartoons, not photographs and not taken
    from FER2013; use them only to exercise the pipeline when the real data
    is unavailable.

    images: uint8 array of shape (7*n_per_class, 48, 48), grayscale 0..255.
    labels: int64 array of shape (7*n_per_class,) with codes 0..6 in
    FER2013's order: 0 Angry, 1 Disgust, 2 Fear, 3 Happy, 4 Sad,
    5 Surprise, 6 Neutral.

    Label ``k`` is named ````ferlib.EMOTIONS[k]````. There are exactly
    ``n_per_class`` images per class, and the rows are
    shuffled deterministically by ``seed``: the same ``(n_per_class, seed)``
    always gives byte-identical arrays, a different seed gives different
    images.

    Raises ValueError if ``n_per_class`` is not a positive integer or
    ``seed`` is not a non-negative integer.
    """
    if isinstance(n_per_class, bool) or not isinstance(n_per_class, numbers.Integral):
        raise ValueError(f"n_per_class must be a positive int, got {n_per_class!r}")
    if n_per_class <= 0:
        raise ValueError(f"n_per_class must be a positive int, got {n_per_class!r}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    n_per_class = int(n_per_class)

    rng = np.random.default_rng(int(seed))
    labels = np.repeat(np.arange(_N_CLASSES, dtype=np.int64), n_per_class)
    labels = labels[rng.permutation(labels.size)]
    images = np.empty((labels.size, _SIZE, _SIZE), dtype=np.uint8)
    for i, label in enumerate(labels):
        img = _render_face(int(label), rng)
        images[i] = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    return images, labels


def load_synthetic(n_per_class: int = 300, seed: int = 0) -> FER2013:
    """The synthetic FER-like faces (see :mod:`ferlib.synthetic`) as a labelled stand-in.

    Rows get usages in FER2013's proportions (80% Training, 10% each test part). The
    result says it is synthetic in ``kind``, ``name``, ``source`` and ``fingerprint``.
    """
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
        format="synthetic",
    )

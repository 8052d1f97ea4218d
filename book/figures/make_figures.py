"""Draw the teaching chapters' diagrams into book/figures/ (PNG files the chapters include).

    python book/figures/make_figures.py

Each diagram comes from ferlib.plots.diagrams with the report's settings; the face is
scikit-image's astronaut photo (public domain), found and cropped as ferlib crops a photo, so
no FER2013 image is committed.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

HERE = Path(__file__).resolve().parent


def main() -> None:
    import numpy as np
    from skimage import data

    from ferlib.models import ViTConfig, build_model
    from ferlib.plots import plot_architecture
    from ferlib.plots.diagrams import plot_patch_grid, plot_plateau_schedule, plot_transformer_block, plot_two_phases
    from ferlib.detector import detect_faces
    from ferlib.predict import crop_face

    vit = ViTConfig()
    photo = data.astronaut()
    face = crop_face(photo, detect_faces(photo)[0])
    figures = {
        "cnn.png": plot_architecture(build_model("cnn")),
        "patches.png": plot_patch_grid(face, vit.patch_size),
        "transformer_block.png": plot_transformer_block(vit.projection_dim, vit.num_heads, vit.mlp_ratio,
                                                        (48 // vit.patch_size) ** 2),
        "two_phases.png": plot_two_phases(),
    }
    # An illustrative validation loss (not a run's): falling, then flat with noise, as in phase 1.
    epochs = np.arange(60)
    loss = 1.1 + 0.9 * np.exp(-epochs / 6) + 0.004 * epochs + 0.03 * np.random.default_rng(0).standard_normal(60)
    figures["plateau.png"] = plot_plateau_schedule(
        loss, title="ReduceLROnPlateau (× 0.9 after 5 epochs without a new best) on an illustrative loss curve")
    for name, fig in figures.items():
        fig.savefig(HERE / name, dpi=110, bbox_inches="tight")
        print(HERE / name)


if __name__ == "__main__":
    main()

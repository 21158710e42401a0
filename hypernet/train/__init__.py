"""Meta-training of D2L hypernetworks, and the recipe of the bundled ``tiny-needle`` demo pair.

``python -m hypernet.train --preset tiny-needle --out DIR`` reruns the whole recipe;
``run_preset(name, out_dir)`` is the same from Python (``doclora train --preset`` calls it).
"""

from .config import TrainConfig, lr_at
from .loop import train
from .presets import PRESETS, run_preset

__all__ = ["PRESETS", "TrainConfig", "lr_at", "run_preset", "train"]

"""Meta-training of D2L hypernetworks, and the recipes of the bundled pairs (``tiny-needle``,
``smollm2-135m``).

``python -m hypernet.train --preset tiny-needle --out DIR`` reruns the whole recipe;
``run_preset(name, out_dir)`` is the same from Python (``doclora train --preset`` calls it).
"""

from .config import TrainConfig, lr_at
from .loop import train
from .presets import DOCQA_PRESETS, PRESETS, preset_names, run_preset

__all__ = ["DOCQA_PRESETS", "PRESETS", "TrainConfig", "lr_at", "preset_names", "run_preset", "train"]

"""Model pairs (base model + chat GGUF + D2L hypernetwork): registry, install, active choice.

    from app.library import Library
    from app.models import active_pair, list_pairs, get_pair, pull, use_pair
    pair = active_pair(library)   # explicit name > $DOCLORA_MODEL > active in library > tiny-needle
    pair.base_dir, pair.gguf, pair.hypernet
"""

from app.models.catalog import (
    active_pair, demo_pair, get_pair, list_pairs, remove_pair, stronger_pair, use_pair)
from app.models.install import add_pair, pull
from app.models.offline import enforce_offline
from app.models.pair import Pair, check_pair

__all__ = [
    "Pair", "active_pair", "add_pair", "check_pair", "demo_pair", "enforce_offline", "get_pair",
    "list_pairs", "pull", "remove_pair", "stronger_pair", "use_pair",
]

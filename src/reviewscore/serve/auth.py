"""Bearer-key authentication: the key is read once from a file (never a command-line argument,
which `ps` shows), compared in constant time, and never logged."""

from __future__ import annotations

import hmac
import stat
from pathlib import Path

from reviewscore.errors import ReviewscoreError


def load_api_key(path: Path) -> bytes:
    """The key in `path` (surrounding whitespace stripped); an unreadable or empty file is a
    startup error, not a server that silently accepts everyone, and so is a file of several
    lines, whose key no header could ever match (every request would get 401)."""
    try:
        key = path.read_bytes().strip()
    except OSError as exc:
        raise ReviewscoreError(
            f"--api-key-file {path}: cannot read it ({exc.strerror or exc})"
        ) from None
    if not key:
        raise ReviewscoreError(f"--api-key-file {path}: the file is empty; put the key in it")
    lines = len(key.splitlines())
    if lines > 1:
        raise ReviewscoreError(
            f"--api-key-file {path}: the file has {lines} lines; put the key alone on one line"
        )
    return key


def key_file_warning(path: Path) -> str | None:
    """A warning when users other than the file's owner may read the key file."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o044:
        return (
            f"--api-key-file {path} is readable by other users (mode {mode:04o}); chmod 600 {path}"
        )
    return None


def authorized(header: bytes | None, key: bytes) -> bool:
    """Whether an Authorization header is `Bearer <key>`; compare_digest takes the same time
    wherever the keys differ, so the key cannot be guessed byte by byte from timings."""
    if header is None:
        return False
    scheme, _, given = header.partition(b" ")
    return scheme.lower() == b"bearer" and hmac.compare_digest(given.strip(), key)

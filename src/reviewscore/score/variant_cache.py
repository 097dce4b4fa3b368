"""The cache of `--variant auto`'s measurements: one small JSON file per measurement key,
under the user's cache folder (user_cache.py), so a second start on the same machine costs
no model run.

The key is everything the verdicts and timings depend on: the deploy manifest (its sha256,
which pins every model file's hash), this CPU (model, vendor, ISA features and class), the
onnxruntime version, the provider, the thread count, the exact int8 mode and the timing's
token budget. A change of any of them is another file, so it is measured again. Files are
written atomically (a reader sees the old file or the new one); one that cannot be parsed,
or whose key is not the one asked for, is `CacheUnreadable`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from reviewscore.cpu_features import local_cpu
from reviewscore.deploy_folder import MANIFEST, sha256_file
from reviewscore.errors import ReviewscoreError
from reviewscore.files import write_json
from reviewscore.score.auto_variant import Candidate
from reviewscore.score.batching import DEFAULT_BATCH_TOKENS
from reviewscore.score.session import default_threads, exact_int8_wanted, resolve_providers
from reviewscore.user_cache import cache_root

FORMAT = "reviewscore-variant-timings/1"
FOLDER = "variant-timings"


class CacheUnreadable(ReviewscoreError):
    """A cache file that is not a measurement for the key asked for."""


def measurement_key(deploy_dir: Path, *, provider: str, threads: int | None) -> dict[str, Any]:
    """What a measurement of `deploy_dir` on this machine depends on (see the module doc)."""
    import onnxruntime

    available = onnxruntime.get_available_providers()
    return {
        "manifest_sha256": sha256_file(Path(deploy_dir) / MANIFEST),
        "cpu": local_cpu(),
        "onnxruntime": onnxruntime.__version__,
        "provider": resolve_providers(provider, available)[0],
        "threads": threads or default_threads(),
        "exact_int8": exact_int8_wanted(),
        "batch_tokens": DEFAULT_BATCH_TOKENS,
    }


def cache_file(key: dict[str, Any]) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()
    return cache_root() / FOLDER / f"{digest[:32]}.json"


def read_cached(path: Path, key: dict[str, Any]) -> list[Candidate] | None:
    """The cached candidates for `key`, None when there are none (a miss)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):  # not cached yet; or no folder to cache in
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise CacheUnreadable(str(exc)) from None
    try:
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} file")
        if data.get("key") != key:
            raise ValueError("it holds a measurement for another key")
        variants = data.get("variants")
        if not isinstance(variants, list) or not variants:
            raise ValueError("it lists no variants")
        return [Candidate.from_dict(entry) for entry in variants]
    except ValueError as exc:  # json.JSONDecodeError is a ValueError
        raise CacheUnreadable(str(exc)) from None


def write_cached(path: Path, key: dict[str, Any], candidates: list[Candidate]) -> None:
    """Atomically; OSError when the folder or file cannot be written."""
    document = {"format": FORMAT, "key": key, "variants": [c.to_dict() for c in candidates]}
    write_json(path, document)

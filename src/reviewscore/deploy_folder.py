"""The deploy folder that `export` writes and `score` reads.

    DEPLOY/manifest.json   labels, max length, tokenizer settings, model inputs, variants
                           (file, precision, batch invariance, parity), versions, and the
                           sha256 of every file
    DEPLOY/tokenizer.json  a fast-tokenizer file the `tokenizers` library loads alone
    DEPLOY/model*.onnx     one file per variant

Kept free of torch and transformers: the scorer imports it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from reviewscore.errors import FolderError
from reviewscore.files import read_json, write_json

MANIFEST = "manifest.json"
FORMAT = "reviewscore-deploy/1"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(deploy_dir: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """Hash every file the manifest names under `files` and write it last, atomically: a
    folder with a manifest is a complete folder."""
    manifest = dict(manifest)
    manifest["format"] = FORMAT
    manifest["files"] = {name: sha256_file(deploy_dir / name) for name in manifest["files"]}
    write_json(deploy_dir / MANIFEST, manifest)
    return manifest


def is_deploy_folder(path: Path) -> bool:
    """Whether `path` is an earlier export's folder (its manifest says so), which a new
    export may replace; no other non-empty folder may be."""
    try:
        return read_json(Path(path) / MANIFEST).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def load_manifest(deploy_dir: Path, *, verify: bool = True) -> dict[str, Any]:
    """Read the manifest; with `verify`, refuse a folder whose files are missing or changed."""
    path = Path(deploy_dir) / MANIFEST
    if not path.is_file():
        raise FolderError(
            f"{deploy_dir} is not a deploy folder: {MANIFEST} is missing "
            "(create one with `reviewscore export`)"
        )
    manifest = read_json(path)
    if manifest.get("format") != FORMAT:
        raise FolderError(f"{path}: unknown format {manifest.get('format')!r}")
    if verify:
        for name, expected in manifest["files"].items():
            file = Path(deploy_dir) / name
            if not file.is_file():
                raise FolderError(f"{deploy_dir}: {name} is listed in the manifest but missing")
            actual = sha256_file(file)
            if actual != expected:
                raise FolderError(
                    f"{deploy_dir}: {name} does not match the manifest (sha256 {actual[:12]}... "
                    f"expected {expected[:12]}...): the file was changed after export; "
                    "re-export rather than edit a deploy folder"
                )
    return manifest

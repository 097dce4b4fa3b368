"""The deploy folder that `export` writes and `score` reads.

    DEPLOY/manifest.json   labels, max length, tokenizer settings, model inputs, variants
                           (file, precision, batch invariance, parity), versions, and the
                           sha256 of every file
    DEPLOY/tokenizer.json  a fast-tokenizer file the `tokenizers` library loads alone
    DEPLOY/model*.onnx     one file per variant
    DEPLOY/parity_reference.npz  the parity rows and PyTorch's logits for them, which
                           `reviewscore verify` re-checks on the machine it runs on

Kept free of torch and transformers: the scorer imports it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
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
    except (OSError, ValueError, AttributeError, FolderError):  # damaged: not replaceable
        return False


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_named_list(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(item, dict) and isinstance(item.get("name"), str) for item in value)
    )


# What the scorer reads, and what each value must be: a hand-edited or damaged manifest is
# refused here with the key it got wrong, not deep inside the scorer with a traceback.
FIELDS: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "files": (
        "a mapping of file name to sha256",
        lambda v: isinstance(v, dict) and all(isinstance(h, str) for h in v.values()),
    ),
    "labels": (
        "a non-empty list of label names",
        lambda v: isinstance(v, list) and bool(v) and all(isinstance(x, str) for x in v),
    ),
    "max_length": ("a positive integer", lambda v: _is_int(v) and v > 0),
    "tokenizer": ("a file name", lambda v: isinstance(v, str)),
    "inputs": ("a non-empty list of named inputs", _is_named_list),
    "outputs": ("a non-empty list of named outputs", _is_named_list),
    "pad_token_id": ("an integer", _is_int),
    "pad_token_type_id": ("an integer", _is_int),
    "padding_side": ("'left' or 'right'", lambda v: v in ("left", "right")),
    "default_variant": ("a variant name", lambda v: isinstance(v, str)),
    "parity_reference": ("a file name", lambda v: isinstance(v, str)),
    "variants": (
        "a mapping of variant name to an entry with its file",
        lambda v: (
            isinstance(v, dict)
            and bool(v)
            and all(isinstance(e, dict) and isinstance(e.get("file"), str) for e in v.values())
        ),
    ),
}
# Folders exported before `reviewscore verify` (or with --no-check) have no reference.
OPTIONAL_FIELDS = {"pad_token_type_id", "padding_side", "parity_reference"}


def _check_fields(path: Path, manifest: dict[str, Any]) -> None:
    for key, (expected, valid) in FIELDS.items():
        if key not in manifest:
            if key in OPTIONAL_FIELDS:
                continue
            raise FolderError(f"{path}: no {key!r}; re-export the folder with `reviewscore export`")
        if not valid(manifest[key]):
            shown = repr(manifest[key])
            shown = shown if len(shown) <= 40 else shown[:37] + "..."
            raise FolderError(
                f"{path}: {key!r} must be {expected}, not {shown}; re-export the folder "
                "rather than edit its manifest"
            )


def _check_paths(deploy_dir: Path, manifest: dict[str, Any]) -> None:
    """Every file the scorer opens is inside the folder and listed under `files` (so
    hash-checked): an absolute or `..` name, or an unlisted one, would load a file that no
    export wrote or checked."""
    opened = {"tokenizer": manifest["tokenizer"]}
    opened.update({f"variant {v!r}": e["file"] for v, e in manifest["variants"].items()})
    if "parity_reference" in manifest:
        opened["parity reference"] = manifest["parity_reference"]
    root = deploy_dir.resolve()
    for name in [*manifest["files"], *opened.values()]:
        if Path(name).is_absolute() or not (root / name).resolve().is_relative_to(root):
            raise FolderError(
                f"{deploy_dir}: {name!r} is outside the deploy folder; a deploy folder's files "
                "must be inside it (re-export rather than edit the manifest)"
            )
    for role, name in opened.items():
        if name not in manifest["files"]:
            raise FolderError(
                f"{deploy_dir}: the {role} file {name!r} is not listed in the manifest's "
                "files, so its hash cannot be checked; re-export the folder"
            )


def is_finished(manifest: dict[str, Any]) -> bool:
    """An export writes its manifest several times while it builds in a staging folder; only
    the last write holds the shape checks and the parity figures (or `parity_checked: false`
    for `export --no-check`). A folder without them is an export that was killed."""
    parity_done = "parity" in manifest or manifest.get("parity_checked") is False
    return "shape_checks" in manifest and parity_done


def load_manifest(
    deploy_dir: Path, *, verify: bool = True, require_finished: bool = True
) -> dict[str, Any]:
    """Read and check the manifest: its fields, that every file the scorer opens is listed
    and inside the folder, that the export finished (unless `require_finished` is off, as
    for the export's own checks on its staging folder) and, with `verify`, that no file is
    missing or changed."""
    deploy_dir = Path(deploy_dir)
    path = deploy_dir / MANIFEST
    if not path.is_file():
        raise FolderError(
            f"{deploy_dir} is not a deploy folder: {MANIFEST} is missing "
            "(create one with `reviewscore export`)"
        )
    manifest = read_json(path)
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else manifest
        raise FolderError(f"{path}: unknown format {found!r}")
    _check_fields(path, manifest)
    _check_paths(deploy_dir, manifest)
    if require_finished and not is_finished(manifest):
        raise FolderError(
            f"{deploy_dir}: its export did not finish (the manifest has no shape or parity "
            "checks: a killed export's staging folder?); export again with `reviewscore export`"
        )
    if verify:
        for name, expected in manifest["files"].items():
            file = deploy_dir / name
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

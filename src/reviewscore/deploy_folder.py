"""The deploy folder that `export` writes and `score` reads.

    DEPLOY/manifest.json   labels, max length, tokenizer settings, model inputs, variants
                           (file, precision, batch invariance, parity), versions, and the
                           sha256 of every file
    DEPLOY/tokenizer.json  a fast-tokenizer file the `tokenizers` library loads alone
    DEPLOY/model*.onnx     one file per variant
    DEPLOY/parity_reference.npz  the parity rows and PyTorch's logits for them, which
                           `reviewscore verify` re-checks on the machine it runs on

The manifest is defined once, here (`Manifest`, `Variant`, `ParityFigures`): the export
builds these, and every reader (score, verify, serve, the Ray engine) gets them from
`load_manifest`, checked field by field, so a wrong type is one clear error at load.

Kept free of torch and transformers: the scorer imports it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, ClassVar

from reviewscore.errors import FolderError
from reviewscore.files import read_json, write_json
from reviewscore.json_records import (
    Record,
    as_tuple,
    dump_record,
    dump_record_map,
    dump_records,
    is_bool,
    is_int,
    is_number,
    is_object,
    is_str,
    is_str_list,
    json_key,
    record_map,
    record_of,
    records_of,
)
from reviewscore.padding import Padding

MANIFEST = "manifest.json"
FORMAT = "reviewscore-deploy/1"
REPAIR = "re-export the folder rather than edit its manifest"
TEXT_INPUTS = "text"  # a variant's `inputs`: raw texts in, the tokenizer in its graph (edge)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class Thresholds:
    """The parity gate's limits; the export records the ones it judged with, and `verify`
    judges with the same."""

    max_abs_logit_diff: float = 1e-4  # fp32
    min_agreement: float = 0.98  # int8 / fp16: argmax agreement with PyTorch
    max_accuracy_drop: float = 0.01  # int8 / fp16: accuracy lost on labelled rows
    max_labels_moved: float = 0.0  # batch-invariant variants: labels moved by batching


def _is_thresholds(value: Any) -> bool:
    names = {item.name for item in fields(Thresholds)}
    return isinstance(value, dict) and set(value) <= names and all(map(is_number, value.values()))


def _load_thresholds(value: dict[str, Any], where: Path, name: str) -> Thresholds:
    return Thresholds(**value)


@dataclass(frozen=True, kw_only=True)
class TensorSpec(Record):
    """A model input or output: its graph name and element type."""

    repair: ClassVar[str] = REPAIR
    name: str = json_key("a name", is_str)
    dtype: str | None = json_key("an element type", is_str, default=None)


@dataclass(frozen=True, kw_only=True)
class Extensions(Record):
    """The operator library a strings-in variant's runtime must register."""

    repair: ClassVar[str] = REPAIR
    package: str = json_key("a package name", is_str)
    version: str = json_key("a version", is_str)
    domain: str = json_key("an operator domain", is_str)


@dataclass(frozen=True, kw_only=True)
class Variant(Record):
    """One model file of the folder. `optimization` and `quantization` are what the export
    did (recorded, not read back); `built_from` names the graph the variant was made from.
    A strings-in (edge) variant has `inputs: "text"`, its output names, where its tokenizer
    is and the `extensions` it needs; the scorer's variants, which take the token ids of
    the manifest's `inputs`, have none of these."""

    repair: ClassVar[str] = REPAIR
    file: str = json_key("a file name", is_str)
    precision: str = json_key("a precision (fp32, int8, fp16)", is_str)
    inputs: str | None = json_key(repr(TEXT_INPUTS), lambda v: v == TEXT_INPUTS, default=None)
    outputs: tuple[str, ...] | None = json_key(
        "a list of output names", is_str_list, load=as_tuple, dump=list, default=None
    )
    tokenizer: str | None = json_key("a text", is_str, default=None)
    extensions: Extensions | None = json_key(
        "a mapping with package, version and domain",
        is_object,
        load=record_of(Extensions),
        dump=dump_record,
        default=None,
    )
    optimization: dict[str, Any] | None = json_key("a mapping", is_object, null=True)
    quantization: dict[str, Any] | None = json_key("a mapping", is_object, null=True)
    batch_invariant: bool = json_key("true or false", is_bool)
    built_from: str | None = json_key("a graph name", is_str, null=True)


@dataclass(frozen=True, kw_only=True)
class ParityFigures(Record):
    """A variant against PyTorch's reference: the figures, the failed checks and the
    verdict, and the machine they were measured on. A variant the provider cannot run
    (fp16 without kernels) is `checked: false` with the `reason`."""

    repair: ClassVar[str] = REPAIR
    checked: bool | None = json_key("true or false", is_bool, default=None)
    reason: str | None = json_key("a text", is_str, default=None)
    rows: int | None = json_key("an integer", is_int, default=None)
    # A strings-in (edge) variant is also compared with the scorer's variant it was built
    # from: its in-graph tokenizer's ids, its labels and its logits.
    compared_with: dict[str, Any] | None = json_key("a mapping", is_object, default=None)
    token_ids_equal: float | None = json_key("a number", is_number, default=None)
    labels_equal_to_scorer: float | None = json_key("a number", is_number, default=None)
    scorer_max_abs_logit_diff: float | None = json_key("a number", is_number, default=None)
    max_abs_logit_diff: float | None = json_key("a number", is_number, default=None)
    agreement: float | None = json_key("a number", is_number, default=None)
    labels_moved_between_batchings: float | None = json_key("a number", is_number, default=None)
    batchings_compared: dict[str, Any] | None = json_key("a mapping", is_object, default=None)
    accuracy: float | None = json_key("a number", is_number, default=None)
    torch_accuracy: float | None = json_key("a number", is_number, default=None)
    accuracy_change: float | None = json_key("a number", is_number, default=None)
    failures: tuple[str, ...] = json_key("a list of texts", is_str_list, load=as_tuple, dump=list)
    passed: bool = json_key("true or false", is_bool)
    measured_on: dict[str, Any] | None = json_key("a mapping", is_object, default=None)


def _is_named_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value)


def _is_entries(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(key, str) for key in value)


def _is_hashes(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(h, str) for h in value.values())


def _is_labels(value: Any) -> bool:
    return is_str_list(value) and bool(value)


def _is_shape_checks(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(v, dict) for v in value.values())


@dataclass(frozen=True, kw_only=True)
class Manifest(Record):
    """manifest.json. Fields in the order the export writes them; those a folder exported
    by an earlier version, or killed before the checks, may lack are None."""

    repair: ClassVar[str] = REPAIR
    labels: tuple[str, ...] = json_key(
        "a non-empty list of label names", _is_labels, load=as_tuple, dump=list
    )
    max_length: int = json_key("a positive integer", lambda v: is_int(v) and v > 0)
    model_type: str | None = json_key("a model type", is_str, default=None)
    inputs: tuple[TensorSpec, ...] = json_key(
        "a non-empty list of named inputs",
        _is_named_list,
        load=records_of(TensorSpec),
        dump=dump_records,
    )
    outputs: tuple[TensorSpec, ...] = json_key(
        "a non-empty list of named outputs",
        _is_named_list,
        load=records_of(TensorSpec),
        dump=dump_records,
    )
    tokenizer: str = json_key("a file name", is_str)
    pad_token_id: int = json_key("an integer", is_int)
    pad_token_type_id: int | None = json_key("an integer", is_int, default=None)
    padding_side: str | None = json_key(
        "'left' or 'right'", lambda v: v in ("left", "right"), default=None
    )
    opset: int | None = json_key("an integer", is_int, default=None)
    default_variant: str = json_key("a variant name", is_str)
    variants: dict[str, Variant] = json_key(
        "a mapping of variant name to an entry with its file",
        lambda v: _is_entries(v) and bool(v),
        load=record_map(Variant),
        dump=dump_record_map,
    )
    source_run: str | None = json_key("a path", is_str, default=None)
    versions: dict[str, Any] | None = json_key("a mapping", is_object, default=None)
    # Written last by an export, with the parity figures: a folder without them is a killed
    # export's staging folder (see `finished`).
    shape_checks: dict[str, dict[str, Any]] | None = json_key(
        "a mapping of variant name to its checks", _is_shape_checks, default=None
    )
    parity_checked: bool | None = json_key("true or false", is_bool, default=None)
    parity: dict[str, ParityFigures] | None = json_key(
        "a mapping of variant name to its figures",
        _is_entries,
        load=record_map(ParityFigures),
        dump=dump_record_map,
        default=None,
    )
    parity_data: dict[str, Any] | None = json_key("a mapping", is_object, default=None)
    # Folders exported before `reviewscore verify` (or with --no-check) have no reference.
    parity_reference: str | None = json_key("a file name", is_str, default=None)
    parity_thresholds: Thresholds | None = json_key(
        "a mapping of threshold name to number",
        _is_thresholds,
        load=_load_thresholds,
        dump=asdict,
        default=None,
    )
    parity_passed: bool | None = json_key("true or false", is_bool, default=None)
    files: dict[str, str] = json_key("a mapping of file name to sha256", _is_hashes)
    format: str = json_key(repr(FORMAT), lambda v: v == FORMAT, default=FORMAT)
    # Where it was read from (load_manifest), for the errors that name the folder.
    path: Path | None = field(default=None, compare=False, repr=False)

    @property
    def folder(self) -> str:
        return str(self.path.parent) if self.path is not None else "the deploy manifest"

    def variant(self, name: str | None = None) -> Variant:
        """The variant `name` (default: the default variant); one that the folder lacks is
        an error that lists those it has."""
        if name is None:  # "" is a name the folder lacks, not "the default"
            name = self.default_variant
        if name not in self.variants:
            choices = ", ".join(self.variants)
            raise FolderError(f"{self.folder}: no variant {name!r}; this folder has: {choices}")
        return self.variants[name]

    def parity_of(self, name: str) -> ParityFigures | None:
        """The export's figures for variant `name`: None without a parity gate (--no-check)
        or for a variant the gate did not see."""
        return (self.parity or {}).get(name)

    @property
    def padding(self) -> Padding:
        """How the model was trained to pad (folders from before the fields: right, 0)."""
        return Padding(
            pad_token_id=self.pad_token_id,
            pad_token_type_id=self.pad_token_type_id or 0,
            side=self.padding_side or "right",
        )

    @property
    def finished(self) -> bool:
        """An export writes its manifest several times while it builds in a staging folder;
        only the last write holds the shape checks and the parity figures (or
        `parity_checked: false` for `export --no-check`). A folder without them is an export
        that was killed."""
        parity_done = self.parity is not None or self.parity_checked is False
        return self.shape_checks is not None and parity_done


def write_manifest(
    deploy_dir: Path, manifest: Manifest, files: Iterable[str] | None = None
) -> Manifest:
    """Hash every file in `files` (default: those the manifest lists) and write the
    manifest last, atomically: a folder with a manifest is a complete folder."""
    names = list(manifest.files if files is None else files)
    hashes = {name: sha256_file(deploy_dir / name) for name in names}
    manifest = replace(manifest, files=hashes, format=FORMAT)
    write_json(deploy_dir / MANIFEST, manifest.to_dict())
    return manifest


def is_deploy_folder(path: Path) -> bool:
    """Whether `path` is an earlier export's folder (its manifest says so), which a new
    export may replace; no other non-empty folder may be."""
    try:
        return bool(read_json(Path(path) / MANIFEST).get("format") == FORMAT)
    except (OSError, ValueError, AttributeError, FolderError):  # damaged: not replaceable
        return False


def _check_paths(deploy_dir: Path, manifest: Manifest) -> None:
    """Every file the scorer opens is inside the folder and listed under `files` (so
    hash-checked): an absolute or `..` name, or an unlisted one, would load a file that no
    export wrote or checked."""
    opened = {"tokenizer": manifest.tokenizer}
    opened.update({f"variant {v!r}": e.file for v, e in manifest.variants.items()})
    if manifest.parity_reference is not None:
        opened["parity reference"] = manifest.parity_reference
    root = deploy_dir.resolve()
    for name in [*manifest.files, *opened.values()]:
        if Path(name).is_absolute() or not (root / name).resolve().is_relative_to(root):
            raise FolderError(
                f"{deploy_dir}: {name!r} is outside the deploy folder; a deploy folder's files "
                "must be inside it (re-export rather than edit the manifest)"
            )
    for role, name in opened.items():
        if name not in manifest.files:
            raise FolderError(
                f"{deploy_dir}: the {role} file {name!r} is not listed in the manifest's "
                "files, so its hash cannot be checked; re-export the folder"
            )


def load_manifest(
    deploy_dir: Path, *, verify: bool = True, require_finished: bool = True
) -> Manifest:
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
    data = read_json(path)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        found = data.get("format") if isinstance(data, dict) else data
        raise FolderError(f"{path}: unknown format {found!r}")
    manifest = replace(Manifest.from_dict(data, path), path=path)
    _check_paths(deploy_dir, manifest)
    if require_finished and not manifest.finished:
        raise FolderError(
            f"{deploy_dir}: its export did not finish (the manifest has no shape or parity "
            "checks: a killed export's staging folder?); export again with `reviewscore export`"
        )
    if verify:
        for name, expected in manifest.files.items():
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

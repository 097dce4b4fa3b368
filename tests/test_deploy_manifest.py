"""The deploy manifest's one definition (deploy_folder.Manifest): an exported manifest reads
into it and writes back byte for byte, a newer export's extra keys survive, a value of the
wrong type is one error line naming the file and the field (from the API and from the CLI),
and an unknown variant is refused with the folder's choices."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from cli_runner import reviewscore
from reviewscore.deploy_folder import (
    MANIFEST,
    Manifest,
    ParityFigures,
    Thresholds,
    Variant,
    load_manifest,
    write_manifest,
)
from reviewscore.errors import FolderError


def manifest_json(deploy: Path) -> dict:
    return json.loads((deploy / MANIFEST).read_text())


def copy_with(tmp_path: Path, deploy: Path, change: Callable[[dict], None]) -> Path:
    """A copy of `deploy` whose manifest.json got `change` (hashes left as they were)."""
    copy = Path(shutil.copytree(deploy, tmp_path / "deploy"))
    data = manifest_json(copy)
    change(data)
    (copy / MANIFEST).write_text(json.dumps(data, indent=2))
    return copy


def test_an_exported_manifest_round_trips_byte_for_byte(exported, tmp_path):
    deploy = exported("bert").deploy
    text = (deploy / MANIFEST).read_text()
    data = json.loads(text)
    manifest = Manifest.from_dict(data, deploy / MANIFEST)
    assert manifest.to_dict() == data
    assert json.dumps(manifest.to_dict(), indent=2) + "\n" == text
    assert manifest == load_manifest(deploy) == exported("bert").manifest
    copy = Path(shutil.copytree(deploy, tmp_path / "deploy"))
    write_manifest(copy, load_manifest(copy))  # rehashing an intact folder changes nothing
    assert (copy / MANIFEST).read_text() == text


def test_the_typed_fields_hold_what_the_json_holds(exported):
    manifest = exported("bert").manifest
    data = manifest_json(exported("bert").deploy)
    fp32 = manifest.variant()
    assert isinstance(fp32, Variant) and fp32.file == data["variants"]["fp32"]["file"]
    assert fp32.batch_invariant is True and fp32.precision == "fp32"
    figures = manifest.parity_of("fp32")
    assert isinstance(figures, ParityFigures) and figures.passed is True
    assert figures.agreement == data["parity"]["fp32"]["agreement"]
    assert manifest.parity_of("int8-dynamic") is None  # not exported here
    assert manifest.parity_thresholds == Thresholds(**data["parity_thresholds"])
    assert manifest.labels == tuple(data["labels"]) and manifest.finished


def test_keys_from_a_newer_export_are_kept_not_refused(exported, tmp_path):
    def newer(data: dict) -> None:
        data["edge"] = {"strings_in": True}
        data["variants"]["fp32"]["runtime"] = ["wasm"]
        data["parity"]["fp32"]["latency_ms"] = 1.5

    deploy = copy_with(tmp_path, exported("bert").deploy, newer)
    manifest = load_manifest(deploy)
    assert manifest.extra == {"edge": {"strings_in": True}}
    assert manifest.variant("fp32").extra == {"runtime": ["wasm"]}
    assert manifest.to_dict() == manifest_json(deploy)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda m: m["variants"]["fp32"].update(batch_invariant="yes"),
            "'variants.fp32.batch_invariant' must be true or false, not 'yes'",
        ),
        (
            lambda m: m["variants"]["fp32"].pop("file"),
            "no 'variants.fp32.file'",
        ),
        (
            lambda m: m["parity"]["fp32"].update(agreement="high"),
            "'parity.fp32.agreement' must be a number, not 'high'",
        ),
        (
            lambda m: m["variants"]["fp32"].update(inputs=["text"]),
            "'variants.fp32.inputs' must be 'text', not ['text']",
        ),
        (
            lambda m: m["variants"]["fp32"].update(extensions="onnxruntime-extensions"),
            "'variants.fp32.extensions' must be a mapping with package, version and domain",
        ),
        (
            lambda m: m["parity"]["fp32"].update(token_ids_equal="all"),
            "'parity.fp32.token_ids_equal' must be a number, not 'all'",
        ),
        (
            lambda m: m["parity_thresholds"].update(min_agreement="0.98"),
            "'parity_thresholds' must be a mapping of threshold name to number",
        ),
        (
            lambda m: m["inputs"][1].update(name=7),
            "'inputs.1.name' must be a name, not 7",
        ),
        (
            lambda m: m.update(variants=["fp32"]),
            "'variants' must be a mapping of variant name to an entry with its file",
        ),
        (lambda m: m.pop("labels"), "no 'labels'"),
        (lambda m: m.update(labels="negative"), "'labels' must be a non-empty list"),
    ],
)
def test_a_wrong_type_is_one_line_naming_the_file_and_the_field(
    exported, tmp_path, monkeypatch, capsys, change, message
):
    deploy = copy_with(tmp_path, exported("bert").deploy, change)
    with pytest.raises(FolderError) as raised:
        load_manifest(deploy, verify=False)
    assert str(raised.value).startswith(f"{deploy / MANIFEST}: {message}")
    assert "\n" not in str(raised.value)
    assert str(raised.value).endswith("re-export the folder rather than edit its manifest")

    source = tmp_path / "in.tsv"
    source.write_text("PhraseId\tSentenceId\tPhrase\n1\t1\tgood\n")
    code, out, err = reviewscore(monkeypatch, capsys, "score", deploy, source)
    assert code == 1 and out == ""
    assert err.splitlines() == [f"error: {raised.value}"]


def test_an_unknown_variant_lists_the_choices(exported):
    manifest = load_manifest(exported("bert").deploy)
    extra = replace(manifest.variant(), file="model.other.onnx")
    two = replace(manifest, variants={**manifest.variants, "other": extra})
    with pytest.raises(FolderError) as raised:
        two.variant("int4")
    assert str(raised.value) == (
        f"{exported('bert').deploy}: no variant 'int4'; this folder has: fp32, other"
    )
    assert two.variant("other") is extra and two.variant() is manifest.variant("fp32")

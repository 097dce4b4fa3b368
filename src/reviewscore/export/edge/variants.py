"""`export --edge`: the strings-in variants, one per fp32/int8 variant built, each the
variant's own graph behind the in-graph tokenizer (graph.py), for runtimes that register
onnxruntime-extensions (Python, C/C++, C#, Java, mobile). `reviewscore score` does not load
them: its variants take token ids.

Manifest entry: as the other variants', plus `"inputs": "text"` (what marks it for the
scorer), its outputs and the extensions package it needs.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

from reviewscore.deploy_folder import (
    TEXT_INPUTS,
    Extensions,
    Manifest,
    ParityFigures,
    Thresholds,
    Variant,
)
from reviewscore.errors import FolderError
from reviewscore.export.edge.check import edge_figures, edge_summary, open_edge_session
from reviewscore.export.edge.graph import OUTPUTS, build_edge_model
from reviewscore.export.edge.names import EXTENSIONS_DOMAIN
from reviewscore.export.edge.tokenizer import wordpiece_settings
from reviewscore.parity.reference import Reference
from reviewscore.score.classifier import takes_text

EDGE_BASES = ("fp32", "int8-dynamic", "int8-static")  # fp16 is for CUDA, not the edge
TOKENIZER_IN_GRAPH = (
    "in the graph: tokenizer.json's normaliser as tables, then onnxruntime-extensions BertTokenizer"
)


def edge_name(base: str) -> str:
    return f"edge-{base}"


def edge_file(base: str) -> str:
    return "model.edge.onnx" if base == "fp32" else f"model.edge.{base}.onnx"


def edge_tokenizer(folder: Path, manifest: Manifest) -> Any:
    """The in-graph tokenizer (an ONNX model) of the folder's tokenizer.json and padding."""
    from reviewscore.export.edge.graph import tokenizer_model

    padding = manifest.padding
    return tokenizer_model(
        wordpiece_settings(folder / manifest.tokenizer),
        max_length=manifest.max_length,
        pad_token_id=padding.pad_token_id,
        pad_token_type_id=padding.pad_token_type_id,
        padding_side=padding.side,
        input_names=[spec.name for spec in manifest.inputs],
        opset=_opset(manifest),
    )


def _opset(manifest: Manifest) -> int:
    if manifest.opset is None:  # folders from before the field: not the export's own
        raise FolderError(f"{manifest.folder}: the manifest has no opset; re-export the folder")
    return manifest.opset


def check_tokenizer(tokenizer_json: Path) -> None:
    """Refuse, before the long part of the export, a tokenizer the edge cannot reproduce."""
    wordpiece_settings(tokenizer_json)


def add_edge_variants(
    staging: Path,
    manifest: Manifest,
    variants: dict[str, Variant],
    echo: Callable[[str], None],
) -> dict[str, Variant]:
    """Write an edge file for each fp32/int8 variant in `variants`; returns their entries."""
    extensions = Extensions(
        package="onnxruntime-extensions",
        version=version("onnxruntime-extensions"),
        domain=EXTENSIONS_DOMAIN,
    )
    added = {}
    for base in [name for name in EDGE_BASES if name in variants]:
        dst = staging / edge_file(base)
        build_edge_model(staging / variants[base].file, edge_tokenizer(staging, manifest), dst)
        added[edge_name(base)] = Variant(
            file=edge_file(base),
            precision=variants[base].precision,
            inputs=TEXT_INPUTS,
            outputs=tuple(OUTPUTS),
            tokenizer=TOKENIZER_IN_GRAPH,
            extensions=extensions,
            optimization=None,
            quantization=None,
            batch_invariant=variants[base].batch_invariant,
            built_from=base,
        )
        echo(f"edge variant {edge_name(base)}: {dst.name} ({dst.stat().st_size / 1e6:.1f} MB)")
    return added


def edge_parity(
    staging: Path,
    manifest: Manifest,
    reference: Reference,
    thresholds: Thresholds,
    echo: Callable[[str], None],
) -> dict[str, ParityFigures]:
    """The parity figures of every edge variant against the scorer (check.py)."""
    from reviewscore.score.classifier import DeployedClassifier

    tokenizer = open_edge_session(edge_tokenizer(staging, manifest).SerializeToString())
    parity = {}
    for name, variant in manifest.variants.items():
        if not takes_text(variant):
            continue
        scorer = DeployedClassifier.open(staging, variant.built_from, require_finished=False)
        session = open_edge_session(staging / variant.file)
        parity[name] = edge_figures(session, scorer, tokenizer, reference, variant, thresholds)
        echo(f"parity {name}: {edge_summary(parity[name])}")
    return parity

"""`export --edge`: the strings-in variants, one per fp32/int8 variant built, each the
variant's own graph behind the in-graph tokenizer (edge_graph.py), for runtimes that register
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

from reviewscore.export.edge_check import edge_figures, edge_summary, open_edge_session
from reviewscore.export.edge_graph import EXTENSIONS_DOMAIN, OUTPUTS, build_edge_model
from reviewscore.export.edge_tokenizer import wordpiece_settings
from reviewscore.parity_figures import Thresholds
from reviewscore.parity_reference import Reference
from reviewscore.score.classifier import takes_text

EDGE_BASES = ("fp32", "int8-dynamic", "int8-static")  # fp16 is for CUDA, not the edge
TEXT_INPUTS = "text"  # the manifest's marker: this variant takes raw texts


def edge_name(base: str) -> str:
    return f"edge-{base}"


def edge_file(base: str) -> str:
    return "model.edge.onnx" if base == "fp32" else f"model.edge.{base}.onnx"


def _tokenizer(staging: Path, manifest: dict[str, Any]) -> Any:
    from reviewscore.export.edge_graph import tokenizer_model

    return tokenizer_model(
        wordpiece_settings(staging / manifest["tokenizer"]),
        max_length=int(manifest["max_length"]),
        pad_token_id=int(manifest["pad_token_id"]),
        pad_token_type_id=int(manifest["pad_token_type_id"]),
        padding_side=manifest["padding_side"],
        input_names=[spec["name"] for spec in manifest["inputs"]],
        opset=int(manifest["opset"]),
    )


def check_tokenizer(tokenizer_json: Path) -> None:
    """Refuse, before the long part of the export, a tokenizer the edge cannot reproduce."""
    wordpiece_settings(tokenizer_json)


def add_edge_variants(
    staging: Path,
    manifest: dict[str, Any],
    variants: dict[str, dict[str, Any]],
    echo: Callable[[str], None],
) -> None:
    """Write an edge file for each fp32/int8 variant in `variants` and add its entry."""
    for base in [name for name in EDGE_BASES if name in variants]:
        dst = staging / edge_file(base)
        build_edge_model(staging / variants[base]["file"], _tokenizer(staging, manifest), dst)
        variants[edge_name(base)] = {
            "file": edge_file(base),
            "precision": variants[base]["precision"],
            "inputs": TEXT_INPUTS,
            "outputs": list(OUTPUTS),
            "tokenizer": "in the graph: onnxruntime-extensions BertTokenizer",
            "extensions": {
                "package": "onnxruntime-extensions",
                "version": version("onnxruntime-extensions"),
                "domain": EXTENSIONS_DOMAIN,
            },
            "optimization": None,
            "quantization": None,
            "batch_invariant": variants[base]["batch_invariant"],
            "built_from": base,
        }
        echo(f"edge variant {edge_name(base)}: {dst.name} ({dst.stat().st_size / 1e6:.1f} MB)")


def edge_parity(
    staging: Path,
    manifest: dict[str, Any],
    variants: dict[str, dict[str, Any]],
    reference: Reference,
    thresholds: Thresholds,
    echo: Callable[[str], None],
) -> dict[str, dict[str, Any]]:
    """The parity figures of every edge variant against the scorer (edge_check.py)."""
    from reviewscore.score.classifier import DeployedClassifier

    tokenizer = open_edge_session(_tokenizer(staging, manifest).SerializeToString())
    parity = {}
    for name, variant in variants.items():
        if not takes_text(variant):
            continue
        scorer = DeployedClassifier.open(staging, variant["built_from"], require_finished=False)
        session = open_edge_session(staging / variant["file"])
        parity[name] = edge_figures(session, scorer, tokenizer, reference, variant, thresholds)
        echo(f"parity {name}: {edge_summary(parity[name])}")
    return parity

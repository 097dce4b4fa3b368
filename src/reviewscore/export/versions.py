"""Library versions recorded in the manifest, so a parity figure can be traced to its stack."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

PACKAGES = (
    "reviewscore",
    "torch",
    "transformers",
    "onnx",
    "onnxruntime",
    "onnxruntime-extensions",
    "tokenizers",
)


def library_versions() -> dict[str, str]:
    found = {}
    for name in PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found

"""`reviewscore verify`: the export's parity gate, repeated on the machine that will score.

int8 kernels differ between CPU families (cpu_features.py), and an onnxruntime upgrade can
change any kernel, so the export's figures hold where they were measured. The export
stores its reference (the parity rows and PyTorch's logits, parity_reference.npz); this
scores those rows with the local onnxruntime, through the scorer's own batching, and judges
the figures against the manifest's thresholds with the export's own code. No torch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from reviewscore.cpu_features import describe_cpu, local_cpu
from reviewscore.deploy_folder import load_manifest
from reviewscore.errors import FolderError
from reviewscore.parity_figures import Thresholds, checked_variant, failures_message, summary
from reviewscore.parity_reference import Reference, read_reference
from reviewscore.score.classifier import DeployedClassifier


@dataclass(frozen=True)
class Verification:
    deploy_dir: Path
    thresholds: Thresholds  # the manifest's, as the export judged with
    figures: dict[str, dict[str, Any]]  # variant -> figures measured here
    at_export: dict[str, dict[str, Any]]  # variant -> the manifest's figures

    @property
    def passed(self) -> bool:
        return all(f["passed"] for f in self.figures.values())

    def lines(self) -> list[str]:
        """One line per variant: the figures, and where they and the export's were taken."""
        here = describe_cpu(local_cpu())
        lines = []
        for name, figures in self.figures.items():
            measured = self.at_export.get(name, {}).get("measured_on")
            there = describe_cpu(measured) if measured else "not recorded"
            lines.append(f"{name}: {summary(figures)} [here: {here}; at export: {there}]")
        return lines

    def failures(self) -> str | None:
        message = failures_message(self.figures)
        return message and f"{message} on this machine ({describe_cpu(local_cpu())})"

    def to_json(self) -> dict[str, Any]:
        return {
            "deploy_dir": str(self.deploy_dir),
            "passed": self.passed,
            "machine": local_cpu(),
            "thresholds": asdict(self.thresholds),
            "variants": self.figures,
            "at_export": self.at_export,
        }


def _thresholds(deploy_dir: Path, manifest: dict[str, Any]) -> Thresholds:
    try:
        return Thresholds(**manifest["parity_thresholds"])
    except (KeyError, TypeError) as exc:
        raise FolderError(
            f"{deploy_dir}: the manifest's parity_thresholds are missing or damaged; re-export"
        ) from exc


def _stored_reference(deploy_dir: Path, manifest: dict[str, Any]) -> tuple[Reference, Thresholds]:
    """The export's reference and thresholds; a folder without them is refused (exported
    with --no-check, or before verify existed)."""
    if "parity_reference" not in manifest:
        why = (
            "it was exported with --no-check"
            if manifest.get("parity_checked") is False
            else "its export predates `reviewscore verify`"
        )
        raise FolderError(
            f"{deploy_dir}: no stored parity reference to verify against ({why}); re-export "
            "it with `reviewscore export` and the parity gate"
        )
    reference = read_reference(deploy_dir / manifest["parity_reference"], len(manifest["labels"]))
    return reference, _thresholds(deploy_dir, manifest)


def verify_folder(
    deploy_dir: str | Path,
    variants: list[str] | None = None,
    *,
    provider: str = "auto",
    threads: int | None = None,
) -> Verification:
    """Re-run the parity check of `variants` (default: the folder's default variant) here."""
    deploy_dir = Path(deploy_dir)
    manifest = load_manifest(deploy_dir, verify=True)
    reference, thresholds = _stored_reference(deploy_dir, manifest)
    names = variants or [manifest["default_variant"]]
    unknown = [name for name in names if name not in manifest["variants"]]
    if unknown:
        choices = ", ".join(manifest["variants"])
        raise FolderError(f"{deploy_dir}: no variant {unknown[0]!r}; this folder has: {choices}")
    figures = {
        name: checked_variant(
            lambda name=name: DeployedClassifier.open(
                deploy_dir, name, provider=provider, threads=threads
            ),
            manifest["variants"][name].get("precision", ""),
            reference,
            thresholds,
        )
        for name in names
    }
    at_export = {name: manifest.get("parity", {}).get(name, {}) for name in names}
    return Verification(deploy_dir, thresholds, figures, at_export)


def verify_classifier(classifier: DeployedClassifier) -> Verification:
    """The same check on a classifier already open (a server's): the session that will
    answer requests is the one checked, and no second copy of the model is loaded."""
    deploy_dir, manifest = Path(classifier.deploy_dir), classifier.manifest
    reference, thresholds = _stored_reference(deploy_dir, manifest)
    name = classifier.variant_name
    precision = manifest["variants"][name].get("precision", "")
    figures = {name: checked_variant(lambda: classifier, precision, reference, thresholds)}
    at_export = {name: manifest.get("parity", {}).get(name, {})}
    return Verification(deploy_dir, thresholds, figures, at_export)

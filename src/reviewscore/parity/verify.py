"""`reviewscore verify`: the export's parity gate, repeated on the machine that will score.

int8 kernels differ between CPU families (cpu_features.py), and an onnxruntime upgrade can
change any kernel, so the export's figures hold where they were measured. The export
stores its reference (the parity rows and PyTorch's logits, parity_reference.npz); this
scores those rows with the local onnxruntime, through the scorer's own batching, and judges
the figures against the manifest's thresholds with the export's own code. No torch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

from reviewscore.cpu_features import describe_cpu, local_cpu
from reviewscore.deploy_folder import Manifest, ParityFigures, Thresholds, load_manifest
from reviewscore.errors import FolderError, ParityError
from reviewscore.parity.figures import checked_variant, summary
from reviewscore.parity.judge import failures_message
from reviewscore.parity.reference import Reference, read_reference
from reviewscore.score.classifier import DeployedClassifier
from reviewscore.score.session import exact_int8_wanted
from reviewscore.score.variant_timing import time_variants


@dataclass(frozen=True)
class Verification:
    """`reviewscore verify`'s report: per variant, the parity figures measured on this
    machine (`figures`, with `.passed` and `.failures`) beside the export's (`at_export`),
    the thresholds judged with, and `passed` overall. `lines()` and `to_json()` are what the
    command prints; `check()` raises ParityError when a variant failed."""

    deploy_dir: Path
    thresholds: Thresholds  # the manifest's, as the export judged with
    figures: dict[str, ParityFigures]  # variant -> figures measured here
    at_export: dict[str, ParityFigures | None]  # variant -> the manifest's figures, if any
    exact_int8: bool  # onnxruntime was asked for exact int8 products here (score/session.py)
    precisions: dict[str, str] = field(default_factory=dict)  # variant -> fp32, int8, fp16
    # With `timed`: variant -> phrases/s here (the variants the provider could run)
    speeds: dict[str, float] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(f.passed for f in self.figures.values())

    def lines(self) -> list[str]:
        """One line per variant: the figures, and where they and the export's were taken."""
        cpu = describe_cpu(local_cpu())
        lines = []
        for name, figures in self.figures.items():
            exported = self.at_export.get(name)
            measured = exported.measured_on if exported else None
            there = describe_cpu(measured) if measured else "not recorded"
            # the mode changes int8 products only: said on int8 lines alone
            exact = self.exact_int8 and self.precisions.get(name) == "int8"
            here = cpu + ", exact int8 mode" * exact
            lines.append(f"{name}: {summary(figures)} [here: {here}; at export: {there}]")
        return lines

    def of(self, name: str) -> Verification:
        """This report narrowed to one variant (the one a server loaded, say)."""
        return replace(
            self,
            figures={name: self.figures[name]},
            at_export={name: self.at_export[name]},
            precisions={name: self.precisions[name]},
            speeds={k: v for k, v in self.speeds.items() if k == name},
        )

    def failures(self) -> str | None:
        message = failures_message(self.figures)
        return message and f"{message} on this machine ({describe_cpu(local_cpu())})"

    def check(self) -> None:
        """Raise ParityError, carrying the figures and this report, if a variant failed."""
        message = self.failures()
        if message:
            raise ParityError(message, self.figures, self)

    def to_json(self) -> dict[str, Any]:
        return {
            "deploy_dir": str(self.deploy_dir),
            "passed": self.passed,
            "machine": {**local_cpu(), "exact_int8": self.exact_int8},
            "thresholds": asdict(self.thresholds),
            "variants": {name: f.to_dict() for name, f in self.figures.items()},
            "at_export": {name: f.to_dict() if f else {} for name, f in self.at_export.items()},
            **({"phrases_per_second": self.speeds} if self.speeds else {}),
        }


def _stored_reference(deploy_dir: Path, manifest: Manifest) -> tuple[Reference, Thresholds]:
    """The export's reference and thresholds; a folder without them is refused (exported
    with --no-check, or before verify existed)."""
    if manifest.parity_reference is None:
        why = (
            "it was exported with --no-check"
            if manifest.parity_checked is False
            else "its export predates `reviewscore verify`"
        )
        raise FolderError(
            f"{deploy_dir}: no stored parity reference to verify against ({why}); re-export "
            "it with `reviewscore export` and the parity gate"
        )
    if manifest.parity_thresholds is None:
        raise FolderError(f"{deploy_dir}: the manifest's parity_thresholds are missing; re-export")
    reference = read_reference(deploy_dir / manifest.parity_reference, len(manifest.labels))
    return reference, manifest.parity_thresholds


def verify_folder(
    deploy_dir: str | Path,
    variants: list[str] | None = None,
    *,
    provider: str = "auto",
    threads: int | None = None,
    timed: bool = False,
) -> Verification:
    """Re-run the parity check of `variants` (default: the folder's default variant) here;
    with `timed`, also time each variant the provider could run (score/variant_timing.py),
    failed ones too, so a table can show what a failure would have been worth."""
    deploy_dir = Path(deploy_dir)
    manifest = load_manifest(deploy_dir, verify=True)
    reference, thresholds = _stored_reference(deploy_dir, manifest)
    names = variants or [manifest.default_variant]
    precisions = {name: manifest.variant(name).precision for name in names}
    opened: dict[str, DeployedClassifier] = {}

    def open_variant(name: str) -> DeployedClassifier:
        opened[name] = DeployedClassifier.open(deploy_dir, name, provider=provider, threads=threads)
        return opened[name]

    figures = {
        name: checked_variant(partial(open_variant, name), precisions[name], reference, thresholds)
        for name in names
    }
    at_export = {name: manifest.parity_of(name) for name in names}
    speeds = {}
    if timed:
        runnable = {name: c for name, c in opened.items() if figures[name].checked}
        speeds = time_variants(runnable, reference.texts)
    exact_int8 = exact_int8_wanted()
    return Verification(
        deploy_dir, thresholds, figures, at_export, exact_int8, precisions, speeds=speeds
    )


def verify_classifier(classifier: DeployedClassifier) -> Verification:
    """The same check on a classifier already open (a server's): the session that will
    answer requests is the one checked, and no second copy of the model is loaded."""
    deploy_dir, manifest = Path(classifier.deploy_dir), classifier.manifest
    reference, thresholds = _stored_reference(deploy_dir, manifest)
    name = classifier.variant_name
    precision = classifier.variant.precision
    figures = {name: checked_variant(lambda: classifier, precision, reference, thresholds)}
    at_export = {name: manifest.parity_of(name)}
    exact_int8 = classifier.session.exact_int8
    precisions = {name: precision}
    return Verification(deploy_dir, thresholds, figures, at_export, exact_int8, precisions)

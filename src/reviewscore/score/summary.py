"""What a scoring run reports on stderr: rows, time, throughput, provider and variant (and,
for `--variant auto`, the runner-up and both speeds measured here), the lines it skipped,
and warnings when the variant's labels can depend on batching, when it failed the export's
parity gate, when the export skipped that gate (--no-check), or when an int8 variant's
figures were measured on another class of CPU than this one; and a note, for an int8
variant on a CPU without VNNI or AMX, saying whether its int8 products are exact here.
Every figure in these lines was measured by this run or on this machine: which variant is
fastest is for `verify --all` and `--variant auto` to measure, not for a note to guess."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from reviewscore.cpu_features import SATURATING_INT8_CLASSES, describe_cpu
from reviewscore.data import BadLine
from reviewscore.deploy_folder import Manifest
from reviewscore.metrics import ClassificationMetrics
from reviewscore.score.session import EXACT_INT8_ENV

if TYPE_CHECKING:
    from reviewscore.score.auto_variant import AutoVariant

SHOWN_BAD_LINES = 5
Summary = TypeVar("Summary", bound="ScoreSummary")


@dataclass
class ScoreSummary:
    """Filled in by `score_files` as it goes; `describe` turns it into the stderr lines."""

    rows: int = 0
    seconds: float = 0.0
    provider: str = ""
    variant: str = ""
    batch_invariant: bool = True
    parity_checked: bool = True
    parity_failures: list[str] = field(default_factory=list)
    bad_lines: list[BadLine] = field(default_factory=list)
    metrics: ClassificationMetrics | None = None
    # (where the export measured an int8 variant, this machine, the deploy folder) when
    # their CPUs have different int8 kernels
    other_cpu: tuple[str, str, str] | None = None
    # this CPU, when the variant is int8 and the CPU has no VNNI or AMX int8 instructions
    saturating_int8_cpu: str | None = None
    # whether onnxruntime was asked for exact int8 products (score/session.py)
    exact_int8: bool = False
    # how `--variant auto` chose the variant, when it did
    auto: AutoVariant | None = None

    @classmethod
    def for_variant(
        cls: type[Summary],
        manifest: Manifest,
        variant: str,
        provider: str,
        *,
        here: dict[str, Any] | None = None,
        deploy_dir: str = "",
        exact_int8: bool = False,
        **extra: Any,
    ) -> Summary:
        """A summary that knows what the deploy manifest says about `variant`: whether its
        labels can depend on batching, whether the export's parity gate ran and what it
        found wrong, and, given `here` (this CPU's record; the Ray engine, whose actors may
        run elsewhere, gives none), whether an int8 variant was measured on another ISA
        class (figures from a folder exported before they were recorded: no warning)."""
        entry = manifest.variant(variant)
        figures = manifest.parity_of(variant)
        measured = figures.measured_on if figures else None
        other_cpu = None
        if (
            here is not None
            and measured is not None
            and entry.precision == "int8"
            and measured.get("isa_class") != here["isa_class"]
        ):
            other_cpu = (describe_cpu(measured), describe_cpu(here), deploy_dir)
        saturating = (
            here is not None
            and entry.precision == "int8"
            and here["isa_class"] in SATURATING_INT8_CLASSES
        )
        return cls(
            provider=provider,
            variant=variant,
            batch_invariant=entry.batch_invariant,
            parity_checked=manifest.parity is not None,
            parity_failures=list(figures.failures) if figures else [],
            other_cpu=other_cpu,
            saturating_int8_cpu=describe_cpu(here) if here is not None and saturating else None,
            exact_int8=exact_int8,
            **extra,
        )

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def describe(summary: ScoreSummary) -> list[str]:
    """The lines printed on stderr after a run: summary, skipped lines, batching warning."""
    lines = [
        f"scored {summary.rows:,} rows in {summary.seconds:.1f} s "
        f"({summary.rows_per_second:,.0f} rows/s) on {summary.provider}, "
        f"variant {summary.variant}" + (f" ({summary.auto.summary()})" if summary.auto else "")
    ]
    if summary.bad_lines:
        first = summary.bad_lines[:SHOWN_BAD_LINES]
        rest = len(summary.bad_lines) - len(first)
        shown = ", ".join(f"{b.source}:{b.line}" for b in first) + (
            f" and {rest} more" * bool(rest)
        )
        lines.append(f"skipped {len(summary.bad_lines)} bad line(s): {shown}")
        lines.extend(f"  {b.source}:{b.line}: {b.message}" for b in first)
    if not summary.batch_invariant:
        lines.append(
            f"warning: variant {summary.variant} is not batch-invariant (so its manifest says; "
            "dynamic int8, for one, computes activation scales per batch): labels may depend "
            "on batching (--batch-tokens, neighbouring rows); use a batch-invariant variant "
            "where reproducibility matters"
        )
    if not summary.parity_checked:
        lines.append(
            "warning: this deploy folder was exported with --no-check: no variant was "
            "compared with PyTorch; export it with the parity gate before relying on its labels"
        )
    if summary.parity_failures:
        lines.append(
            f"warning: variant {summary.variant} failed the export's parity gate ("
            + "; ".join(summary.parity_failures)
            + "): the export exited 3, and this folder should not have been deployed"
        )
    if summary.other_cpu:
        measured, here, deploy_dir = summary.other_cpu
        lines.append(
            f"warning: variant {summary.variant}'s parity figures were measured on {measured}, "
            f"this machine is {here}: int8 kernels differ between these CPU classes, so its "
            f"labels may not match them; check here with `reviewscore verify {deploy_dir} "
            f"--variant {summary.variant}`"
        )
    if summary.saturating_int8_cpu:
        products = (
            "int8 products are made exact here (8-bit weights take onnxruntime's u8 x u8 "
            "kernels), as VNNI and AMX compute them"
            if summary.exact_int8
            else f"int8 products may saturate here ({EXACT_INT8_ENV}=0), so labels may differ "
            "from those the export measured"
        )
        lines.append(
            f"note: this CPU, {summary.saturating_int8_cpu}, has no VNNI or AMX int8 "
            f"instructions: {products}"
        )
    return lines

"""`reviewscore verify --all`'s table: each variant's verdict, figures and speed on this
machine, then the variant `--variant auto` would pick here and why.

Every speed in it was measured by this run (score/variant_timing.py), so the table says
what holds here and nowhere else; the header names where that is.
"""

from __future__ import annotations

from typing import Any

from reviewscore.cpu_features import describe_cpu, local_cpu
from reviewscore.deploy_folder import Manifest, ParityFigures
from reviewscore.parity.verify import Verification
from reviewscore.score.auto_variant import (
    NoVariantPasses,
    VariantChoice,
    candidates_of,
    choose_variant,
)

COLUMNS = (
    "variant",
    "passes here",
    "agreement",
    "accuracy change",
    "batch-invariant",
    "phrases/s here",
    "x fp32",
)


def pick(
    verification: Verification, manifest: Manifest, allow_batch_dependent: bool
) -> VariantChoice | NoVariantPasses:
    """What `auto` would pick from this verification, or why it could pick nothing."""
    try:
        candidates = candidates_of(verification, manifest)
        return choose_variant(candidates, allow_batch_dependent=allow_batch_dependent)
    except NoVariantPasses as exc:
        return exc


def _passes(figures: ParityFigures) -> str:
    if not figures.checked:
        return "not run"
    return "yes" if figures.passed else "NO"


def _row(name: str, figures: ParityFigures, invariant: bool, speeds: dict[str, float]) -> list:
    speed = speeds.get(name)
    fp32 = speeds.get("fp32")
    change = figures.accuracy_change
    return [
        name,
        _passes(figures),
        "-" if figures.agreement is None else f"{figures.agreement:.2%}",
        "-" if change is None else f"{change * 100:+.2f} points",
        "yes" if invariant else "no",
        "-" if speed is None else f"{speed:,.0f}",
        "-" if speed is None or not fp32 else f"{speed / fp32:.2f}x",
    ]


def table_lines(
    verification: Verification,
    manifest: Manifest,
    choice: VariantChoice | NoVariantPasses,
    *,
    threads: int,
) -> list[str]:
    """The header (this machine), the table, the failures, then the pick and why."""
    mode = ", exact int8 mode" * verification.exact_int8
    measured = [f.measured_on for f in verification.figures.values() if f.measured_on]
    provider = measured[0].get("provider", "?") if measured else "?"
    header = (
        f"measured here: {describe_cpu(local_cpu())}, {provider}, {threads} thread(s){mode}; "
        "phrases/s through the scorer's batching, median of timed passes"
    )
    rows = [list(COLUMNS)]
    for name, figures in verification.figures.items():
        invariant = manifest.variant(name).batch_invariant
        rows.append(_row(name, figures, invariant, verification.speeds))
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(COLUMNS))]
    lines = [header]
    lines += [
        "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    for name, figures in verification.figures.items():
        if figures.checked and not figures.passed:
            lines.append(f"{name} FAILED here: " + "; ".join(figures.failures))
        elif not figures.checked:
            lines.append(f"{name} not run here: {figures.reason}")
    if isinstance(choice, NoVariantPasses):
        lines.append(f"auto would pick no variant: {choice}")
        return lines
    lines.append(f"auto would pick {choice.variant}: {choice.why()}")
    return lines + [f"  {name}: {reason}" for name, reason in choice.reasons.items()]


def table_json(
    verification: Verification, choice: VariantChoice | NoVariantPasses
) -> dict[str, Any]:
    """What `verify --all --json` adds to the verification's JSON: speeds relative to fp32
    and the pick (or, where none qualifies, why)."""
    fp32 = verification.speeds.get("fp32")
    relative = {name: s / fp32 for name, s in verification.speeds.items()} if fp32 else {}
    auto = (
        {"variant": None, "error": str(choice)}
        if isinstance(choice, NoVariantPasses)
        else choice.to_dict()
    )
    return {"x_fp32": relative, "auto": auto}

"""`--variant auto`: the fastest variant that passes the parity gate on this machine.

Which variant is fastest depends on the CPU's int8 kernels and the onnxruntime version, so
it is measured where the scoring runs: `reviewscore verify`'s parity check of every variant
the scorer runs, then each one timed (parity/verify.py, score/variant_timing.py). The
measurement is cached (score/variant_cache.py) under a key of everything it depends on, so
a second start on the same machine costs no model run.

The rule (`choose_variant`, pure): among variants that pass the gate here, the fastest;
batch-invariant ones only, since the folder's default makes that promise and users rely on
it, unless the caller allows batch-dependent ones (`allow_batch_dependent`, the CLI's
--allow-batch-dependent); never a strings-in (edge) variant, which the scorer cannot feed.

`DeployedClassifier.open(deploy, "auto", ...)` calls `resolve_auto_variant`, so every entry
point that opens a classifier (score, serve, the Python API) resolves `auto` the same way;
the Ray engine resolves it once on the driver and gives the actors the variant chosen.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reviewscore.deploy_folder import Manifest, load_manifest
from reviewscore.errors import FolderError, ReviewscoreError, UsageError

if TYPE_CHECKING:
    from reviewscore.parity.verify import Verification

AUTO = "auto"
ALLOW_BATCH_DEPENDENT = "--allow-batch-dependent"


class NoVariantPasses(ReviewscoreError):
    """`--variant auto` found no variant it may pick here: exit 3, as a failed parity gate."""

    exit_code = 3


@dataclass(frozen=True)
class Candidate:
    """What the rule needs to know about one variant, as measured on this machine."""

    name: str
    passed: bool  # the parity gate, here
    failures: tuple[str, ...]  # why not, when it did not pass (or could not run)
    batch_invariant: bool  # as the manifest records it
    takes_text: bool = False  # a strings-in (edge) variant
    phrases_per_second: float | None = None  # here; None when it could not run

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "failures": list(self.failures)}

    @classmethod
    def from_dict(cls, data: Any) -> Candidate:
        """A cached candidate; ValueError for anything that is not one."""
        kinds = {
            "name": str,
            "passed": bool,
            "failures": list,
            "batch_invariant": bool,
            "takes_text": bool,
            "phrases_per_second": (int, float, type(None)),
        }
        if not isinstance(data, dict) or set(data) != set(kinds):
            raise ValueError("a variant entry has the wrong fields")
        for name, kind in kinds.items():
            if not isinstance(data[name], kind):
                raise ValueError(f"a variant's {name!r} is not what it should be")
        if not all(isinstance(f, str) for f in data["failures"]):
            raise ValueError("a variant's failures are not texts")
        return cls(**{**data, "failures": tuple(data["failures"])})


@dataclass(frozen=True)
class VariantChoice:
    """The variant picked, the runner-up (the next fastest it could have picked), and why
    each other variant was not picked."""

    variant: str
    runner_up: str | None
    candidates: tuple[Candidate, ...]
    reasons: dict[str, str]
    allow_batch_dependent: bool

    def speed(self, name: str) -> float | None:
        return next(c.phrases_per_second for c in self.candidates if c.name == name)

    def why(self) -> str:
        """'the fastest variant that passes ... here (812 phrases/s); runner-up fp32 (540
        phrases/s)': figures measured on this machine only."""
        among = "" if self.allow_batch_dependent else " and is batch-invariant"
        text = (
            f"the fastest variant that passes the parity gate here{among} "
            f"({self.speed(self.variant):,.0f} phrases/s)"
        )
        if self.runner_up is None:
            return text + "; no other variant could be picked"
        return text + f"; runner-up {self.runner_up} ({self.speed(self.runner_up):,.0f} phrases/s)"

    def to_dict(self) -> dict[str, Any]:
        return {
            "variant": self.variant,
            "runner_up": self.runner_up,
            "phrases_per_second": {c.name: c.phrases_per_second for c in self.candidates},
            "allow_batch_dependent": self.allow_batch_dependent,
            "why": self.why(),
            "not_picked": self.reasons,
        }


def choose_variant(
    candidates: Sequence[Candidate], *, allow_batch_dependent: bool = False
) -> VariantChoice:
    """The rule, on measurements given (tests inject them): the fastest candidate that
    passed here, is batch-invariant (unless `allow_batch_dependent`) and takes token ids.
    NoVariantPasses, naming each candidate's reason, when none qualifies."""
    reasons: dict[str, str] = {}
    eligible: list[Candidate] = []
    for c in candidates:
        if c.takes_text:
            reasons[c.name] = "a strings-in (edge) variant: the scorer feeds token ids"
        elif c.phrases_per_second is None:
            reasons[c.name] = "; ".join(("could not run here", *c.failures))
        elif not c.passed:
            reasons[c.name] = "fails the parity gate here: " + "; ".join(c.failures)
        elif not c.batch_invariant and not allow_batch_dependent:
            reasons[c.name] = (
                f"not batch-invariant (passes here, {c.phrases_per_second:,.0f} phrases/s); "
                f"{ALLOW_BATCH_DEPENDENT} lets auto pick it"
            )
        else:
            eligible.append(c)
    if not eligible:
        listed = " | ".join(f"{name}: {reason}" for name, reason in reasons.items())
        raise NoVariantPasses(f"--variant auto: no variant can be picked on this machine: {listed}")
    # Fastest first; among equals, the manifest's order (the sort is stable).
    ranked = sorted(eligible, key=lambda c: -(c.phrases_per_second or 0.0))
    for c in ranked[1:]:
        reasons[c.name] = f"slower here ({c.phrases_per_second:,.0f} phrases/s)"
    return VariantChoice(
        variant=ranked[0].name,
        runner_up=ranked[1].name if len(ranked) > 1 else None,
        candidates=tuple(candidates),
        reasons={c.name: reasons[c.name] for c in candidates if c.name in reasons},
        allow_batch_dependent=allow_batch_dependent,
    )


def candidates_of(verification: Verification, manifest: Manifest) -> list[Candidate]:
    """The rule's view of a timed verification (`verify_folder(..., timed=True)`)."""
    out = []
    for name, figures in verification.figures.items():
        # not checked: the provider cannot run it, and the reason onnxruntime gave
        failures = figures.failures if figures.checked else tuple(filter(None, [figures.reason]))
        out.append(
            Candidate(
                name=name,
                passed=figures.checked is not False and figures.passed,
                failures=tuple(failures),
                batch_invariant=manifest.variant(name).batch_invariant,
                phrases_per_second=verification.speeds.get(name),
            )
        )
    return out


def check_allow_batch_dependent(variant: str | None, allow_batch_dependent: bool) -> None:
    """The opt-in only means something to `auto`: with a named variant it is refused
    rather than silently ignored."""
    if allow_batch_dependent and variant != AUTO:
        raise UsageError(f"{ALLOW_BATCH_DEPENDENT} applies to --variant auto only")


@dataclass(frozen=True)
class AutoVariant:
    """`auto` resolved: the choice, what the measurement was keyed by (this machine), and
    whether it came from the cache or was measured now (then with its verification)."""

    choice: VariantChoice
    measured_with: dict[str, Any]
    from_cache: bool
    verification: Verification | None = None

    @property
    def variant(self) -> str:
        return self.choice.variant

    def summary(self) -> str:
        """For the summary line and the server's log: the pick, the runner-up, both speeds."""
        choice = self.choice
        text = f"picked by --variant auto, {choice.speed(choice.variant):,.0f} phrases/s here"
        if choice.runner_up is not None:
            text += (
                f"; runner-up {choice.runner_up}, "
                f"{choice.speed(choice.runner_up):,.0f} phrases/s here"
            )
        return text + ("; cached measurement" if self.from_cache else "")

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.choice.to_dict(),
            "from_cache": self.from_cache,
            "measured_with": self.measured_with,
        }


def _warn_on_stderr(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


def measure(
    deploy_dir: Path, manifest: Manifest, *, provider: str, threads: int | None
) -> Verification:
    """The parity check and timing of every variant the scorer runs, here."""
    from reviewscore.parity.verify import verify_folder
    from reviewscore.score.classifier import scorer_variants

    if manifest.parity_reference is None:
        raise FolderError(
            f"{deploy_dir}: --variant auto checks each variant against the export's stored "
            "parity reference, and this folder has none; re-export it with the parity gate, "
            "or name a variant with --variant"
        )
    return verify_folder(
        deploy_dir, scorer_variants(manifest), provider=provider, threads=threads, timed=True
    )


def resolve_auto_variant(
    deploy_dir: str | Path,
    *,
    provider: str = "cpu",
    threads: int | None = None,
    allow_batch_dependent: bool = False,
    remeasure: bool = False,
    warn: Callable[[str], None] = _warn_on_stderr,
) -> AutoVariant:
    """The variant `auto` means for `deploy_dir` with this provider and thread count: from
    the cache when this machine measured it already (no model run), else measured now and
    cached. `remeasure` skips the cache (`score --verify`: the check is the measurement).
    A cache that cannot be read or written costs a new measurement and one warning, never
    the run. NoVariantPasses (exit 3) when no variant qualifies."""
    from reviewscore.score.variant_cache import (
        CacheUnreadable,
        cache_file,
        measurement_key,
        read_cached,
    )

    deploy_dir = Path(deploy_dir)
    manifest = load_manifest(deploy_dir, verify=False)
    key = measurement_key(deploy_dir, provider=provider, threads=threads)
    path = cache_file(key)
    problems: list[str] = []
    candidates = None
    if not remeasure:
        try:
            candidates = read_cached(path, key)
        except CacheUnreadable as exc:
            problems.append(
                f"the cached variant timings {path} are unreadable ({exc}): measured again"
            )
    verification = None
    if candidates is None:
        verification = measure(deploy_dir, manifest, provider=provider, threads=threads)
        candidates = candidates_of(verification, manifest)
        problems += _cache(path, key, candidates)
    if problems:
        warn("; ".join(problems))
    choice = choose_variant(candidates, allow_batch_dependent=allow_batch_dependent)
    return AutoVariant(choice, key, from_cache=verification is None, verification=verification)


def record_measurement(
    deploy_dir: str | Path,
    manifest: Manifest,
    verification: Verification,
    *,
    provider: str,
    threads: int | None,
    warn: Callable[[str], None] = _warn_on_stderr,
) -> None:
    """Cache a timed verification of every scorer variant (`verify --all`'s), so that a
    later `--variant auto` with the same provider and threads needs no model run.
    `manifest`: the folder's, as the caller read it (not read again here)."""
    from reviewscore.score.variant_cache import cache_file, measurement_key

    key = measurement_key(Path(deploy_dir), provider=provider, threads=threads)
    problems = _cache(cache_file(key), key, candidates_of(verification, manifest))
    if problems:
        warn(problems[0])


def _cache(path: Path, key: dict[str, Any], candidates: list[Candidate]) -> list[str]:
    """Write the cache file; the problem, for the caller's one warning, if that fails."""
    from reviewscore.score.variant_cache import write_cached

    try:
        write_cached(path, key, candidates)
    except OSError as exc:
        return [
            f"could not cache the variant timings in {path} ({exc.strerror or exc}): "
            "the next start measures again"
        ]
    return []

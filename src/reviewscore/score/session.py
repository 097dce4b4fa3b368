"""onnxruntime sessions: provider choice that never falls back silently."""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from reviewscore.cpu_features import int8_pairs_may_saturate, local_cpu
from reviewscore.errors import ReviewscoreError, UsageError

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
PROVIDER_CHOICES = ("auto", "cpu", "cuda")
DEFAULT_PROVIDER = "auto"  # what `score`, `verify` and `reviewscore.load` ask for
# onnxruntime's kOrtSessionOptionsAvx2PrecisionMode: rewrite 8-bit s8 weights of quantised
# matrix products to u8, so the u8 x u8 kernels (exact, slower) run instead of the u8 x s8
# ones that saturate without VNNI. Weights within 7 bits (int8-dynamic's) are left as they
# are: their pairs cannot saturate.
EXACT_INT8_CONFIG = "session.x64quantprecision"
# "1" or "0" forces the mode where /proc/cpuinfo misleads: qemu-user shows the host's CPU.
EXACT_INT8_ENV = "REVIEWSCORE_EXACT_INT8"


class ProviderError(ReviewscoreError):
    """The requested execution provider cannot be used."""


def check_single_onnxruntime() -> None:
    """onnxruntime and onnxruntime-gpu install the same module; with both, whichever was
    installed last silently wins, so refuse rather than guess which one is running."""
    installed = []
    for dist in ("onnxruntime", "onnxruntime-gpu"):
        try:
            version(dist)
            installed.append(dist)
        except PackageNotFoundError:
            continue
    if len(installed) == 2:
        raise ProviderError(
            "both onnxruntime and onnxruntime-gpu are installed; they provide the same module. "
            "Keep one: `pip uninstall -y onnxruntime onnxruntime-gpu && pip install "
            "onnxruntime-gpu` (GPU) or `... && pip install onnxruntime` (CPU)"
        )


def resolve_providers(requested: str, available: list[str]) -> list[str]:
    """The providers to ask for, most preferred first. `auto` takes CUDA when the installed
    onnxruntime offers it; `cuda` insists on it."""
    if requested not in PROVIDER_CHOICES:
        raise ProviderError(f"unknown provider {requested!r}; choose from {PROVIDER_CHOICES}")
    if requested == "cpu":
        return [CPU]
    if CUDA in available:
        return [CUDA, CPU]
    if requested == "cuda":
        raise ProviderError(
            f"--provider cuda: this onnxruntime offers only {', '.join(available)}; "
            "install the [gpu] extra (onnxruntime-gpu) and check the CUDA libraries"
        )
    return [CPU]


def default_threads() -> int:
    """Physical cores where we can tell, else logical: ORT's intra-op threads scale with
    cores, and hyper-threads mostly add contention."""
    if hasattr(os, "sched_getaffinity"):  # the CPUs this process may run on (containers)
        logical = len(os.sched_getaffinity(0))
    else:
        logical = os.cpu_count() or 1
    try:
        with open("/sys/devices/system/cpu/smt/active") as handle:
            smt = handle.read().strip() == "1"
    except OSError:
        smt = False
    return max(1, logical // 2) if smt else logical


def exact_int8_wanted() -> bool:
    """Whether to ask onnxruntime for exact int8 products: on a CPU whose u8 x s8 kernels may
    saturate, where int8-static's 8-bit weights would move labels
    (docs/verify-and-int8.md#int8-and-the-cpu). Not on VNNI/AMX, where those kernels are
    already exact and the u8 x u8 ones only slow int8-static down."""
    forced = os.environ.get(EXACT_INT8_ENV)
    if forced is None:
        return int8_pairs_may_saturate(local_cpu())
    if forced not in ("0", "1"):
        raise UsageError(f"{EXACT_INT8_ENV} must be 0 or 1, not {forced!r}")
    return forced == "1"


@dataclass
class Session:
    inner: object  # onnxruntime.InferenceSession
    provider: str  # the provider actually running the model
    exact_int8: bool = False  # onnxruntime was asked for exact int8 products (see above)

    @property
    def on_cuda(self) -> bool:
        return self.provider == CUDA


def session_options(threads: int | None, exact_int8: bool) -> Any:
    """The scorer's onnxruntime.SessionOptions, shared with the strings-in (edge) sessions so
    the export's check compares like with like. Memory pattern and CPU arena stay on
    (onnxruntime's defaults): the token budget caps the largest batch, so the arena stays
    small; turning either off was measured slower, without lowering peak memory."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads or default_threads()
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    if exact_int8:
        options.add_session_config_entry(EXACT_INT8_CONFIG, "1")
    return options


def open_session(
    model_path: Path,
    *,
    provider: str = "cpu",
    threads: int | None = None,
    exact_int8: bool | None = None,
) -> Session:
    """Create the session and check what it really got: a CUDA provider that failed to load
    is only a log line in onnxruntime, here it is an error. `exact_int8`: by default
    `exact_int8_wanted()`, exact int8 products on a CPU without VNNI or AMX; benchmarks set
    it to compare the two modes."""
    import onnxruntime as ort

    check_single_onnxruntime()
    wanted = resolve_providers(provider, ort.get_available_providers())
    if exact_int8 is None:
        exact_int8 = exact_int8_wanted()
    options = session_options(threads, exact_int8)
    session = ort.InferenceSession(str(model_path), options, providers=wanted)
    got = session.get_providers()
    if wanted[0] == CUDA and CUDA not in got:
        if provider == "cuda":
            raise ProviderError(
                "--provider cuda: onnxruntime could not start the CUDA provider "
                f"(running on {', '.join(got)}); check the CUDA and cuDNN libraries"
            )
        wanted = [CPU]
    return Session(
        inner=session, provider=got[0] if wanted[0] == CUDA else CPU, exact_int8=exact_int8
    )

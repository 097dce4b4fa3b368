"""The CPU a parity figure was measured on, and the class of int8 kernels it gets.

onnxruntime's MLAS picks its int8 matrix-multiply kernels from the CPU's instruction sets
(preferring AMX, then AVX-512 VNNI, AVX-VNNI, AVX-512, AVX2). Kernels without VNNI sum u8 x
s8 products pairwise in saturating int16 (AVX2's vpmaddubsw), the VNNI and AMX ones exactly
in int32, so an int8 variant's logits, and near a margin its labels, depend on that class
unless the saturating kernels are avoided (the scorer does: score/session.py). Even then
other kernels round floats differently, as fp32 and fp16 differ only by summation order
(~1e-6). Read from /proc/cpuinfo; elsewhere every field is "unknown".

Kept free of torch and transformers: the scorer imports it.
"""

from __future__ import annotations

import platform
from typing import Any

CPUINFO = "/proc/cpuinfo"
UNKNOWN = "unknown"
# The flags (as /proc/cpuinfo spells them) that decide which int8 kernels MLAS runs.
ISA_FEATURES = (
    "avx2",
    "avx512f",
    "avx512bw",
    "avx512_vnni",
    "avx_vnni",
    "amx_tile",
    "amx_int8",
)
# MLAS's order of preference: the first class whose flags are all present.
ISA_CLASSES = (
    ("amx", ("amx_tile", "amx_int8")),
    ("avx512-vnni", ("avx512bw", "avx512_vnni")),
    ("avx-vnni", ("avx2", "avx_vnni")),
    ("avx512", ("avx512bw",)),
    ("avx2", ("avx2",)),
)

# The x86 classes without VNNI or AMX, whose u8 x s8 kernels sum products pairwise in
# saturating int16 (how their int8 speed compares with fp32 differs from one such CPU to
# the next: `reviewscore verify --all` measures it where it matters).
SATURATING_INT8_CLASSES = ("avx512", "avx2")
# The classes whose u8 x s8 kernels sum in int32 (VNNI, AMX): exact for any int8 weights.
EXACT_INT8_CLASSES = ("amx", "avx512-vnni", "avx-vnni")


def isa_class(flags: set[str]) -> str:
    """The int8 kernel class of a CPU with `flags`; "other" for one without AVX2 (an old
    x86, or ARM, whose /proc/cpuinfo names its features differently)."""
    for name, needed in ISA_CLASSES:
        if all(flag in flags for flag in needed):
            return name
    return "other"


def int8_pairs_may_saturate(record: dict[str, Any]) -> bool:
    """Whether onnxruntime's u8 x s8 kernels may saturate on the CPU of `record`: on every
    x86 without VNNI or AMX (AVX2, AVX-512 alone, SSE4.1), and, to be safe, on a CPU whose
    class cannot be read (onnxruntime ignores the remedy off x86, so it costs nothing there)."""
    return record.get("isa_class", UNKNOWN) not in EXACT_INT8_CLASSES


def parse_cpuinfo(text: str) -> dict[str, Any]:
    """Model name, vendor, the ISA features above and their class, from the first processor
    of a /proc/cpuinfo text (all processors of a machine report the same)."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if fields:
                break
            continue
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    flags = set(fields.get("flags", "").split())
    if not flags:
        return _unknown(fields.get("model name", UNKNOWN))
    return {
        "cpu": fields.get("model name", UNKNOWN),
        "vendor": fields.get("vendor_id", UNKNOWN),
        "features": [flag for flag in ISA_FEATURES if flag in flags],
        "isa_class": isa_class(flags),
    }


def local_cpu() -> dict[str, Any]:
    """This machine's record; where there is no /proc/cpuinfo (macOS, Windows), the
    processor name Python reports and "unknown" for the rest."""
    try:
        with open(CPUINFO, encoding="utf-8", errors="replace") as handle:
            return parse_cpuinfo(handle.read())
    except OSError:
        return _unknown(platform.processor() or UNKNOWN)


def _unknown(cpu: str) -> dict[str, Any]:
    return {"cpu": cpu, "vendor": UNKNOWN, "features": [], "isa_class": UNKNOWN}


def measured_on(provider: str, exact_int8: bool) -> dict[str, Any]:
    """What a parity entry records about where it was measured, and whether onnxruntime was
    asked for exact int8 products (score/session.py)."""
    import onnxruntime

    return {
        **local_cpu(),
        "onnxruntime": onnxruntime.__version__,
        "provider": provider,
        "exact_int8": exact_int8,
    }


def describe_cpu(record: dict[str, Any]) -> str:
    """'avx512-vnni (Intel(R) Xeon(R) ...)' for messages."""
    return f"{record.get('isa_class', UNKNOWN)} ({record.get('cpu', UNKNOWN)})"

"""The label schema shared by every stage: five ordered sentiment classes."""

from __future__ import annotations

LABEL_NAMES: tuple[str, ...] = (
    "negative",
    "somewhat negative",
    "neutral",
    "somewhat positive",
    "positive",
)
NUM_LABELS = len(LABEL_NAMES)


def parse_label(raw: str) -> int:
    """Parse one label cell; raises ValueError with a message fit for a user."""
    text = raw.strip()
    try:
        value = int(text)
    except ValueError:
        raise ValueError(
            f"label {raw!r} is not an integer (expected 0..{NUM_LABELS - 1})"
        ) from None
    if not 0 <= value < NUM_LABELS:
        raise ValueError(f"label {value} is outside 0..{NUM_LABELS - 1}")
    return value

"""Which columns of a review file hold what. Defaults follow the Kaggle movie-review files."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Columns:
    text: str = "Phrase"
    label: str = "Sentiment"
    id: str = "PhraseId"
    group: str = "SentenceId"

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

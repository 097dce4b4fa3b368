"""Option types and options the `reviewscore` commands share, declared once."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import click


class ChoiceWithOldNames(click.Choice):
    """A choice that also takes the old names of its values, unlisted in --help and in the
    error for a bad value; the value is passed on as written, so the stage that owns the
    names turns an old one into its new one (with its deprecation note) in one place."""

    def __init__(self, choices: Iterable[str], old_names: Iterable[str]) -> None:
        super().__init__(list(choices))
        self.old_names = frozenset(old_names)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if value in self.old_names:
            return value
        return super().convert(value, param, ctx)

"""A click command whose `--help` lists its options in named sections.

click has no option groups; a command with twenty-odd options is easier to read with them
(input, output, model, ...). Options no section names are listed last, under "Other".
"""

from __future__ import annotations

from typing import Any

import click


class SectionedCommand(click.Command):
    """`sections` maps a section's title to the names of its parameters, in help order."""

    def __init__(self, *args: Any, sections: dict[str, list[str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sections = sections

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        records = {
            param.name: record
            for param in self.get_params(ctx)
            if not isinstance(param, click.Argument)
            and (record := param.get_help_record(ctx)) is not None
        }
        for title, names in self.sections.items():
            with formatter.section(title):
                formatter.write_dl([records.pop(name) for name in names])
        if records:
            with formatter.section("Other"):
                formatter.write_dl(list(records.values()))

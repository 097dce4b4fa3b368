"""Errors a user can act on. The CLI prints their message and exits non-zero, no traceback."""

from __future__ import annotations


class ReviewscoreError(Exception):
    """Base class: anything raised as this is a user-facing problem, not a bug."""

    exit_code = 1


class DataError(ReviewscoreError):
    """Bad input data, located as precisely as we can: file, line, column."""

    def __init__(
        self, source: str, message: str, *, line: int | None = None, column: str | None = None
    ) -> None:
        self.source = source
        self.line = line
        self.column = column
        self.detail = message
        where = source
        if line is not None:
            where += f", line {line}"
        if column is not None:
            where += f", column {column}"
        super().__init__(f"{where}: {message}")

    def __reduce__(self):
        """Rebuild from the constructor's own arguments: the default pickling of an exception
        calls `cls(*self.args)`, i.e. with the formatted message alone, which fails for this
        signature or loses the fields (Ray pickles errors raised in its tasks)."""
        return _rebuild_data_error, (self.source, self.detail, self.line, self.column)


def _rebuild_data_error(
    source: str, detail: str, line: int | None, column: str | None
) -> DataError:
    return DataError(source, detail, line=line, column=column)


class TextError(ReviewscoreError, ValueError):
    """A text the model cannot take: not a string, or one UTF-8 cannot encode (a lone
    surrogate such as "\\ud800", which JSON's "\\ud800" escape and Python strings allow).
    `index` is its position in the list given, so each caller can name it its own way
    (serve: texts[i]; score: the file's line)."""

    def __init__(self, index: int, problem: str) -> None:
        self.index = index
        self.problem = problem
        super().__init__(f"texts[{index}] {problem}")

    def __reduce__(self) -> tuple[type[TextError], tuple[int, str]]:
        """Rebuilt from its own arguments (Ray pickles errors raised in its tasks)."""
        return type(self), (self.index, self.problem)


class UsageError(ReviewscoreError):
    """Options that do not go together. Raised where the policy lives (an engine's
    options), shown by the CLI as a usage error: exit code 2, as click's own."""

    exit_code = 2


class FolderError(ReviewscoreError):
    """A run or deploy folder that is missing, incomplete or tampered with."""


class OutputError(ReviewscoreError):
    """An output that cannot be written where the user asked (bad path, permission, full disk)."""

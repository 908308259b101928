"""Errors a user can act on.

Every failure caused by the user's input (a bad file, a bad flag) is raised as a `UserError`
subclass; the CLI prints its message and exits with `exit_code` instead of a traceback.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USER = 2


class UserError(Exception):
    """Something the user can fix; the message says what and where."""

    exit_code = EXIT_USER


class DataError(UserError):
    """An input file cannot be read as telemetry (format, encoding, emptiness).

    `path` names the file; `column`, `rule` and `rows` narrow the problem down where they apply;
    `message` is the bare description (str(error) adds the path and the rest in front of it).
    """

    def __init__(
        self,
        path: str,
        message: str,
        *,
        column: str | None = None,
        rule: str | None = None,
        rows: list[int] | None = None,
    ) -> None:
        self.path = str(path)
        self.message = message
        self.column = column
        self.rule = rule
        self.rows = list(rows or [])
        where = self.path
        if column:
            where += f", column '{column}'"
        if rule:
            where += f", rule '{rule}'"
        if self.rows:
            where += f", rows {', '.join(str(r) for r in self.rows[:5])}"
        super().__init__(f"{where}: {message}")


class ConfigError(UserError):
    """A flag or configuration value is invalid."""

"""The monitor's exceptions: one base class, one subclass per area.

`str()` of every error is one sentence that says what went wrong and where, fit to print as is.
The CLI maps them to exit codes in one place.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, order=True)
class Problem:
    """One finding in a file, printed as `file:line:col: message`."""

    file: str
    line: int
    col: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.message}"


class MonitorError(Exception):
    """Base of every error the monitor reports to a person instead of a traceback."""

    exit_code = 1


class UsageError(MonitorError):
    """The command line itself is wrong."""

    exit_code = 2


class ConfigError(MonitorError):
    """indicators.yaml (or another config file) is invalid; carries every problem at once."""

    def __init__(self, problems: list[Problem]) -> None:
        # A mistake in a shared list is found once per use of the list: say it once.
        self.problems = sorted(set(problems))
        super().__init__("\n".join(str(p) for p in self.problems))


class FeedError(MonitorError):
    """A feed could not be fetched or read."""


class StoreError(MonitorError):
    """The database could not be opened, migrated or written."""


class MailError(MonitorError):
    """Mail could not be sent: settings missing or wrong, or the mail server refused or failed.

    `what` is the reason as a clause ("the mail server at host:25 refused the login"), so a
    caller can say what it means ("..., so the digest was not sent"); str() is the sentence."""

    def __init__(self, what: str) -> None:
        self.what = what
        super().__init__(what[:1].upper() + what[1:] + ".")

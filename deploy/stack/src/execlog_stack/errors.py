"""Errors raised by execlog_stack; each carries one line a person can act on."""

from __future__ import annotations


class StackError(RuntimeError):
    """Something the stack needs is missing or failed; ``str(err)`` is one actionable line."""


class MissingBinaryError(StackError):
    """A program is not installed; the message names the Debian package that provides it."""

    def __init__(self, program: str, package: str, searched: str = "PATH") -> None:
        self.program = program
        self.package = package
        super().__init__(
            f"{program} not found (searched {searched}): "
            f"install the Debian package '{package}' (apt-get install {package})"
        )


class ProcessFailedError(StackError):
    """A managed process exited or never became ready; ``log_tail`` holds its last output."""

    def __init__(self, message: str, log_tail: str = "") -> None:
        self.log_tail = log_tail
        super().__init__(message)

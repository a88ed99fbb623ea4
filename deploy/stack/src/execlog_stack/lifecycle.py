"""``Lifecycle``: the start/stop context-manager protocol every piece of a stack follows."""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self


class Lifecycle(ABC):
    """Something that is started and stopped: ``with X(...) as x:`` starts it, leaving stops it.

    Entering starts it unless :meth:`_started_already` says it runs already (a process
    restarted by hand before the ``with``).
    """

    @abstractmethod
    def start(self) -> Self:
        """Start and return self."""

    @abstractmethod
    def stop(self) -> object:
        """Stop and release what :meth:`start` took."""

    def _started_already(self) -> bool:
        return False

    def __enter__(self) -> Self:
        return self if self._started_already() else self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

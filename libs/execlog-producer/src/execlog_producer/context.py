"""Bind an execution to a block of code once, for the logging bridges to find.

``with bind_execution(execution_id, node_id="n1", component="runner"):`` sets a context
variable for the block (``async with`` works too); :func:`current_binding` returns it, or
``None`` outside any block. A nested bind replaces the whole binding (no field is inherited
from the outer one) and the outer binding is back when the nested block ends. Being a
``contextvars.ContextVar``, the binding follows ``await`` and is copied into every asyncio task
(and ``contextvars.copy_context().run``) created inside the block; a thread started by hand
does not inherit it.

The bridges (:mod:`execlog_producer.logging_bridge`, :mod:`execlog_producer.structlog_bridge`)
resolve where a line belongs with :func:`binding_for`: fields the line carries itself win, the
bound ``node_id`` / ``component`` fill the gaps only for the bound execution.
"""

from __future__ import annotations

import uuid
from contextvars import ContextVar, Token
from dataclasses import dataclass
from types import TracebackType


@dataclass(frozen=True)
class ExecutionBinding:
    """The execution a line belongs to, with the node and component when known."""

    execution_id: uuid.UUID
    node_id: str | None = None
    component: str | None = None


_CURRENT_BINDING: ContextVar[ExecutionBinding | None] = ContextVar(
    "execlog_execution_binding", default=None
)


def as_execution_id(value: object) -> uuid.UUID:
    """``value`` as a ``uuid.UUID`` (a UUID, or its text); ValueError when it is neither."""
    if isinstance(value, uuid.UUID):
        return value
    if isinstance(value, str):
        return uuid.UUID(value)
    text = str(value)  # uuid_utils.UUID and other UUID-like objects print their canonical text
    try:
        return uuid.UUID(text)
    except ValueError:
        raise ValueError(f"execution_id must be a UUID, got {type(value).__name__}") from None


class ExecutionScope:
    """The context manager :func:`bind_execution` returns (``with`` or ``async with``).

    One scope may be entered again after it exited, but not while it is active.
    """

    def __init__(self, binding: ExecutionBinding) -> None:
        self.binding = binding
        self._token: Token[ExecutionBinding | None] | None = None

    def __enter__(self) -> ExecutionBinding:
        if self._token is not None:
            raise RuntimeError("this bind_execution scope is already active")
        self._token = _CURRENT_BINDING.set(self.binding)
        return self.binding

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        token, self._token = self._token, None
        if token is not None:
            _CURRENT_BINDING.reset(token)

    async def __aenter__(self) -> ExecutionBinding:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, traceback)


def bind_execution(
    execution_id: uuid.UUID | str, node_id: str | None = None, component: str | None = None
) -> ExecutionScope:
    """Bind ``execution_id`` (and ``node_id``, ``component``) for a ``with`` block.

    The id is checked here: ValueError when it is not a UUID (or its text).
    """
    return ExecutionScope(ExecutionBinding(as_execution_id(execution_id), node_id, component))


def current_binding() -> ExecutionBinding | None:
    """The binding of the innermost active :func:`bind_execution` block, else ``None``."""
    return _CURRENT_BINDING.get()


def binding_for(
    execution_id: object = None, node_id: str | None = None, component: str | None = None
) -> ExecutionBinding | None:
    """Where a line belongs: its own fields, completed from the current binding.

    With no ``execution_id`` of its own the line belongs to the bound execution (``None`` when
    nothing is bound); ``node_id`` / ``component`` it carries win over the bound ones, which
    are used only when the line's execution is the bound one. ValueError when
    ``execution_id`` is given but is not a UUID.
    """
    bound = current_binding()
    if execution_id is None:
        if bound is None:
            return None
        own_id = bound.execution_id
    else:
        own_id = as_execution_id(execution_id)
    if bound is not None and bound.execution_id == own_id:
        node_id = bound.node_id if node_id is None else node_id
        component = bound.component if component is None else component
    return ExecutionBinding(own_id, node_id, component)

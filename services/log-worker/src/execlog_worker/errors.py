"""Classification of write errors: permanent (dead-letter now) or transient (retry later)."""

from __future__ import annotations

import asyncpg  # type: ignore[import-untyped,unused-ignore]

_PERMANENT: tuple[type[BaseException], ...] = (
    asyncpg.exceptions.DataError,
    asyncpg.exceptions.IntegrityConstraintViolationError,
    asyncpg.exceptions.ProgramLimitExceededError,
)


def is_permanent(exc: BaseException) -> bool:
    """True when retrying the same batch cannot succeed (bad data, constraint, size limit)."""
    return isinstance(exc, _PERMANENT)


def describe(exc: BaseException) -> str:
    """One line naming the error, without a traceback (for logs and dead-letter reasons)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    sqlstate = getattr(exc, "sqlstate", None)
    code = f" [{sqlstate}]" if isinstance(sqlstate, str) else ""
    return f"{type(exc).__name__}{code}: {text}"[:500] if text else f"{type(exc).__name__}{code}"

"""Opaque cursors (base64url JSON) of the log list and of the live tail.

Orders, and why:
- the LIST is ordered by (created_at, id) — the time order a reader expects. A page only shows
  rows whose writing transaction is below a watermark W taken before the first page (every
  transaction that can still add rows has txid >= W, see ``execlog_worker.api.queries``), so
  that set never changes; W travels in the cursor. Paging through gives exactly
  {rows with txid < W}: no gap or repeat even while writers commit out of created_at order.
- the TAIL is ordered by (txid, seq): txid is the writing transaction (xid8), seq a sequence
  value taken at insert. A poll only returns rows below the current watermark, so no
  transaction that could still commit lies behind the tail's position: a row is never
  skipped, whatever order workers commit in. (Cost: the tail waits for the oldest running
  transaction that writes execution_logs; other transactions do not hold it back.)
- every list page also returns ``tail_cursor`` = (W, -1): following the tail from it yields
  exactly {rows with txid >= W}. Backfill + follow = every row once.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from uuid import UUID

import orjson

Order = Literal["asc", "desc"]
_VERSION = 1


class CursorError(ValueError):
    """A cursor that cannot be used (malformed, or issued for another query)."""


def _encode(obj: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(obj)).decode().rstrip("=")


def _decode(text: str) -> dict[str, object]:
    if len(text) > 1024:
        raise CursorError("cursor too long")
    try:
        data = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise CursorError("malformed cursor") from None
    if not isinstance(data, dict) or data.get("v") != _VERSION:
        raise CursorError("malformed cursor")
    return data


@dataclass(frozen=True)
class TailPosition:
    """Position in the tail order: rows with (txid, seq) greater than this come next."""

    txid: int
    seq: int

    def encode(self) -> str:
        """Opaque form (also the SSE event id)."""
        return _encode({"v": _VERSION, "k": "t", "x": self.txid, "s": self.seq})

    @classmethod
    def decode(cls, text: str) -> TailPosition:
        """Parse a tail cursor, or a list cursor (its watermark is where its tail starts)."""
        data = _decode(text)
        if data.get("k") == "l":
            return ListCursor.decode(text).tail()
        x, s = data.get("x"), data.get("s")
        if data.get("k") != "t" or not isinstance(x, int) or not isinstance(s, int) or x < 0:
            raise CursorError("malformed tail cursor")
        return cls(txid=x, seq=s)


START = TailPosition(txid=0, seq=-1)


@dataclass(frozen=True)
class ListCursor:
    """Position in the list order, with the watermark and the query it belongs to."""

    order: Order
    created_at: datetime
    id: UUID
    watermark: int
    filters: str

    def encode(self) -> str:
        """Opaque form."""
        return _encode(
            {
                "v": _VERSION,
                "k": "l",
                "o": self.order,
                "c": self.created_at.isoformat(),
                "i": str(self.id),
                "w": self.watermark,
                "f": self.filters,
            }
        )

    @classmethod
    def decode(cls, text: str) -> ListCursor:
        """Parse a list cursor."""
        data = _decode(text)
        try:
            order, created, ident = data["o"], data["c"], data["i"]
            watermark, filters = data["w"], data["f"]
            if data.get("k") != "l" or order not in ("asc", "desc"):
                raise CursorError("not a list cursor")
            if not (isinstance(created, str) and isinstance(ident, str)):
                raise CursorError("malformed list cursor")
            if not (isinstance(watermark, int) and isinstance(filters, str)):
                raise CursorError("malformed list cursor")
            when = datetime.fromisoformat(created)
            if when.tzinfo is None:
                raise CursorError("malformed list cursor")
            return cls(order, when, UUID(ident), watermark, filters)
        except (KeyError, ValueError) as exc:
            if isinstance(exc, CursorError):
                raise
            raise CursorError("malformed list cursor") from None

    def tail(self) -> TailPosition:
        """Where a tail that follows this listing starts."""
        return TailPosition(txid=self.watermark, seq=-1)


def filters_fingerprint(*parts: object) -> str:
    """Short digest of the query a cursor was issued for (a cursor is only valid for it)."""
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]

"""Size and length limits of the log contract, stated once and enforced by the models.

Producers (``execlog_schema.builder``) sanitize and truncate so they never exceed them;
the consumer (``execlog_schema.codec.decode_batch``) rejects a batch that does.
"""

from typing import Final

MAX_RECORDS_PER_BATCH: Final = 500
"""A batch carries 1 to this many records."""

MAX_MESSAGE_CHARS: Final = 32_768
"""Longest ``LogRecord.message``, in Unicode code points (Python ``len``)."""

MAX_PAYLOAD_BYTES: Final = 65_536
"""Largest ``LogRecord.payload``, measured as its compact UTF-8 JSON encoding (orjson)."""

MAX_PAYLOAD_NESTING: Final = 254
"""Deepest payload nesting the contract allows: what orjson encodes; deeper is rejected."""

MAX_PAYLOAD_DEPTH: Final = 128
"""Nesting at which the payload conversion (``execlog_schema.payload``) cuts values."""

MAX_NODE_ID_LEN: Final = 255
MAX_COMPONENT_LEN: Final = 64
MAX_SERVICE_LEN: Final = 64
MAX_SERVICE_VERSION_LEN: Final = 64
MAX_HOST_LEN: Final = 255

MAX_ATTEMPT: Final = 2_147_483_647
"""``attempt`` fits a PostgreSQL ``integer``."""

MAX_PID: Final = 2_147_483_647

TRUNCATION_MARKER: Final = "…[truncated, {total} chars in all]"
"""Ends a message the producer cut to ``MAX_MESSAGE_CHARS`` (``{total}``: original length)."""

PAYLOAD_TRUNCATED_KEY: Final = "_execlog_truncated"
"""Key of the object that replaces an oversize payload on the producer side."""

PAYLOAD_PREVIEW_CHARS: Final = 1_024
"""How much of an oversize payload's JSON text the replacement object keeps as a preview."""

DEPTH_MARKER: Final = "…[max depth]"
"""Replaces payload values nested deeper than ``MAX_PAYLOAD_DEPTH`` (producer side)."""

"""TimescaleDB maintenance that DDMS runs itself: compressing the chunks of ``readings``.

TimescaleDB's own background jobs (compression and refresh policies) fail every run on PostgreSQL
15.19 and later (``cannot drop portal "" while it is being set up``), so DDMS adds none and calls
``compress_chunk`` from its retention job instead. Rollups are DDMS's tables on every backend
(``services.rollups``); retention drops whole chunks first (``services.retention``). Late readings
into a compressed chunk are accepted by TimescaleDB (kept uncompressed beside the compressed rows)
and marked dirty by the same trigger as anywhere; the next run recompresses that chunk.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import bindparam, text

from ddms import db
from ddms.models import UTCDateTime, utcnow

logger = logging.getLogger(__name__)

COMPRESS_AFTER = timedelta(days=7)
"""Chunks whose whole range is older than this are compressed (segmented by device, newest first)."""


async def compress_chunks(now: datetime | None = None, older_than: timedelta = COMPRESS_AFTER) -> int:
    """Compress every chunk of ``readings`` that ends before ``now - older_than`` and is not (or only
    partly: late readings arrived after its compression) compressed.

    One short transaction per chunk, so the writer and the readers wait at most for one chunk.
    Returns the number of chunks compressed (0 without TimescaleDB).
    """
    cutoff = (now or utcnow()) - older_than
    # Status bit 8 of TimescaleDB's chunk catalog: "partially compressed" (rows inserted after the
    # compression, late readings); the information view shows no such column. compress_chunk()
    # recompresses those.
    pending_sql = text(
        "SELECT format('%I.%I', i.chunk_schema, i.chunk_name) FROM timescaledb_information.chunks AS i "
        "JOIN _timescaledb_catalog.chunk AS c "
        "ON c.schema_name = i.chunk_schema AND c.table_name = i.chunk_name "
        "WHERE i.hypertable_name = 'readings' AND i.hypertable_schema = current_schema() "
        "AND i.range_end <= :cutoff AND (NOT i.is_compressed OR c.status & 8 = 8) ORDER BY i.range_start"
    ).bindparams(bindparam("cutoff", type_=UTCDateTime()))
    async with db.session_scope() as session:
        if not await db.is_timescale(session):
            return 0
        pending = list((await session.exec(pending_sql, params={"cutoff": cutoff})).scalars())  # type: ignore[call-overload]
    for chunk in pending:
        async with db.session_scope() as session:
            await session.exec(  # type: ignore[call-overload]
                text("SELECT compress_chunk(CAST(:chunk AS regclass), if_not_compressed => true)"),
                params={"chunk": chunk},
            )
            await session.commit()
    if pending:
        logger.info("compressed %d chunk(s) of readings older than %s", len(pending), cutoff)
    return len(pending)

"""``GET /metrics``: Prometheus text exposition (when PROMETHEUS_ENABLED).

The device-status gauge is computed here, once per scrape, never per request or per poll.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter
from starlette.responses import Response

from ddms import metrics
from ddms.api.deps import SessionDep
from ddms.db import is_outage
from ddms.services import live

logger = logging.getLogger(__name__)

router = APIRouter(tags=["system"])


@router.get("/metrics", include_in_schema=False)
async def scrape(session: SessionDep) -> Response:
    try:
        counts = await live.device_status_counts(session=session)
    except Exception as exc:  # the metrics must answer while the database is away
        if not is_outage(exc):
            raise
        logger.warning("metrics: device counts unavailable: %s", type(exc).__name__)
    else:
        for status, count in counts.items():
            metrics.DEVICES.labels(status).set(count)
    body, content_type = metrics.exposition()
    return Response(body, media_type=content_type)

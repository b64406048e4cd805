"""The baseline of benchmarks/api.py: a bare FastAPI app on uvicorn answering DDMS's own bytes.

    python -m benchmarks.api_bare PORT

No database, no auth, no middleware: the floor for the same payloads on the same server stack
(uvicorn with the same options as ``ddms serve``). The benchmark loads the bytes it captured from
DDMS with ``PUT /_bench/{name}`` (list, one, large, stream) before measuring.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator

import uvicorn
from fastapi import FastAPI, Request
from starlette.responses import Response, StreamingResponse

store: dict[str, bytes] = {}
app = FastAPI()


@app.put("/_bench/{name}")
async def load(name: str, request: Request) -> Response:
    store[name] = await request.body()
    return Response(status_code=204)


@app.get("/api/health")
async def health() -> Response:
    return Response(b'{"status":"healthy"}', media_type="application/json")


async def _frames() -> AsyncIterator[bytes]:
    yield store["stream"]
    while True:
        await asyncio.sleep(15)
        yield b": ping\n\n"


@app.get("/api/devices/stream")
async def stream() -> StreamingResponse:
    return StreamingResponse(
        _frames(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@app.get("/api/devices")
async def devices() -> Response:
    return Response(store["list"], media_type="application/json")


@app.get("/api/devices-large")
async def devices_large() -> Response:
    return Response(store["large"], media_type="application/json")


@app.get("/api/devices/{device_id}")
async def device(device_id: str) -> Response:
    return Response(store["one"], media_type="application/json")


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", proxy_headers=True)

"""The browser's CSV downloads are the REST export's own routes: same range parser, headers and errors."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta

from nicegui.testing import User

from ddms.models import User as Account
from tests.history.helpers import add_rows
from tests.pages.helpers import make_device, make_group

T0 = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)


async def test_signed_in_download_parses_and_answers_like_the_api(
    user: User, reader: Account, sign_in
) -> None:
    boiler = await make_device("Boiler")
    group = await make_group("Water", [boiler])
    await add_rows([(boiler.id, T0 + timedelta(seconds=i), float(i)) for i in range(5)])
    await sign_in(reader)
    for path in (f"/ui/export/device/{boiler.id}", f"/ui/export/group/{group.id}"):
        answer = await user.http_client.get(path, params={"start_time": "2026-06-01T08:00:02"})  # no offset
        assert answer.status_code == 200, answer.text
        assert answer.headers["cache-control"] == "no-store"  # the page's own route dropped it
        assert answer.headers["content-disposition"].startswith("attachment; filename=")
        rows = list(csv.reader(io.StringIO(answer.text)))
        assert [float(row[-2]) for row in rows[1:]] == [4.0, 3.0, 2.0]
    refused = await user.http_client.get(f"/ui/export/device/{boiler.id}", params={"start_time": "yesterday"})
    assert refused.status_code == 400
    assert refused.json() == {"detail": "start_time is not an ISO 8601 date/time: 'yesterday'"}
    unknown = await user.http_client.get(f"/ui/export/group/{uuid.uuid4()}")
    assert (unknown.status_code, unknown.json()) == (404, {"detail": "Group not found"})
    malformed = await user.http_client.get("/ui/export/device/not-a-uuid")
    assert malformed.status_code == 422
    assert isinstance(malformed.json()["detail"], str)


async def test_download_without_a_session_is_refused_like_the_api(user: User) -> None:
    boiler = await make_device("Boiler")
    answer = await user.http_client.get(f"/ui/export/device/{boiler.id}")
    assert (answer.status_code, answer.json()) == (401, {"detail": "Not authenticated"})
    assert answer.headers["www-authenticate"] == "Bearer"

"""Schemathesis over the whole OpenAPI document: every /api operation, as owner and as read_only, on both DBs.

Schemathesis draws the cases, all deterministic: its coverage phase (every constraint at and past its
limits, undeclared methods), generated valid and invalid data (``derandomize``), plus the extreme times
and integers that answered 500 in issue 8, for every parameter that takes them. They are sent
in-process with httpx on the test's own event loop (schemathesis's ASGI client would run the app in a
second loop, where the asyncpg pool cannot follow) and every answer is checked against the document:
no 5xx, a documented status, content type, headers and body. Cases with path parameters are sent a
second time with the ids of real objects, so the code behind an existing device, group or user is
reached too, and each operation gets a fresh token pair (a fuzzed logout or password change cannot
end the run's session).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from functools import cache, partial
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.errors import FailureGroup
from schemathesis.schemas import APIOperation, BaseSchema
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from collector.probe import probe_device
from ddms import db
from ddms.config import Settings
from ddms.main import create_api
from ddms.modbus_types import ModbusTarget, ProbeReading
from ddms.models import DeviceGroup, Group, Role, User
from ddms.services.devices import ConnectionTarget
from tests.api import conftest as api_fixtures
from tests.api.conftest import Account
from tests.api.helpers import add_user, tokens_for
from tests.collector.modbus_server import RawModbusServer, Unit
from tests.history.helpers import add_device, add_rows

# The REST app, client and accounts of tests/api, on both databases.
app, owner, reader = api_fixtures.app, api_fixtures.owner, api_fixtures.reader

# An SSE stream never ends, so there is no complete answer to check; tests/api/test_stream.py covers it.
NOT_FUZZED = {("GET", "/api/devices/stream"), ("GET", "/api/notifications/stream")}
# Each of these costs a bcrypt round (~0.25 s) per valid case: fewer examples keep the run short.
BCRYPT = {
    ("POST", "/api/auth/login"),
    ("POST", "/api/auth/change-password"),
    ("POST", "/api/users"),
    ("PUT", "/api/users/{user_id}"),
}
EXAMPLES, BOUNDARY_CASES, BCRYPT_EXAMPLES = 5, 50, 3
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
BASE_URL = "http://test"
T0 = datetime(2026, 5, 4, tzinfo=UTC)


@pytest.fixture
async def raw_client(app: FastAPI) -> Any:
    """Server errors come back as 500 answers (so they are reported as findings), not as exceptions."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
        yield http


@pytest.fixture
async def real_ids(app: FastAPI) -> dict[str, str]:
    """A device with readings, a group holding it and a user to edit: what path parameters name."""
    device = await add_device("fuzzed device")
    await add_rows([(device, T0 + timedelta(minutes=index), float(index)) for index in range(30)])
    async with db.session_scope() as session:
        group = Group(name="fuzzed group")
        session.add(group)
        await session.flush()
        session.add(DeviceGroup(group_id=group.id, device_id=device))
        await session.commit()
        group_id = group.id
    victim = await add_user("fuzz_victim", Role.READ_ONLY)
    return {"device_id": str(device), "group_id": str(group_id), "user_id": str(victim.id)}


@pytest.fixture
async def loopback_probe(app: FastAPI) -> AsyncIterator[RawModbusServer]:
    """Test connection reads a loopback Modbus server whatever address a case names.

    Valid cases of ``POST /api/devices/test`` carry any IP or host name: the run must not open
    connections into the network, nor wait MODBUS_TIMEOUT for each. The read itself stays real (the
    collector's probe, a server answering every unit id), so its answers are checked like any other.
    """
    server = RawModbusServer()
    await server.start()
    server.units = {unit: Unit(registers={0: 0xA6C1, 1: 0x4296}) for unit in range(256)}
    read = partial(probe_device, modbus_timeout=5.0)

    async def probe(target: ModbusTarget) -> ProbeReading:
        kept = {name: getattr(target, name) for name in KEPT_BY_THE_PROBE}
        return await read(ConnectionTarget(modbus_ip="127.0.0.1", modbus_port=server.port, **kept))

    app.state.runtime.probe = probe
    try:
        yield server
    finally:
        await server.stop()


KEPT_BY_THE_PROBE = (
    "modbus_slave_id",
    "modbus_register",
    "modbus_register_count",
    "data_type",
    "byte_order",
    "scale",
    "offset",
)


@cache
def fuzz_plan() -> list[tuple[APIOperation, list[Case]]]:
    """Every /api operation but the streams with its cases, drawn once for both roles and databases.

    The document is the one every test app serves (the settings do not change it); deletions come
    last, since they remove what the other operations use.
    """
    from tests.conftest import TEST_SECRET

    document = create_api(Settings(jwt_secret_key=TEST_SECRET, database_url="sqlite+aiosqlite:///unused.db"))
    schema = schemathesis.openapi.from_dict(document.openapi())
    operations = [result.ok() for result in schema.get_all_operations()]
    chosen = [
        op
        for op in operations
        if op.path.startswith("/api") and (op.method.upper(), op.path) not in NOT_FUZZED
    ]
    ordered = sorted(chosen, key=lambda op: op.method.upper() == "DELETE")
    return [
        (op, boundary_cases(schema, op) + random_cases(op) + extreme_cases(op) + valid_cases(op))
        for op in ordered
    ]


def _budget(operation: APIOperation, examples: int) -> int:
    return BCRYPT_EXAMPLES if (operation.method.upper(), operation.path) in BCRYPT else examples


def boundary_cases(schema: BaseSchema, operation: APIOperation) -> list[Case]:
    """Schemathesis's coverage phase: each constraint at, inside and just past its limits, deterministic.

    It also sends the path with the methods it does not declare (a 405 is then expected). Operations
    with many fields (a device has twenty) get an even sample of at most BOUNDARY_CASES of them.
    """
    cases = list(
        schema.iter_coverage_cases(
            operation,
            generation_modes=list(MODES),
            generation_config=schema.config.generation_for(operation=operation),
        )
    )
    step = math.ceil(len(cases) / _budget(operation, BOUNDARY_CASES))
    return cases[::step]


def random_cases(operation: APIOperation) -> list[Case]:
    """Schemathesis's generated valid and invalid data, the same on every run (derandomized)."""
    cases: list[Case] = []
    for mode in MODES:

        @given(operation.as_strategy(generation_mode=mode))
        @hypothesis_settings(
            max_examples=_budget(operation, EXAMPLES),
            derandomize=True,
            deadline=None,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=[
                HealthCheck.too_slow,
                HealthCheck.filter_too_much,
                HealthCheck.data_too_large,
            ],
        )
        def collect(case: Case) -> None:
            cases.append(case)

        try:
            collect()
        except Unsatisfiable:  # nothing in the operation can be made invalid (no parameters, no body)
            assert mode == GenerationMode.NEGATIVE, operation.label
    return cases


# Values random data rarely hits but that broke the history arithmetic (issue 8): times at the ends
# of datetime's range, in the most distant UTC offsets, and integers past int64. A time parameter is a
# free string in the document, so schemathesis cannot know where its limits are.
EXTREMES: dict[str, list[object]] = {
    "start_time": [
        "0001-01-01T00:00:00",
        "0001-01-01T00:00:00+14:00",
        "1969-12-31T23:59:59Z",
        "1970-01-01T00:00:00Z",
    ],
    "end_time": ["9999-12-31T23:59:59", "9999-12-31T23:59:59.999999-14:00", "9999-12-30T23:59:59.999999Z"],
    "offset": [2**63 - 1, 2**63, 10**30],
    "limit": [2**63],
    "max_points": [1, 2**63],
}
PLACEHOLDER_ID = "00000000-0000-4000-8000-000000000000"


def extreme_cases(operation: APIOperation) -> list[Case]:
    """Each extreme value in each query parameter that takes it, alone and with day buckets."""
    names = {parameter.name for parameter in operation.query}
    path = {parameter.name: PLACEHOLDER_ID for parameter in operation.path_parameters}
    widths = [{}, {"aggregate": "1day"}] if "aggregate" in names else [{}]
    queries = [
        {name: value, **width}
        for name, values in EXTREMES.items()
        if name in names
        for value in values
        for width in widths
    ]
    if {"start_time", "end_time"} <= names:  # the widest range, as one bucket where the route allows it
        queries.append(
            {
                "start_time": "1970-01-01T00:00:00Z",
                "end_time": "9999-12-30T23:59:59Z",
                **({"max_points": 1} if "max_points" in names else {}),
            }
        )
    return [operation.Case(path_parameters=dict(path), query=query) for query in queries]


# Valid bodies that random data does not find (a host name or address the schema cannot describe),
# so the answer of a real read is checked against the document too.
VALID_BODIES: dict[tuple[str, str], list[dict[str, Any]]] = {
    ("POST", "/api/devices/test"): [
        {"modbus_ip": "192.0.2.1", "modbus_slave_id": 7, "modbus_register": 0, "data_type": "float32"},
        {"modbus_ip": "plc.example", "modbus_slave_id": 1, "modbus_register": 5, "data_type": "float64"},
    ]
}


def valid_cases(operation: APIOperation) -> list[Case]:
    bodies = VALID_BODIES.get((operation.method.upper(), operation.path), [])
    return [operation.Case(body=body, media_type="application/json") for body in bodies]


async def send(client: httpx.AsyncClient, case: Case, token: str) -> httpx.Response:
    """The case as schemathesis would put it on the wire, with the role's token, sent in-process."""
    kwargs = case.as_transport_kwargs(base_url=BASE_URL, headers={"Authorization": f"Bearer {token}"})
    prepared = requests.Request(**kwargs).prepare()
    headers = {name: value for name, value in prepared.headers.items() if name.lower() != "connection"}
    return await client.request(
        prepared.method or "GET", prepared.url or "", headers=headers, content=prepared.body
    )


def with_real_ids(case: Case, ids: dict[str, str]) -> Case | None:
    """The same case aimed at existing objects (valid and hand-made cases with path parameters only)."""
    positive = case.meta is None or case.meta.generation.mode == GenerationMode.POSITIVE
    if not case.path_parameters or not positive or case.method.upper() != case.operation.method.upper():
        return None
    return case.operation.Case(
        path_parameters={name: ids.get(name, value) for name, value in case.path_parameters.items()},
        headers=case.headers,
        cookies=case.cookies,
        query=case.query,
        body=case.body,
        media_type=case.media_type,
    )


def _describe(case: Case, answer: httpx.Response, error: FailureGroup) -> str:
    problems = "; ".join(sorted({failure.title for failure in error.exceptions}))
    sent = f"{case.operation.label} {answer.request.url}"
    return f"{sent} -> {answer.status_code} {answer.text[:160]!r}: {problems}"


async def fuzz(
    client: httpx.AsyncClient,
    settings: Settings,
    user: User,
    ids: dict[str, str],
) -> tuple[list[str], Counter[tuple[str, int]]]:
    """Send every case of every operation; return the findings and how often each status was seen."""
    findings: list[str] = []
    statuses: Counter[tuple[str, int]] = Counter()
    for operation, cases in fuzz_plan():
        token = (await tokens_for(settings, user)).access_token
        for case in cases:
            for variant in filter(None, (case, with_real_ids(case, ids))):
                answer = await send(client, variant, token)
                statuses[(operation.label, answer.status_code)] += 1
                try:
                    variant.validate_response(answer, checks=CHECKS)
                except FailureGroup as error:  # each failed check is a finding to report
                    findings.append(_describe(variant, answer, error))
    return findings, statuses


def _answered(statuses: Counter[tuple[str, int]], label: str, low: int, high: int) -> bool:
    return any(low <= status <= high for (seen, status) in statuses if seen == label)


# Where the ~3000 requests of a run go (each run is ~20-50 s of a CI core): the owner reaches the
# code behind every operation, on both SQL dialects; read_only meets the same validation and is
# refused before the storage, so one database shows it. TimescaleDB changes how readings are stored,
# not the API: its leg is the rest of the suite (history, collector, alarms, exports, restore).
FUZZ_RUNS = [("sqlite", Role.OWNER), ("postgresql", Role.OWNER), ("postgresql", Role.READ_ONLY)]


@pytest.mark.parametrize(("db_url", "role"), FUZZ_RUNS, indirect=["db_url"])
async def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    app: FastAPI,
    raw_client: httpx.AsyncClient,
    settings: Settings,
    owner: Account,
    reader: Account,
    real_ids: dict[str, str],
    loopback_probe: RawModbusServer,
    role: Role,
) -> None:
    account = owner if role == Role.OWNER else reader
    findings, statuses = await fuzz(raw_client, settings, account.user, real_ids)
    assert not findings, f"{len(findings)} findings:\n" + "\n".join(dict.fromkeys(findings))
    assert {label for label, _status in statuses} == {operation.label for operation, _cases in fuzz_plan()}
    # The cases reached real objects with a valid token, not only 401s and 404s ...
    for label in (
        "GET /api/auth/me",
        "GET /api/devices/{device_id}",
        "GET /api/groups/{group_id}",
        "GET /api/readings/{device_id}/latest",
    ):
        assert _answered(statuses, label, 200, 299), (label, statuses)
    # ... and the role decided what was allowed.
    assert _answered(statuses, "PUT /api/config", 200, 299) == (role == Role.OWNER), statuses
    assert _answered(statuses, "POST /api/devices", 403, 403) == (role == Role.READ_ONLY), statuses
    # A valid unsaved device body was really read (from the loopback server) and its answer checked.
    tested = {status: n for (label, status), n in statuses.items() if label == "POST /api/devices/test"}
    assert _answered(statuses, "POST /api/devices/test", 200, 200) == (role == Role.OWNER), tested
    assert bool(loopback_probe.requests) == (role == Role.OWNER)

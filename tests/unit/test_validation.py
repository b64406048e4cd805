"""Host names, IP addresses and cron expressions (pure rules shared by schemas and services)."""

from __future__ import annotations

import pytest

from ddms.services.validation import check_cron, check_host


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("192.168.0.1", "192.168.0.1"),
        ("::1", "::1"),
        ("[fe80::1]", "fe80::1"),
        ("2001:DB8::1", "2001:db8::1"),
        ("plc-1.plant.local", "plc-1.plant.local"),
        ("localhost", "localhost"),
        (" 10.0.0.1 ", "10.0.0.1"),
        ("a" * 63, "a" * 63),
        ("x1.example.", "x1.example."),
        ("1host.example", "1host.example"),
    ],
)
def test_valid_hosts(given: str, kept: str) -> None:
    assert check_host(given) == kept


@pytest.mark.parametrize(
    "given",
    [
        "",
        " ",
        "999.1.1.1",
        "1.2.3",
        "10.0.0.256",
        "plc_1",
        "-plc",
        "plc-",
        "a" * 64,
        "a." * 127 + "b",
        "bad host",
        "host..example",
        "http://plc",
        "plc:502",
        "::g",
        "[::1",
        "::1]",
        "[10.0.0.1",
        "ünïcode.example",
    ],
)
def test_invalid_hosts(given: str) -> None:
    with pytest.raises(ValueError, match="IPv4/IPv6 address or a host name"):
        check_host(given)


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("0 2 * * *", "0 2 * * *"),
        ("*/5  *  * * *", "*/5 * * * *"),
        ("30 3 * * 1-5", "30 3 * * 1-5"),
    ],
)
def test_valid_cron(given: str, kept: str) -> None:
    assert check_cron(given) == kept


@pytest.mark.parametrize(
    "given", ["0 2 * *", "0 2 * * * *", "60 * * * *", "* 24 * * *", "daily", "", "@daily"]
)
def test_invalid_cron(given: str) -> None:
    with pytest.raises(ValueError, match="five fields"):
        check_cron(given)

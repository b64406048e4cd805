"""Small input rules shared by schemas and services."""

from __future__ import annotations

import ipaddress
import re

from ddms.errors import InvalidValue

_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def check_host(value: str) -> str:
    """An IPv4/IPv6 address or an RFC 1123 host name; InvalidValue (a ValueError) otherwise."""
    candidate = value.strip()
    bracketed = candidate.startswith("[") and candidate.endswith("]")  # "[fe80::1]", as in URLs
    try:
        return str(ipaddress.ip_address(candidate[1:-1] if bracketed else candidate))
    except ValueError:
        pass
    labels = candidate.rstrip(".").split(".")
    well_formed = len(candidate) <= 253 and labels and all(_HOST_LABEL.match(label) for label in labels)
    if well_formed and not labels[-1].isdigit():  # an all-digit last label is a mistyped IPv4 address
        return candidate
    raise InvalidValue("invalid_host")


def check_cron(value: str) -> str:
    """A five-field cron expression croniter accepts; InvalidValue (a ValueError) otherwise."""
    from croniter import croniter

    expression = " ".join(value.split())
    if len(expression.split(" ")) != 5 or not croniter.is_valid(expression):
        raise InvalidValue("invalid_cron")
    return expression

"""Turning the schemas' and services' rules into inline messages in the user's language.

Forms never re-state a rule: a field is checked by validating it alone against the request schema
(``DeviceFields``, ``ConfigUpdate``, ...), and on submit the service's own errors are shown next to
the field they name.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from ddms.errors import InvalidValue
from ddms.i18n import N_, _, translate_error

_MESSAGES = {
    "missing": N_("Required"),
    "greater_than_equal": N_("Must be at least {ge}"),
    "less_than_equal": N_("Must be at most {le}"),
    "greater_than": N_("Must be greater than {gt}"),
    "string_too_long": N_("At most {max_length} characters"),
    "int_from_float": N_("Must be a whole number"),
    "int_parsing": N_("Must be a whole number"),
    "int_type": N_("Must be a whole number"),
    "float_parsing": N_("Must be a number"),
    "float_type": N_("Must be a number"),
    "finite_number": N_("Must be a finite number"),
    "string_pattern_mismatch": N_("Only letters, digits and underscores"),
    "enum": N_("Choose one of the listed values"),
    "literal_error": N_("Choose one of the listed values"),
    "extra_forbidden": N_("Unknown field"),
}


def message_for(error: dict[str, Any]) -> str:
    """One pydantic error as a sentence in the user's language."""
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind == "string_too_short":
        return (
            _("Required")
            if ctx.get("min_length") == 1
            else _("At least {min_length} characters").format(**ctx)
        )
    if kind == "value_error":
        cause = ctx.get("error")  # a coded rule (InvalidValue) is translated from its code
        return translate_error(cause) if isinstance(cause, InvalidValue) else str(cause or error["msg"])
    template = _MESSAGES.get(kind)
    if template is None:
        return str(error["msg"])
    return _(template).format(**{key: _plain(value) for key, value in ctx.items()})


def _plain(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def field_errors(schema: type[BaseModel], data: dict[str, Any]) -> dict[str, str]:
    """Each field's first error when ``data`` is validated against ``schema`` (empty: valid)."""
    try:
        schema.model_validate(data)
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else ""
            errors.setdefault(field, message_for(dict(error)))
        return errors
    return {}


def whole(value: Any) -> Any:
    """``ui.number`` gives floats; integral ones become ints so integer fields accept them."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value

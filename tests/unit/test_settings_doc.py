"""Every Settings field is documented, and the documentation names no setting that does not exist.

The configuration table lives in README.md (section "Configuration"): its first column names the
environment variables, several per row as `A` / `B`. A field added to ``ddms.config.Settings``
without a row, or a row left behind by a removed field, fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

from ddms.config import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def documented_variables(text: str) -> set[str]:
    """Variables named in the first column of the README's configuration table."""
    section = text.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    names: set[str] = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            first_column = line.split("|")[1]
            names.update(re.findall(r"`([A-Z][A-Z0-9_]*)`", first_column))
    return names


def test_every_settings_field_is_documented() -> None:
    fields = {name.upper() for name in Settings.model_fields}
    documented = documented_variables(README.read_text(encoding="utf-8"))
    assert fields - documented == set(), "Settings fields missing from README.md's configuration table"
    assert documented - fields == set(), "README.md documents variables that Settings does not read"


def test_the_parser_sees_a_missing_row() -> None:
    """The check above can fail: dropping one row drops exactly that variable."""
    text = README.read_text(encoding="utf-8")
    row = next(line for line in text.splitlines() if line.startswith("| `LOG_LEVEL`"))
    assert documented_variables(text) - documented_variables(text.replace(row + "\n", "")) == {"LOG_LEVEL"}

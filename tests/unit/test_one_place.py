"""Rules stated once: the backend test lives behind ddms.db, roles in ddms.models.user."""

from __future__ import annotations

import re
from pathlib import Path

from ddms.models import ASSIGNABLE_ROLES, EDITOR_ROLES, Role, can_edit

ROOT = Path(__file__).resolve().parents[2]
# Reading SQLAlchemy's dialect or a URL's backend by hand: only ddms/db.py (and the column type that
# SQLAlchemy hands its dialect to) may.
DIALECT_CHECK = re.compile(
    r"\.dialect\.name|get_backend_name\(|[\"']postgresql[\"']\s*[=!]=|==\s*[\"']sqlite[\"']"
)
ALLOWED = {ROOT / "ddms/db.py", ROOT / "ddms/models/types.py"}


def test_backend_checks_live_in_db() -> None:
    offenders = []
    for package in ("ddms", "pages", "collector"):
        for path in (ROOT / package).rglob("*.py"):
            if path in ALLOWED:
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if DIALECT_CHECK.search(line):
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "use ddms.db.dialect_of / is_postgres / is_sqlite_url:\n" + "\n".join(offenders)


def test_roles_are_stated_once_and_pages_use_them() -> None:
    from pages import session, users

    assert set(EDITOR_ROLES) == {Role.OWNER, Role.ADMIN}
    assert Role.OWNER not in ASSIGNABLE_ROLES
    for role in Role:
        user = session.SessionUser(id=None, username="u", role=role, language="en")  # type: ignore[arg-type]
        assert user.can_edit_devices == can_edit(role) == (role in EDITOR_ROLES)
    assert list(users.role_options()) == [role.value for role in ASSIGNABLE_ROLES]
    source = "\n".join(
        (ROOT / path).read_text(encoding="utf-8") for path in ("pages/session.py", "pages/users.py")
    )
    assert not re.search(r"\(Role\.\w+, Role\.\w+\)|\(\"admin\", \"read_only\"\)", source)

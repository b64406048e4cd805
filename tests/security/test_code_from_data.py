"""Stored XSS, the mechanism (issue 8): nothing in pages/ builds NiceGUI props or page code from data.

NiceGUI parses a props string and evaluates each ``:prop`` in it as JavaScript, and ``ui.html`` /
``run_javascript`` / ``add_*_html`` take code. So test ids accept only fixed words and record ids
(``theme.testid`` raises otherwise), and a scan of the page sources holds every such call to literal
arguments (or a test id, or a reviewed builder of markup). The real-browser proof with hostile data
is tests/security/browser/test_stored_xss.py.
"""

from __future__ import annotations

import ast
import uuid
from pathlib import Path

import pytest

from pages import theme

PAGES = Path(__file__).resolve().parents[2] / "pages"
CODE_SINKS = {"run_javascript", "add_head_html", "add_body_html", "add_css"}
# ui.html takes markup; these builders are reviewed (numbers and escaped words only).
HTML_BUILDERS = {"sparkline", "html"}


@pytest.mark.parametrize(
    "name",
    [
        'device-card-x" :title="alert(1)" y="',
        "device-card-Line pressure",
        "tile-{{ constructor.constructor('alert(1)')() }}",
        "row-<img src=x onerror=alert(1)>",
        "x:title=alert(1)",
        "Value",
        "",
    ],
)
def test_a_test_id_refuses_anything_but_words_and_ids(name: str) -> None:
    with pytest.raises(ValueError, match="not user data"):
        theme.testid(name)


def test_record_keys_come_from_ids_only() -> None:
    record_id = uuid.uuid4()
    assert theme.key("device-card", record_id) == f"device-card-{record_id}"
    assert theme.testid(theme.key("tile", record_id)) == f"data-testid=tile-{record_id}"
    with pytest.raises(TypeError, match="record ids"):
        theme.key("device-card", 'pwn" :title="alert(1)" x="')  # type: ignore[arg-type]


def _calls(tree: ast.AST) -> list[ast.Call]:
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call)]


def _name(func: ast.expr) -> str:
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def _literal(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def _problems(source: str, filename: str) -> list[str]:
    found = []
    for call in _calls(ast.parse(source)):
        name, where = _name(call.func), f"{filename}:{call.lineno}"
        arguments = [*call.args, *(k.value for k in call.keywords)]
        if name == "props" and not all(
            _literal(a) or (isinstance(a, ast.Call) and _name(a.func) == "testid") for a in arguments
        ):
            found.append(f"{where}: .props() with a computed string (set element.props[key] instead)")
        if name in CODE_SINKS and not all(
            _literal(a) or isinstance(a, ast.Attribute | ast.Name) for a in call.args
        ):
            found.append(f"{where}: {name}() with computed code")
        if name == "html" and isinstance(call.func, ast.Attribute) and _name(call.func.value) == "ui":
            content = call.args[0] if call.args else ast.Constant("")
            builder = _name(content.func) if isinstance(content, ast.Call) else _name(content)
            if not (_literal(content) or builder in HTML_BUILDERS):
                found.append(f"{where}: ui.html() with markup from an unreviewed source")
    return found


def test_pages_never_build_props_or_code_from_data() -> None:
    sources = sorted(PAGES.rglob("*.py"))
    assert len(sources) > 10, "the scan reads the page sources"
    problems = [
        problem
        for path in sources
        for problem in _problems(path.read_text(encoding="utf-8"), str(path.relative_to(PAGES.parent)))
    ]
    assert problems == []


def test_the_scan_reports_code_built_from_data() -> None:
    """The scan is not vacuous: the settings hint's props string and markup or code from names count."""
    sample = (
        "element.props(f'hint=\"{_(hint)}\"')\n"
        'ui.html(f"<b>{device.name}</b>", sanitize=False)\n'
        'ui.run_javascript(f"alert({name!r})")\n'
        'ui.card().props("outlined").props(theme.testid("value"))\n'
        "ui.html(sparkline(values), sanitize=False)\n"
    )
    assert [problem.split(":")[1] for problem in _problems(sample, "sample.py")] == ["1", "2", "3"]

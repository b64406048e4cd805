"""The e2e suite's headless Chromium for the browser security tests (run by ``make e2e`` only).

The fixtures are the e2e ones, re-exported: one Chromium per run, a fresh context and tab per test,
a screenshot of a failed test's tab (the report hook). Servers are started by the tests' own module
fixtures with ``tests.e2e.conftest.start_server``, so hostile data never reaches the shared e2e server.
"""

from __future__ import annotations

from tests.e2e.conftest import browser, context, page, pytest_runtest_makereport

__all__ = ["browser", "context", "page", "pytest_runtest_makereport"]

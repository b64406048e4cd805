"""Security tests (issue 8): one module per finding, each failing before its fix.

Layout, and which ``make`` step runs what:

- ``tests/security/test_*.py`` are ordinary tests (REST, services, the collector). They run in the
  unit step (``make unit``) and use the fixtures of ``tests/api`` and ``tests/conftest.py`` on both
  databases; a module imports what it needs (``from tests.api.conftest import app, client, owner``)
  so this file stays free of fixtures that could shadow another module's.
- ``tests/security/browser/`` holds the real-Chromium tests against ``ddms serve`` (the stored XSS
  findings). The unit step ignores that folder and the e2e step (``make e2e``) runs it after
  ``tests/e2e``, with the browser fixtures re-exported from ``tests/e2e/conftest.py`` by
  ``tests/security/browser/conftest.py``; so ``make test`` runs each of them exactly once.
"""

"""The NiceGUI main file the ``user`` fixture runs: the real pages, registered as ``create_app`` does.

The REST app and its lifespan are not needed for page logic; the ``ui_database`` fixture installs
the runtime the pages read (database, settings, the pages' clock reading ``harness.now`` at every
call, so a test may fix it before or after the page opens), and ``ui.run`` only sets the storage
secret under user simulation.
"""

from nicegui import ui

import pages
from ddms import runtime
from pages.session import attach
from tests.pages import harness

assert harness.current_settings is not None, "tests/pages fixtures set the settings first"
pages.register(harness.current_settings)
attach(runtime.current())
ui.run(storage_secret=harness.current_settings.ui_storage_secret, title=harness.current_settings.app_title)

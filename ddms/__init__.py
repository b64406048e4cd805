"""DDMS core: settings, database, models, security, services, event bus and the REST/SSE routers."""

__version__ = "0.1.0"

"""The thin FastAPI layer: parse the request, call a service, shape the answer."""

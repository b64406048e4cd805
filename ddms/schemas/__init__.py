"""Request and response shapes of the REST contract (pydantic), shared with the pages."""

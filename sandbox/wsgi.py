"""WSGI application of the sandbox process (under sandbox.settings)."""

from django.core.wsgi import get_wsgi_application

application = get_wsgi_application()

# Lets the "drop"/"timeout"/"reset" faults close the connection without a response.
from sandbox.faults import DropMiddleware  # noqa: E402 (needs the apps loaded)

application = DropMiddleware(application)

"""Settings of the sandbox process: the back-office's, minus its web stack.

The sandbox serves machine clients only: no sessions, CSRF, login or admin middleware.
Both aliases point at the sandbox database, so the process never touches the back-office's.
"""

from backoffice.settings import *  # noqa: F403
from backoffice.settings import DATABASES

# Only the sandbox app: the process neither loads nor migrates the product's apps.
INSTALLED_APPS = ["sandbox"]
ROOT_URLCONF = "sandbox.urls"
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
APPEND_SLASH = False
DATABASES["sandbox"] = {**DATABASES["sandbox"], "CONN_MAX_AGE": None}  # one connection per server thread
# "default" also names the sandbox database (so nothing can reach the back-office's); the router
# keeps every sandbox query on the "sandbox" alias, one connection per thread.
DATABASES["default"] = DATABASES["sandbox"]
DEBUG = False
ALLOWED_HOSTS = ["*"]
WSGI_APPLICATION = None

"""/_sandbox/ control plane — OWNED BY THE ESCROW/CONTROL ENGINEER; placeholder they replace.

sandbox.urls includes this module under /_sandbox/ (``/_sandbox/health`` is served by sandbox.urls).
"""

urlpatterns: list = []

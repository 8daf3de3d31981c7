"""WSGI entry point. Refuses to load when the master key is missing or wrong."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "strongroom.config.settings")
application = get_wsgi_application()

from strongroom.core import keys  # noqa: E402

keys.verify()

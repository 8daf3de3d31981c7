"""WSGI entry point. Refuses to load when the master key is missing or wrong."""

import logging
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "strongroom.config.settings")
application = get_wsgi_application()

from strongroom.core import keys  # noqa: E402

try:
    keys.verify()
except keys.MasterKeyProblem as exc:
    logging.getLogger(__name__).critical("Strongroom cannot start: %s", exc.message)
    # 3 is gunicorn's "worker failed to boot": the arbiter stops instead of respawning.
    raise SystemExit(3) from exc

"""WSGI entry point. Refuses to load when the master key is missing or wrong, or when
`strongroom check` would report a configuration error (gunicorn started directly gets the
same refusal as `strongroom web`)."""

import logging
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "strongroom.config.settings")
application = get_wsgi_application()

from strongroom.core import checks, keys  # noqa: E402

# 3 is gunicorn's "worker failed to boot": the arbiter stops instead of respawning.
try:
    keys.verify()
except keys.MasterKeyProblem as exc:
    logging.getLogger(__name__).critical("Strongroom cannot start: %s", exc.message)
    raise SystemExit(3) from exc
_errors = checks.configuration_errors()
if _errors:
    logging.getLogger(__name__).critical(
        "Strongroom cannot start: %s",
        " ".join(f"{finding.check}: {finding.message}" for finding in _errors),
    )
    raise SystemExit(3)

"""Start the test OpenID Provider: ``python serve.py PORT`` (cheroot WSGI on 127.0.0.1)."""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsite.settings")

import django

django.setup()

from cheroot import wsgi  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402

server = wsgi.Server(("127.0.0.1", int(sys.argv[1])), get_wsgi_application(), numthreads=4)
print("serving", flush=True)
try:
    server.start()
except KeyboardInterrupt:
    server.stop()

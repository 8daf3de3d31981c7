"""Gunicorn settings for ``strongroom web`` and ``strongroom serve``.

Operators may also run gunicorn directly with them::

    gunicorn -c python:strongroom.config.gunicorn

Command-line options (``--bind``, ``--workers``, ``--threads``) override these values.
"""

import os

wsgi_app = "strongroom.config.wsgi:application"
bind = [os.environ.get("STRONGROOM_BIND", "127.0.0.1:8000")]
# Threads serve the many short, I/O-bound requests of a password vault well; processes
# spread the CPU-bound work (Argon2id logins, AES) over the cores.
worker_class = "gthread"
workers = int(os.environ.get("STRONGROOM_WEB_WORKERS", "2"))
threads = int(os.environ.get("STRONGROOM_WEB_THREADS", "4"))
timeout = 60
graceful_timeout = 20
keepalive = 5
accesslog = "-"
errorlog = "-"
# Requests are logged without query strings' values being special: Strongroom never puts
# secrets in URLs, so the default access format is safe.
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s"'
proc_name = "strongroom-web"
control_socket_disable = True

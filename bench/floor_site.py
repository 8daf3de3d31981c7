"""The audited-read floor for bench/retrieval.py: Strongroom's own settings and URLs plus one
bare view, ``POST /bench/audited-floor``, that does the least an audited read must do.

It authenticates the same bearer token (one indexed lookup of its SHA-256, joined to an
active user) and inserts one row in one transaction, then answers. No authorisation, no
chain, no decryption: what is left between it and the real retrieval is Strongroom's cost.

Used only by the benchmark (``DJANGO_SETTINGS_MODULE=floor_settings`` with bench/ on the
path, which sets ``ROOT_URLCONF`` to this module);
the table lives in the benchmark's private database and is created by :func:`create_table`.
"""

from __future__ import annotations

import hashlib
import json

from django.db import connection, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import include, path
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt


def create_table() -> None:
    pk = "bigserial primary key" if connection.vendor == "postgresql" else "integer primary key"
    with connection.cursor() as cursor:
        cursor.execute(
            f"create table if not exists bench_floor (id {pk}, at varchar(40), "
            "user_id varchar(40), object_id varchar(40), reason text)"
        )


@csrf_exempt
def audited_floor(request: HttpRequest) -> HttpResponse:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return JsonResponse({"detail": "no token"}, status=401)
    token_hash = hashlib.sha256(header[7:].strip().encode()).hexdigest()
    reason = json.loads(request.body or b"{}").get("reason", "")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "select t.user_id from strongroom_api_token t join strongroom_user u "
            "on u.id = t.user_id where t.token_hash = %s and t.revoked_at is null "
            "and u.is_active",
            [token_hash],
        )
        row = cursor.fetchone()
        if row is None:
            return JsonResponse({"detail": "invalid token"}, status=401)
        cursor.execute(
            "insert into bench_floor (at, user_id, object_id, reason) values (%s, %s, %s, %s)",
            [timezone.now().isoformat(), str(row[0]), request.path, reason],
        )
    return JsonResponse({"password": "floor"})


urlpatterns = [
    path("bench/audited-floor", audited_floor),
    path("", include("strongroom.config.urls")),
]

"""Create the test OpenID Provider's database, people and the Strongroom client:
``python setup_op.py REDIRECT_URI CLIENT_ID CLIENT_SECRET`` then JSON users on stdin."""

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsite.settings")

import django

django.setup()

from django.contrib.auth.models import Group, User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from oauth2_provider.models import Application  # noqa: E402

if not os.environ.get("OP_ADD_CLIENT"):
    call_command("migrate", verbosity=0)
redirect_uri, client_id, client_secret = sys.argv[1:4]
Application.objects.create(
    name="Strongroom",
    client_id=client_id,
    client_secret=client_secret,
    client_type=Application.CLIENT_CONFIDENTIAL,
    authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
    redirect_uris=redirect_uri,
    algorithm=Application.RS256_ALGORITHM,
    skip_authorization=True,
)
for spec in json.load(sys.stdin):
    user = User.objects.create_user(spec["username"], spec["email"], spec["password"])
    for name in spec.get("groups", []):
        user.groups.add(Group.objects.get_or_create(name=name)[0])
print("ok")

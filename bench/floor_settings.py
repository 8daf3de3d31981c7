"""Strongroom's real settings with bench/floor_site.py's URLs (the audited-read floor)."""

from strongroom.config.settings import *  # noqa: F403

ROOT_URLCONF = "floor_site"

"""One name for the administrators' cloud storage page (issue 17, point 6): what Password
Manager Pro users look for, "Admin » Integration » Cloud Storage", in the page itself and in
every doc and the README; no other spelling of the path."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NAME = "Admin » Integration » Cloud Storage"
ARROW = r"\s*(?:→|»|->|>|\u203a|:|/)\s*"
# Any path that ends at the admin page: "Admin → Cloud Storage", "Integration: Cloud
# Storage", "Admin > Integration > Cloud storage", wrapped over lines or not.
PATH = re.compile(rf"(?:Admin{ARROW})?(?:Integration{ARROW})?Cloud\s+[Ss]torage", re.MULTILINE)


def _docs() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def test_every_doc_names_the_admin_page_one_way() -> None:
    wrong: list[str] = []
    named = 0
    for path in _docs():
        text = path.read_text(encoding="utf-8")
        for found in PATH.finditer(text):
            said = " ".join(found.group(0).split())
            if "Admin" not in said and "Integration" not in said:
                continue  # the user's own "Cloud storage" page, or the words in a sentence
            named += 1
            if said != NAME:
                line = text.count("\n", 0, found.start()) + 1
                wrong.append(f"{path.relative_to(ROOT)}:{line}: {said!r}")
    assert wrong == []
    assert named >= 8  # each provider page names it


@pytest.mark.django_db
def test_the_page_shows_the_same_path(admin, client) -> None:
    client.force_login(admin)
    page = client.get("/admin/storage/")
    assert page.status_code == 200
    html = page.content.decode()
    crumbs = re.search(r"<nav class=\"crumbs\"[^>]*data-admin-path>([^<]+)</nav>", html)
    assert crumbs is not None and crumbs.group(1) == NAME
    assert "<h1>Cloud Storage</h1>" in html

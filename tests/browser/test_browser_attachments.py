"""Attachments in a real browser, desktop and phone: the owner attaches a file from the
account's row on the resource page and downloads it back; a reader who must give a reason
downloads it with one (recorded in the audit trail); hostile file names stay text.
Screenshots go to the test's tmp dir."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from factories import PASSWORD, account_make, resource_make, user_make
from strongroom.accounts.settings import setting_set
from strongroom.audit.models import AuditEvent
from strongroom.vault import services as vault
from strongroom.vault.models import Attachment

from .conftest import sign_in

pytestmark = pytest.mark.browser

HOSTILE = "<img src=x onerror=alert(1)> 証明書.pem"
CONTENT = b"-----BEGIN CERTIFICATE-----\nMIIB\x00\xff binary\n-----END CERTIFICATE-----\n"


@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_attach_download_and_audit(new_page, device, tmp_path, monkeypatch):
    from .conftest import shoot

    monkeypatch.setenv("STRONGROOM_SCREENSHOTS", str(tmp_path))
    owner = user_make("password_admin")
    reader = user_make("password_user")
    resource = resource_make(owner, "Web front")
    account = account_make(owner, resource, "deploy")
    vault.share_grant(actor=owner, resource_id=resource.pk, user_id=reader.pk, level="view")
    setting_set(actor=None, key="retrieval_reason_required", value=True)

    page = new_page(device)
    sign_in(page, owner.username, PASSWORD)
    page.goto(f"/resources/{resource.pk}/")
    link = page.get_by_role("link", name="Attachments")
    expect(link).to_be_visible()
    link.click()
    expect(page.get_by_role("heading", name="Attachments")).to_be_visible()
    expect(page.get_by_text("No files attached.")).to_be_visible()
    page.locator("#id_file").set_input_files(
        files=[{"name": "cert.pem", "mimeType": "application/x-pem-file", "buffer": CONTENT}]
    )
    page.get_by_label("Name (optional)").fill(HOSTILE)
    page.get_by_role("button", name="Attach").click()
    expect(page.locator(".flash")).to_contain_text("Attached")
    name_cell = page.locator(".attachment-name")
    expect(name_cell).to_have_text(HOSTILE)  # text, not markup
    assert page.locator(".attachment-name img").count() == 0
    shoot(page, "attachments-owner")
    page.get_by_label("Reason for downloading").fill("renew TLS, CHG-31")
    with page.expect_download() as info:
        page.get_by_role("button", name="Download").click()
    download = info.value
    # The browser's own name clean-up may replace the markup characters; the rest is kept.
    assert download.suggested_filename.endswith("証明書.pem")
    assert open(download.path(), "rb").read() == CONTENT  # noqa: SIM115

    # The reader: may download (with a reason), may not attach or delete.
    reader_page = new_page(device)
    sign_in(reader_page, reader.username, PASSWORD)
    reader_page.goto(f"/accounts/{account.pk}/attachments/")
    expect(reader_page.locator(".attachment-name")).to_have_text(HOSTILE)
    expect(reader_page.get_by_role("button", name="Attach")).to_have_count(0)
    expect(reader_page.get_by_role("link", name="Delete")).to_have_count(0)
    reader_page.get_by_label("Reason for downloading").fill("audit check")
    with reader_page.expect_download() as info:
        reader_page.get_by_role("button", name="Download").click()
    assert open(info.value.path(), "rb").read() == CONTENT  # noqa: SIM115
    shoot(reader_page, "attachments-reader")
    reasons = set(
        AuditEvent.objects.filter(action="attachment.download").values_list("reason", flat=True)
    )
    assert reasons == {"renew TLS, CHG-31", "audit check"}

    # The owner deletes it through the confirmation page.
    page.get_by_role("link", name=f"Delete {HOSTILE}").click()
    expect(page.get_by_role("heading", name="Delete attachment")).to_be_visible()
    page.get_by_role("button", name="Delete").click()
    expect(page.get_by_text("No files attached.")).to_be_visible()
    assert not Attachment.objects.exists()
    assert list(tmp_path.glob(f"{device}-attachments-*.png"))

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _key_legacy_head(sender: AppConfig, **kwargs: object) -> None:
    """A chain head written before heads carried a MAC gets one right after the upgrade's
    migrations (needs the master key; without it audited actions stay refused until
    `strongroom migrate` runs with the key available)."""
    import logging

    from strongroom.audit.services import head_key_legacy
    from strongroom.core.errors import AppError

    try:
        head_key_legacy()
    except AppError as exc:
        logging.getLogger(__name__).warning(
            "the audit chain head could not be keyed (%s); audited actions are refused until "
            "`strongroom migrate` runs with the master key available",
            exc.code,
        )


class AuditConfig(AppConfig):
    name = "strongroom.audit"
    label = "audit"

    def ready(self) -> None:
        from strongroom.audit.services import audit_record
        from strongroom.core import auditing

        auditing.recorder_register(audit_record)
        post_migrate.connect(_key_legacy_head, sender=self)

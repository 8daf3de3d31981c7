from django.apps import AppConfig


class SyncConfig(AppConfig):
    name = "strongroom.sync"
    label = "sync"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from strongroom.core.events import scope_changed_signal
        from strongroom.sync.hooks import scope_changed

        # Kept copies go stale when what their owner may see changes.
        scope_changed_signal.connect(scope_changed, dispatch_uid="sync_scope_changed")

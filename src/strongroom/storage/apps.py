from django.apps import AppConfig


class StorageConfig(AppConfig):
    name = "strongroom.storage"
    label = "storage"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from strongroom.storage import signals  # noqa: F401  (user deactivation hook)

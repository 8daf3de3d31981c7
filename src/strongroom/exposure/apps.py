from django.apps import AppConfig


class ExposureConfig(AppConfig):
    name = "strongroom.exposure"
    label = "exposure"
    default_auto_field = "django.db.models.BigAutoField"

from django.apps import AppConfig


class VaultConfig(AppConfig):
    name = "strongroom.vault"
    label = "vault"

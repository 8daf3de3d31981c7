from django.apps import AppConfig


class DirectoryConfig(AppConfig):
    name = "strongroom.directory"
    label = "directory"

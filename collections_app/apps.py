from django.apps import AppConfig


class CollectionsAppConfig(AppConfig):
    name = "collections_app"
    verbose_name = "Collections back office"

    def ready(self):
        from collections_app import lookups  # noqa: F401  (registers field__any)

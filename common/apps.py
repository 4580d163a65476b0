from django.apps import AppConfig


class CommonConfig(AppConfig):
    name = "common"
    verbose_name = "Shared helpers"

    def ready(self):
        from common import lookups  # noqa: F401  (registers field__any)

from django.apps import AppConfig


class BulkopsConfig(AppConfig):
    name = "bulkops"

    def ready(self):
        # Register the bulk actions this app contributes.
        from bulkops import exports  # noqa: F401

from django.apps import AppConfig


class BulkopsConfig(AppConfig):
    name = "bulkops"

from django.apps import AppConfig


class CommunicationsConfig(AppConfig):
    name = "communications"
    verbose_name = "Communications"

    def ready(self):
        from communications.actions import schedule_emails  # noqa: F401  (registers itself)

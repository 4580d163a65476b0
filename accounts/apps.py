from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"

    def ready(self):
        # Register the bulk actions this app contributes.
        from accounts import actions  # noqa: F401

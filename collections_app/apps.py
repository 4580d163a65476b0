from django.apps import AppConfig


class CollectionsAppConfig(AppConfig):
    name = "collections_app"
    verbose_name = "Collections back office"

    def ready(self):
        from axes.signals import user_locked_out
        from django.contrib.auth.signals import user_logged_in, user_login_failed

        from collections_app import security

        # Login throttling's audit trail and reset (django-axes runs first).
        user_login_failed.connect(security.audit_login_failed, dispatch_uid="audit-login-failed")
        user_locked_out.connect(security.audit_lockout, dispatch_uid="audit-lockout")
        user_logged_in.connect(security.reset_after_login, dispatch_uid="reset-after-login")

from django.apps import AppConfig


class CommunicationsConfig(AppConfig):
    name = "communications"
    verbose_name = "Communications"

    def ready(self):
        from anymail.signals import tracking

        from communications import delivery
        from communications.actions import schedule_emails, send_message  # noqa: F401  (register)

        # The ESP's delivery events, from anymail's authenticated webhook views.
        tracking.connect(delivery.on_tracking, dispatch_uid="communications.delivery")

        from accounts.sections import (
            AccountAction,
            AccountSection,
            register_action,
            register_section,
        )
        from communications import selectors

        # The account's latest messages, on the account page.
        register_section(
            AccountSection(
                key="messages",
                title="Messages",
                template="communications/_account_messages.html",
                context=selectors.account_messages,
                permission="communications.view_message",
                order=30,
            )
        )
        # The Actions dropdown's Send debtor email and Send debtor SMS (seed 004).
        for key, label, order in (
            ("email", "Send debtor email", 10),
            ("sms", "Send debtor SMS", 11),
        ):
            register_action(
                AccountAction(
                    key=f"send_debtor_{key}",
                    label=label,
                    url_name=f"messages:send-debtor-{key}",
                    permission="communications.schedule_messages",
                    order=order,
                )
            )

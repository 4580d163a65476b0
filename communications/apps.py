from django.apps import AppConfig


class CommunicationsConfig(AppConfig):
    name = "communications"
    verbose_name = "Communications"

    def ready(self):
        from anymail.signals import tracking

        # The gate's legal rules register themselves, after its own; then
        # its screen, which covers them.
        from communications import (  # noqa: F401  (register)
            contact_rules,
            delivery,
            diary,
            screen,
        )
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
        # Contact preferences (seed 001's Customer Card > Info > Reminders),
        # first: what may be said to the debtor at all comes before the rest.
        # Whoever sees the account sees them; changing them needs its own
        # permission (the section draws its forms only then).
        from bulkops.registry import register_audit_company
        from communications import preference_views

        register_section(
            AccountSection(
                key="contact_preferences",
                title="Contact preferences (Reminders)",
                template=preference_views.SECTION_TEMPLATE,
                context=preference_views.account_page_section_context,
                order=5,
            )
        )
        # A legal stop's or a conversation's events belong to its account's company.
        for model in ("LegalStop", "Conversation"):
            register_audit_company(f"communications.{model}", "account__company")
        # The account page's Call Now button (seed 004).
        register_action(
            AccountAction(
                key="call_now",
                label="Call Now",
                url_name="messages:call-now",
                permission="communications.place_calls",
                order=1,
                as_button=True,
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

"""The Messages pages (``/messages/``): batches, their messages, one message."""

from django.urls import path

from communications import call_views
from communications import message_views as views

app_name = "messages"

urlpatterns = [
    path("", views.batch_list, name="batches"),
    path("call/<int:pk>/", call_views.call_now, name="call-now"),
    path("batches/<int:pk>/", views.batch_detail, name="batch"),
    path("batches/<int:pk>/counts/", views.batch_counts, name="batch-counts"),
    path("batches/<int:pk>/csv/", views.batch_csv, name="batch-csv"),
    path("batches/<int:pk>/cancel/", views.batch_cancel, name="batch-cancel"),
    path("<int:pk>/", views.message_detail, name="message"),
    path("<int:pk>/html/", views.message_html, name="message-html"),
    path("<int:pk>/decide/", views.message_decide, name="message-decide"),
    # The account page's Actions: Send debtor email, Send debtor SMS.
    path(
        "send/<int:pk>/email/",
        views.send_debtor_message,
        {"channel": "email"},
        name="send-debtor-email",
    ),
    path(
        "send/<int:pk>/sms/", views.send_debtor_message, {"channel": "sms"}, name="send-debtor-sms"
    ),
]

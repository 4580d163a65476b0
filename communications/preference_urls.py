"""The account page's contact preferences (``/accounts/<pk>/preferences/``):
the section on a page of its own, and its changes, each a POST."""

from django.urls import path

from communications import preference_views as views

app_name = "preferences"

urlpatterns = [
    path("", views.preferences_page, name="page"),
    # One channel of one address ("email") or number ("phone"): sms or voice.
    path(
        "contact-points/<slug:kind>/<int:point>/<slug:channel>/",
        views.change_channel,
        name="channel",
    ),
    path("do-not-contact/", views.change_do_not_contact, name="do-not-contact"),
    path("hours/", views.change_hours, name="hours"),
    path("stops/", views.add_stop, name="stop-add"),
    path("stops/<int:stop>/end/", views.end_stop, name="stop-end"),
    path("conversations/", views.record_conversation, name="conversation"),
]

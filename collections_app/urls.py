from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from collections_app import views
from communications import optout_views, webhooks

admin.site.site_header = "Collections back office: settings"
admin.site.site_title = "Collections settings"
admin.site.index_title = "Configuration"

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("health/", views.health, name="health"),
    path("csp-report/", views.csp_report, name="csp-report"),
    path("accounts/", include("accounts.urls")),
    path("bulk/", include("bulkops.urls")),
    path("billing/", include("billing.urls")),
    path("templates/", include("communications.urls")),
    path("messages/", include("communications.message_urls")),
    path("accounts/<int:pk>/preferences/", include("communications.preference_urls")),
    path("communications/twilio/status/", webhooks.twilio_status, name="twilio-status"),
    path("communications/twilio/inbound/", webhooks.twilio_inbound, name="twilio-inbound"),
    # The ESP's delivery events (django-anymail; ANYMAIL_WEBHOOK_SECRET).
    path("anymail/", include((webhooks.esp_tracking_urlpatterns, "anymail"))),
    # Each email's opt-out link: public, the signed token its only credential.
    path("optout/<str:token>/", optout_views.opt_out, name="optout"),
    path("admin/", admin.site.urls),
]

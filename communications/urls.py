from django.urls import path

from communications import views

app_name = "communications"

urlpatterns = [
    path("", views.template_list, name="templates"),
    path("new/<slug:channel>/", views.template_create, name="template-create"),
    path("measure/", views.sms_measure, name="sms-measure"),
    path("<int:pk>/", views.template_edit, name="template-edit"),
    path("<int:pk>/preview/", views.template_preview, name="template-preview"),
    path("<int:pk>/preview/html/", views.template_preview_html, name="template-preview-html"),
]

from django.urls import path

from billing import views

app_name = "billing"

urlpatterns = [
    path("frozen/", views.frozen_list, name="frozen"),
    path("frozen/select/", views.frozen_select, name="frozen-select"),
    path("frozen/<int:pk>/rollback/", views.freeze_rollback, name="freeze-rollback"),
    path(
        "frozen/subscriptions/<int:pk>/rollback/",
        views.subscription_rollback,
        name="subscription-rollback",
    ),
]

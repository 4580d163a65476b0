from django.urls import path

from billing import promise_views, views

app_name = "billing"

urlpatterns = [
    path("accounts/<int:pk>/promise/", promise_views.create_promise, name="promise-create"),
    path("accounts/<int:pk>/journal.csv", views.journal_csv, name="journal-csv"),
    path("frozen/", views.frozen_list, name="frozen"),
    path("fees/verification/<int:pk>/", views.fee_verification_rows, name="fee-verification"),
    path("write-off-file/", views.write_off_file_upload, name="write-off-file-upload"),
    path("write-off-file/<int:pk>/", views.write_off_file_preview, name="write-off-file"),
    path("write-off-file/<int:pk>/save/", views.write_off_file_save, name="write-off-file-save"),
    path("frozen/select/", views.frozen_select, name="frozen-select"),
    path("frozen/<int:pk>/rollback/", views.freeze_rollback, name="freeze-rollback"),
    path(
        "frozen/subscriptions/<int:pk>/rollback/",
        views.subscription_rollback,
        name="subscription-rollback",
    ),
]

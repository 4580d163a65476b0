from django.urls import path

from bulkops import views
from bulkops.exports import views as exports

app_name = "bulkops"

urlpatterns = [
    path("", views.operation_list, name="operation-list"),
    path("audit/", views.audit_log, name="audit-log"),
    path("approvals/", views.approvals, name="approvals"),
    path("select-from-file/<slug:key>/", views.selection_file_upload, name="selection-file"),
    path("actions/<slug:key>/", views.action_dialog, name="action-dialog"),
    path("actions/<slug:key>/preview/", views.action_preview, name="action-preview"),
    path("actions/<slug:key>/confirm/", views.action_confirm, name="action-confirm"),
    path("<int:pk>/", views.operation_detail, name="operation-detail"),
    path("<int:pk>/progress/", views.operation_progress, name="operation-progress"),
    path("<int:pk>/items.csv", views.operation_items_csv, name="operation-items-csv"),
    path("<int:pk>/cancel/", views.operation_cancel, name="operation-cancel"),
    path("<int:pk>/retry/", views.operation_retry, name="operation-retry"),
    path("<int:pk>/approve/", views.operation_approve, name="operation-approve"),
    path("<int:pk>/reject/", views.operation_reject, name="operation-reject"),
    path("<int:pk>/undo/", views.operation_undo, name="operation-undo"),
    path("<int:pk>/download/", exports.export_download, name="export-download"),
    path("exports/fields/", exports.export_fields, name="export-fields"),
    path("exports/templates/", exports.export_templates, name="export-templates"),
    path("exports/templates/save/", exports.export_template_save, name="export-template-save"),
    path(
        "exports/templates/<int:pk>/share/",
        exports.export_template_share,
        name="export-template-share",
    ),
    path(
        "exports/templates/<int:pk>/delete/",
        exports.export_template_delete,
        name="export-template-delete",
    ),
]

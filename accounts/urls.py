from django.urls import path

from accounts import file_views, views, work_views

app_name = "accounts"

urlpatterns = [
    path("", views.grid, name="grid"),
    path("selection/", views.selection_update, name="selection"),
    path("columns/", views.columns_update, name="columns"),
    path("lists/new/", views.list_create, name="list-create"),
    path("lists/count/", views.list_count, name="list-count"),
    path("lists/<int:pk>/", views.list_open, name="list-open"),
    path("lists/<int:pk>/edit/", views.list_edit, name="list-edit"),
    path("lists/<int:pk>/delete/", views.list_delete, name="list-delete"),
    path("<int:pk>/", views.account_detail, name="detail"),
    path("<int:pk>/save/", views.details_save, name="details-save"),
    path("<int:pk>/files/", file_views.upload, name="file-upload"),
    path("files/<uuid:public_id>/", file_views.download, name="file-download"),
    path("files/<uuid:public_id>/delete/", file_views.delete, name="file-delete"),
    path("layout/", views.layout_save, name="layout-save"),
    path("layout/add/", views.layout_add_widget, name="layout-add"),
    path("layout/reset/", views.layout_reset, name="layout-reset"),
    # A collector's work on the account (seed 004).
    path("<int:pk>/notes/new/", work_views.add_note, name="note-add"),
    path("<int:pk>/interactions/new/", work_views.add_interaction, name="interaction-add"),
    path("<int:pk>/tasks/", work_views.account_tasks, name="tasks"),
    path("<int:pk>/tasks/new/", work_views.create_task, name="task-create"),
    path("tasks/<int:task_pk>/edit/", work_views.edit_task, name="task-edit"),
    path("tasks/<int:task_pk>/resolve/", work_views.resolve_task, name="task-resolve"),
    path("tasks/mine/", work_views.my_tasks, name="my-tasks"),
    path(
        "<int:pk>/phones/validate/",
        work_views.phone_validity,
        {"valid": True},
        name="phone-validate",
    ),
    path(
        "<int:pk>/phones/invalidate/",
        work_views.phone_validity,
        {"valid": False},
        name="phone-invalidate",
    ),
]

from django.urls import path

from accounts import views

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
]

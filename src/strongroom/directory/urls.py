from django.urls import path

from strongroom.directory import views

app_name = "directory"

urlpatterns = [
    path("", views.directory_admin_view, name="admin"),
    path("mappings/", views.mapping_add_view, name="mapping_add"),
    path("mappings/<str:mapping_id>/delete/", views.mapping_delete_view, name="mapping_delete"),
    path("test/", views.directory_test_view, name="test"),
    path("sync/", views.directory_sync_view, name="sync"),
]

"""URLs of the sync pages (namespace ``sync``)."""

from django.urls import path

from strongroom.sync import views

app_name = "sync"

urlpatterns = [
    path("export/sync/<uuid:connection_id>/", views.sync_start, name="start"),
    path("sync/history/", views.sync_history, name="history"),
    path("sync/copies/", views.sync_copies, name="copies"),
    path(
        "sync/copies/<uuid:copy_id>/<slug:action>/",
        views.sync_copy_action,
        name="copy_action",
    ),
]

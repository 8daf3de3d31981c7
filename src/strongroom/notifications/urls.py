from django.urls import path

from strongroom.notifications import views

app_name = "notifications"

urlpatterns = [
    path("", views.notification_list_view, name="list"),
    path("feed/", views.notification_feed_view, name="feed"),
    path("read-all/", views.notification_read_all_view, name="read_all"),
    path("<str:notification_id>/read/", views.notification_read_view, name="read"),
]

from django.urls import path

from strongroom.notifications import views

app_name = "notifications"

urlpatterns = [
    path("", views.notification_list_view, name="list"),
    path("feed/", views.notification_feed_view, name="feed"),
    path("read-all/", views.notification_read_all_view, name="read_all"),
    path("email/", views.email_preferences_view, name="email_preferences"),
    path("email/settings/", views.email_settings_view, name="email_settings"),
    path("email/settings/test/", views.email_test_view, name="email_test"),
    path(
        "email/unsubscribe/<str:token>/",
        views.email_unsubscribe_view,
        name="email_unsubscribe",
    ),
    path("<str:notification_id>/read/", views.notification_read_view, name="read"),
]

from django.urls import path

from strongroom.core import views

app_name = "core"

urlpatterns = [
    path("", views.settings_view, name="settings"),
]

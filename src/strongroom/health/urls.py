from django.urls import path

from strongroom.health import views

app_name = "health"

urlpatterns = [
    path("password-health/", views.health_index, name="index"),
    path("password-health/refresh", views.health_refresh, name="refresh"),
    path("password-health/breached-list", views.breached_list, name="breached_list"),
]

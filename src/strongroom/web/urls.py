from django.urls import path

from strongroom.web import views

urlpatterns = [
    path("", views.home, name="home"),
    path("livez", views.livez, name="livez"),
    path("healthz", views.healthz, name="healthz"),
]

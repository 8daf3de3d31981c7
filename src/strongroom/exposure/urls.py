from django.urls import path

from strongroom.exposure import views

app_name = "exposure"

urlpatterns = [
    path("exposure/", views.exposure_index, name="index"),
    path("exposure/incidents/<uuid:incident_id>/", views.incident_detail, name="incident"),
    path("accounts/<uuid:account_id>/exposure/", views.account_exposure, name="account"),
]

from django.urls import path

from strongroom.audit import views

app_name = "audit"

urlpatterns = [
    path("", views.audit_list_view, name="list"),
    path("download.csv", views.audit_csv_view, name="csv"),
    path("verify/", views.audit_verify_view, name="verify"),
]

from django.urls import path

from strongroom.ops.metrics import metrics_view

urlpatterns = [path("", metrics_view, name="metrics")]

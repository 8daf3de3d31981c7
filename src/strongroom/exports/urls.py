"""URLs of the export pages (namespace ``exports``)."""

from django.urls import path

from strongroom.exports import views

app_name = "exports"

urlpatterns = [
    path("export/", views.export_menu, name="menu"),
    path("export/html/", views.export_html, name="html"),
    path("export/spreadsheet/", views.export_spreadsheet, name="spreadsheet"),
    path("export/selection/", views.export_selection, name="selection"),
    path("admin/export/", views.export_settings, name="settings"),
    path("admin/export/rules/", views.export_rule_add, name="rule_add"),
    path("admin/export/rules/<uuid:rule_id>/delete/", views.export_rule_delete, name="rule_delete"),
]

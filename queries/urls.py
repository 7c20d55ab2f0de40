"""The console's query editor, under /queries/."""

from __future__ import annotations

from django.urls import path

from queries import views

urlpatterns = [
    path("", views.query_editor, name="query_editor"),
    path("fields/<str:workspace>/<str:name>/", views.query_describe, name="query_describe"),
    path("<uuid:query_id>/download.<str:fmt>", views.query_download, name="query_download"),
    path("<uuid:query_id>/cancel/", views.query_cancel_view, name="query_cancel"),
]

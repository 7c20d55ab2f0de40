"""The console's query editor, under /queries/."""

from __future__ import annotations

from django.urls import path

from queries import saved_pages, views

urlpatterns = [
    path("", views.query_editor, name="query_editor"),
    path("fields/<str:workspace>/<str:name>/", views.query_describe, name="query_describe"),
    path("<uuid:query_id>/download.<str:fmt>", views.query_download, name="query_download"),
    path("lambdas/", saved_pages.lambda_list, name="lambda_list"),
    path("lambdas/save/", saved_pages.lambda_save, name="lambda_save"),
    path("lambdas/<str:workspace>/<str:name>/", saved_pages.lambda_detail, name="lambda_detail"),
    path("lambdas/<str:workspace>/<str:name>/tags/", saved_pages.lambda_tag_set, name="lambda_tag_set"),
    path(
        "lambdas/<str:workspace>/<str:name>/tags/<str:tag>/delete/",
        saved_pages.lambda_tag_delete,
        name="lambda_tag_delete",
    ),
    path("views/", saved_pages.saved_views, name="saved_views"),
    path("aliases/", saved_pages.saved_aliases, name="saved_aliases"),
    path("<uuid:query_id>/cancel/", views.query_cancel_view, name="query_cancel"),
]

from __future__ import annotations

from django.urls import path

from collections_app import manage_views, views

create = views.CollectionWizard.as_view(url_name="collection_create_step")

urlpatterns = [
    path("", views.collection_list, name="collection_list"),
    path("new/", create, name="collection_create"),
    path("new/tables/", views.table_options, name="collection_table_options"),
    path("new/preview/", views.table_preview, name="collection_table_preview"),
    path("new/enable-stream/", views.enable_stream, name="collection_enable_stream"),
    path("new/<str:step>/", create, name="collection_create_step"),
    path("<str:workspace>/<str:name>/", views.collection_detail, name="collection_detail"),
    path("<str:workspace>/<str:name>/status/", views.collection_status, name="collection_status"),
    path("<str:workspace>/<str:name>/documents/", views.collection_documents, name="collection_documents"),
    path("<str:workspace>/<str:name>/edit/", manage_views.collection_edit, name="collection_edit"),
    path("<str:workspace>/<str:name>/resync/", manage_views.collection_resync, name="collection_resync"),
    path("<str:workspace>/<str:name>/delete/", manage_views.collection_delete_view, name="collection_delete"),
    path("<str:workspace>/<str:name>/<str:action>/", views.collection_action, name="collection_action"),
]

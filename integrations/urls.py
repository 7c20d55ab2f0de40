from __future__ import annotations

from django.urls import path

from integrations import views

create = views.IntegrationWizard.as_view(url_name="integration_create_step")
edit = views.IntegrationWizard.as_view(url_name="integration_edit_step")

urlpatterns = [
    path("", views.integration_list, name="integration_list"),
    path("new/", create, name="integration_create"),
    path("new/<str:step>/", create, name="integration_create_step"),
    path("<int:pk>/", views.integration_detail, name="integration_detail"),
    path("<int:pk>/policy.json", views.integration_policy_download, name="integration_policy_download"),
    path("<int:pk>/edit/", edit, name="integration_edit"),
    path("<int:pk>/edit/<str:step>/", edit, name="integration_edit_step"),
    path("<int:pk>/revalidate/", views.integration_revalidate_view, name="integration_revalidate"),
    path("<int:pk>/delete/", views.integration_delete_view, name="integration_delete"),
]

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from console import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("setup/", views.first_run, name="first_run"),
    path("healthz", views.healthz, name="healthz"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("organisation/", views.organisation_detail, name="organisation"),
    path("api-keys/", views.api_keys, name="api_keys"),
    path("api-keys/<int:pk>/revoke/", views.api_key_revoke, name="api_key_revoke"),
    path("api/", views.api_docs, name="api_docs"),
    path("v1/", include("api.urls")),
    path("integrations/", include("integrations.urls")),
    path("collections/", include("collections_app.urls")),
    path("admin/", admin.site.urls),
]

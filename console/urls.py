from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from console import monitoring, views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("setup/", views.first_run, name="first_run"),
    path("healthz", views.healthz, name="healthz"),
    # Browsers ask for /favicon.ico on pages without an icon link (a JSON answer, a download): not a 404.
    path("favicon.ico", RedirectView.as_view(url=static("img/millrace.svg"), permanent=True), name="favicon"),
    path("readyz", monitoring.readyz, name="readyz"),
    path("metrics", monitoring.metrics, name="metrics"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # Forgot password: a link by the configured email (EMAIL_URL), valid for PASSWORD_RESET_TIMEOUT.
    path(
        "password-reset/",
        auth_views.PasswordResetView.as_view(
            email_template_name="emails/password_reset.txt", subject_template_name="emails/password_reset_subject.txt"
        ),
        name="password_reset",
    ),
    path("password-reset/sent/", auth_views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path(
        "password-reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path("password-reset/done/", auth_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
    path("organisation/", views.organisation_detail, name="organisation"),
    path("organisation/invite/", views.organisation_invite, name="organisation_invite"),
    path(
        "organisation/invitations/<int:pk>/withdraw/",
        views.organisation_invitation_cancel,
        name="organisation_invitation_cancel",
    ),
    path("organisation/members/<int:pk>/role/", views.organisation_member_role, name="organisation_member_role"),
    path("organisation/members/<int:pk>/remove/", views.organisation_member_remove, name="organisation_member_remove"),
    path("organisation/switch/", views.organisation_switch_view, name="organisation_switch"),
    path("invitations/<str:token>/", views.invitation_accept_view, name="invitation_accept"),
    path("api-keys/", views.api_keys, name="api_keys"),
    path("api-keys/<int:pk>/revoke/", views.api_key_revoke, name="api_key_revoke"),
    path("api/", views.api_docs, name="api_docs"),
    path("help/", views.help_index, name="help"),
    path("help/<slug:section>/", views.help_section, name="help_section"),
    path("v1/", include("api.urls")),
    path("integrations/", include("integrations.urls")),
    path("collections/", include("collections_app.urls")),
    path("queries/", include("queries.urls")),
    path("admin/", admin.site.urls),
]

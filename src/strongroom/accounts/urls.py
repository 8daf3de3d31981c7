from django.urls import path

from strongroom.accounts import views

app_name = "accounts"

urlpatterns = [
    path("login/", views.login_view, name="login"),
    path("login/code/", views.login_code_view, name="login_code"),
    path("logout/", views.logout_view, name="logout"),
    path("account/", views.account_view, name="account"),
    path("account/confirm/", views.reauth_view, name="reauth"),
    path("account/password/", views.password_change_view, name="password_change"),
    path("account/two-factor/", views.two_factor_view, name="two_factor"),
    path("account/two-factor/start/", views.two_factor_start_view, name="two_factor_start"),
    path("account/two-factor/confirm/", views.two_factor_confirm_view, name="two_factor_confirm"),
    path(
        "account/two-factor/recovery-codes/",
        views.recovery_codes_regenerate_view,
        name="recovery_codes_regenerate",
    ),
    path("account/two-factor/disable/", views.two_factor_disable_view, name="two_factor_disable"),
    path("account/tokens/", views.tokens_view, name="tokens"),
    path("account/tokens/<str:token_id>/revoke/", views.token_revoke_view, name="token_revoke"),
    path("admin/users/", views.user_list_view, name="user_list"),
    path("admin/users/add/", views.user_add_view, name="user_add"),
    path("admin/users/<str:user_id>/", views.user_detail_view, name="user_detail"),
    path(
        "admin/users/<str:user_id>/deactivate/",
        views.user_deactivate_view,
        name="user_deactivate",
    ),
    path("admin/users/<str:user_id>/activate/", views.user_activate_view, name="user_activate"),
    path(
        "admin/users/<str:user_id>/reset-password/",
        views.user_password_reset_view,
        name="user_password_reset",
    ),
    path(
        "admin/users/<str:user_id>/reset-two-factor/",
        views.user_totp_reset_view,
        name="user_totp_reset",
    ),
    path("admin/groups/", views.group_list_view, name="group_list"),
    path("admin/groups/<str:group_id>/", views.group_detail_view, name="group_detail"),
    path(
        "admin/groups/<str:group_id>/members/<str:user_id>/remove/",
        views.group_member_remove_view,
        name="group_member_remove",
    ),
    path("admin/groups/<str:group_id>/delete/", views.group_delete_view, name="group_delete"),
    path("admin/roles/", views.roles_view, name="roles"),
]

from django.urls import path

from strongroom.accounts.views import (
    account,
    groups,
    login,
    reauth,
    roles,
    settings,
    tokens,
    two_factor,
    users,
)

app_name = "accounts"

urlpatterns = [
    path("login/", login.login_view, name="login"),
    path("login/code/", login.login_code_view, name="login_code"),
    path("logout/", login.logout_view, name="logout"),
    path("account/", account.account_view, name="account"),
    path("account/confirm/", reauth.reauth_view, name="reauth"),
    path("account/password/", account.password_change_view, name="password_change"),
    path("account/two-factor/", two_factor.two_factor_view, name="two_factor"),
    path("account/two-factor/start/", two_factor.two_factor_start_view, name="two_factor_start"),
    path(
        "account/two-factor/confirm/", two_factor.two_factor_confirm_view, name="two_factor_confirm"
    ),
    path(
        "account/two-factor/recovery-codes/",
        two_factor.recovery_codes_regenerate_view,
        name="recovery_codes_regenerate",
    ),
    path(
        "account/two-factor/disable/", two_factor.two_factor_disable_view, name="two_factor_disable"
    ),
    path("account/tokens/", tokens.tokens_view, name="tokens"),
    path("account/tokens/<str:token_id>/revoke/", tokens.token_revoke_view, name="token_revoke"),
    path("admin/users/", users.user_list_view, name="user_list"),
    path("admin/users/add/", users.user_add_view, name="user_add"),
    path("admin/users/<str:user_id>/", users.user_detail_view, name="user_detail"),
    path(
        "admin/users/<str:user_id>/deactivate/",
        users.user_deactivate_view,
        name="user_deactivate",
    ),
    path("admin/users/<str:user_id>/activate/", users.user_activate_view, name="user_activate"),
    path(
        "admin/users/<str:user_id>/reset-password/",
        users.user_password_reset_view,
        name="user_password_reset",
    ),
    path(
        "admin/users/<str:user_id>/reset-two-factor/",
        users.user_totp_reset_view,
        name="user_totp_reset",
    ),
    path("admin/groups/", groups.group_list_view, name="group_list"),
    path("admin/groups/<str:group_id>/", groups.group_detail_view, name="group_detail"),
    path(
        "admin/groups/<str:group_id>/members/<str:user_id>/remove/",
        groups.group_member_remove_view,
        name="group_member_remove",
    ),
    path("admin/groups/<str:group_id>/delete/", groups.group_delete_view, name="group_delete"),
    path("admin/roles/", roles.roles_view, name="roles"),
    path("admin/settings/", settings.settings_view, name="settings"),
]

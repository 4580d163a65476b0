"""The three role groups created by accounts.0002_roles and User.role."""

import pytest
from django.contrib.auth.models import AnonymousUser, Group

from accounts.models import User
from accounts.roles import ADMIN, COLLECTOR, ROLES, SUPERVISOR, role_of
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

SUPERVISOR_ONLY = [
    "accounts.assign_accounts",
    "accounts.change_account_status",
    "accounts.export_accounts",
    "accounts.view_unmasked_data",
    "accounts.manage_account_flags",
    "accounts.update_account_stage",
    "bulkops.view_auditevent",
    "communications.process_messages",
    "communications.approve_message",
]
ADMIN_ONLY = [
    "accounts.change_accountstatus",
    "accounts.add_accountstatus",
    "accounts.change_flag",
    "accounts.delete_flag",
    "accounts.change_customfield",
    "accounts.add_user",
]


def perms_of(group_name):
    group = Group.objects.get(name=group_name)
    return {
        f"{app}.{codename}"
        for app, codename in group.permissions.values_list("content_type__app_label", "codename")
    }


def fresh(user):
    """The user without its permission cache."""
    return User.objects.get(pk=user.pk)


def test_the_three_groups_exist():
    assert set(Group.objects.filter(name__in=ROLES).values_list("name", flat=True)) == {
        "Collector",
        "Supervisor",
        "Admin",
    }
    assert ROLES == (COLLECTOR, SUPERVISOR, ADMIN)


def test_roles_are_nested_collector_within_supervisor_within_admin():
    collector, supervisor, admin = perms_of(COLLECTOR), perms_of(SUPERVISOR), perms_of(ADMIN)
    assert "accounts.view_account" in collector
    assert collector < supervisor < admin


def test_collector_can_view_and_work_but_not_manage(collector):
    user = fresh(collector)
    assert user.has_perm("accounts.view_account")
    assert user.has_perm("accounts.work_account")
    assert user.has_perm("billing.view_payment")
    for perm in SUPERVISOR_ONLY + ADMIN_ONLY + ["accounts.change_account"]:
        assert not user.has_perm(perm), perm
    # Collectors schedule messages for approval (seed 000), which is a bulk
    # operation: they start one (each action checks its own permission) and
    # see its page, but may not send without approval nor approve.
    for perm in (
        "communications.schedule_messages",
        "bulkops.add_bulkoperation",
        "bulkops.view_bulkoperation",
    ):
        assert user.has_perm(perm), perm


def test_supervisor_can_manage_accounts_but_not_configure(supervisor):
    user = fresh(supervisor)
    assert user.has_perm("accounts.view_account")
    for perm in SUPERVISOR_ONLY:
        assert user.has_perm(perm), perm
    for perm in ADMIN_ONLY:
        assert not user.has_perm(perm), perm


def test_admin_can_configure_statuses_flags_and_custom_fields(admin_user):
    user = fresh(admin_user)
    for perm in SUPERVISOR_ONLY + ADMIN_ONLY + ["accounts.view_account"]:
        assert user.has_perm(perm), perm
    # Admin is a role, not a superuser: company data stays out of reach.
    assert not user.is_superuser
    assert not user.has_perm("accounts.change_company")


def test_user_without_group_has_no_permissions():
    user = fresh(UserFactory())
    assert not user.has_perm("accounts.view_account")
    assert user.role == ""


def test_role_is_the_group_of_a_fixture_user(collector, supervisor, admin_user):
    assert (collector.role, supervisor.role, admin_user.role) == (COLLECTOR, SUPERVISOR, ADMIN)


@pytest.mark.parametrize(
    ("groups", "expected"),
    [
        ([COLLECTOR], "Collector"),
        ([COLLECTOR, SUPERVISOR], "Supervisor"),
        ([SUPERVISOR, COLLECTOR], "Supervisor"),
        ([ADMIN, COLLECTOR], "Admin"),
        ([COLLECTOR, SUPERVISOR, ADMIN], "Admin"),
    ],
)
def test_role_is_the_highest_role_held(groups, expected):
    user = UserFactory(role=groups)
    assert fresh(user).role == expected


def test_other_groups_do_not_make_a_role():
    user = UserFactory()
    user.groups.add(Group.objects.create(name="Auditors"))
    assert fresh(user).role == ""


def test_anonymous_user_has_no_role():
    assert role_of(AnonymousUser()) == ""


def test_fixture_users_log_in_with_the_known_password(client, collector, password):
    assert client.login(username="collector", password=password)
    assert not client.login(username="collector", password="wrong")

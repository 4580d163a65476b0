"""A company's Admin in the Django admin: it manages its own company's users
within the product's roles, and nothing it posts reaches a superuser status,
an individual permission, another group, another company or another
company's users. Every change it makes is audited."""

import pytest
from django.contrib.auth.models import Group, Permission
from django.urls import reverse

from accounts.models import User
from accounts.roles import ADMIN, COLLECTOR, SUPERVISOR
from bulkops.models import AuditEvent
from tests.factories import CompanyFactory, OfficeFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def harbor(db):
    return CompanyFactory(name="Harbor Credit Union")


@pytest.fixture
def northwind(db):
    return CompanyFactory(name="Northwind Recovery")


@pytest.fixture
def harbor_admin(harbor):
    return UserFactory(username="harbor.admin", company=harbor, role=ADMIN, is_staff=True)


@pytest.fixture
def harbor_collector(harbor):
    return UserFactory(username="harbor.collector1", company=harbor, role=COLLECTOR)


@pytest.fixture
def northwind_user(northwind):
    return UserFactory(username="northwind.supervisor", company=northwind, role=SUPERVISOR)


@pytest.fixture
def superuser(db):
    return UserFactory(
        username="platform", company=None, is_superuser=True, is_staff=True, role=None
    )


@pytest.fixture
def as_harbor_admin(client, harbor_admin):
    client.force_login(harbor_admin)
    return client


def change_url(user):
    return reverse("admin:accounts_user_change", args=[user.pk])


def change_form(user, **overrides):
    """What the change form posts for ``user``, with ``overrides``."""
    data = {
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "is_active": "on",
        "groups": [str(g.pk) for g in user.groups.all()],
        "office": "",
        "timezone": user.timezone,
        "_save": "Save",
    }
    data.update(overrides)
    return data


def fresh(user) -> User:
    return User.objects.get(pk=user.pk)


def powers(user) -> tuple:
    user = fresh(user)
    return (
        user.is_superuser,
        user.is_staff,
        user.company_id,
        sorted(user.groups.values_list("name", flat=True)),
        sorted(user.user_permissions.values_list("codename", flat=True)),
    )


# --- escalation: nothing posted grants more than the roles ------------------------------


def test_an_admin_cannot_make_itself_superuser(as_harbor_admin, harbor_admin, northwind):
    before = powers(harbor_admin)
    response = as_harbor_admin.post(
        change_url(harbor_admin),
        change_form(
            harbor_admin,
            is_superuser="on",
            user_permissions=[str(Permission.objects.get(codename="change_company").pk)],
            company=str(northwind.pk),
        ),
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert powers(harbor_admin) == before
    assert not fresh(harbor_admin).is_superuser


def test_the_change_form_offers_no_superuser_staff_permission_or_company_field(
    as_harbor_admin, harbor_admin
):
    html = as_harbor_admin.get(change_url(harbor_admin)).content.decode()
    for field in ("is_superuser", "is_staff", "user_permissions", "company"):
        assert f'name="{field}"' not in html, field
    assert 'name="groups"' in html


def test_groups_are_limited_to_the_roles(as_harbor_admin, harbor_admin, harbor_collector):
    auditors = Group.objects.create(name="Auditors")
    auditors.permissions.add(Permission.objects.get(codename="change_company"))
    before = powers(harbor_collector)
    response = as_harbor_admin.post(
        change_url(harbor_collector), change_form(harbor_collector, groups=[str(auditors.pk)])
    )
    assert response.status_code == 200  # the form again, with the error
    assert "Select a valid choice" in response.content.decode()
    assert powers(harbor_collector) == before
    html = as_harbor_admin.get(change_url(harbor_collector)).content.decode()
    assert "Auditors" not in html


def test_staff_status_follows_the_admin_role(as_harbor_admin, harbor_collector):
    admin_role = Group.objects.get(name=ADMIN)
    as_harbor_admin.post(
        change_url(harbor_collector),
        change_form(harbor_collector, groups=[str(admin_role.pk)], is_staff=""),
    )
    assert fresh(harbor_collector).is_staff
    collector_role = Group.objects.get(name=COLLECTOR)
    as_harbor_admin.post(
        change_url(harbor_collector),
        change_form(fresh(harbor_collector), groups=[str(collector_role.pk)], is_staff="on"),
    )
    assert not fresh(harbor_collector).is_staff


def test_a_new_user_stays_in_the_admins_company_and_gets_no_superuser(
    as_harbor_admin, harbor, northwind
):
    response = as_harbor_admin.post(
        reverse("admin:accounts_user_add"),
        {
            "username": "harbor.new",
            "usable_password": "true",
            "password1": "a-Long-passphrase-2026",
            "password2": "a-Long-passphrase-2026",
            "first_name": "New",
            "last_name": "Person",
            "email": "new@example.com",
            "groups": [str(Group.objects.get(name=COLLECTOR).pk)],
            "office": "",
            "timezone": "America/New_York",
            "company": str(northwind.pk),
            "is_superuser": "on",
            "is_staff": "on",
            "user_permissions": [str(Permission.objects.get(codename="change_company").pk)],
            "_save": "Save",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    created = User.objects.get(username="harbor.new")
    assert powers(created) == (False, False, harbor.pk, [COLLECTOR], [])


def test_an_office_of_another_company_is_refused(as_harbor_admin, harbor_collector, northwind):
    foreign_office = OfficeFactory(company=northwind)
    before = fresh(harbor_collector).office_id
    response = as_harbor_admin.post(
        change_url(harbor_collector), change_form(harbor_collector, office=str(foreign_office.pk))
    )
    assert response.status_code == 200
    assert fresh(harbor_collector).office_id == before


# --- reach: other companies' users and superusers do not exist for it --------------------


@pytest.mark.parametrize("target", ["northwind_user", "superuser"])
def test_an_admin_cannot_see_change_delete_or_reset_the_password_of(
    request, as_harbor_admin, target
):
    other = request.getfixturevalue(target)
    before = (powers(other), fresh(other).password, fresh(other).first_name)
    changelist = as_harbor_admin.get(reverse("admin:accounts_user_changelist")).content.decode()
    assert other.username not in changelist

    # Django's admin answers a row outside its queryset as missing.
    page = as_harbor_admin.get(change_url(other))
    assert page.status_code == 302 and page["Location"] == reverse("admin:index")
    posted = as_harbor_admin.post(change_url(other), change_form(other, first_name="Owned"))
    assert posted.status_code == 302 and posted["Location"] == reverse("admin:index")
    password = as_harbor_admin.post(
        reverse("admin:auth_user_password_change", args=[other.pk]),
        {"password1": "Taken-over-2026", "password2": "Taken-over-2026"},
    )
    assert password.status_code == 404
    delete = as_harbor_admin.post(
        reverse("admin:accounts_user_delete", args=[other.pk]), {"post": "yes"}
    )
    assert delete.status_code == 302 and delete["Location"] == reverse("admin:index")
    bulk_delete = as_harbor_admin.post(
        reverse("admin:accounts_user_changelist"),
        {"action": "delete_selected", "_selected_action": [str(other.pk)], "post": "yes"},
    )
    assert bulk_delete.status_code in (200, 302)
    assert User.objects.filter(pk=other.pk).exists()
    assert (powers(other), fresh(other).password, fresh(other).first_name) == before


def test_the_sidebar_filters_name_no_other_company(as_harbor_admin, harbor_collector, northwind):
    OfficeFactory(company=northwind, name="Northwind Tower")
    html = as_harbor_admin.get(reverse("admin:accounts_user_changelist")).content.decode()
    assert "Northwind" not in html
    offices = as_harbor_admin.get(reverse("admin:accounts_office_changelist")).content.decode()
    assert "Northwind" not in offices


def test_an_admin_sees_only_its_own_company(as_harbor_admin, harbor, northwind):
    html = as_harbor_admin.get(reverse("admin:accounts_company_changelist")).content.decode()
    assert "Harbor Credit Union" in html
    assert "Northwind Recovery" not in html


def test_an_admin_sees_only_the_roles_among_groups(as_harbor_admin):
    Group.objects.create(name="Platform operators")
    html = as_harbor_admin.get(reverse("admin:auth_group_changelist")).content.decode()
    assert "Platform operators" not in html
    assert "Supervisor" in html


def test_a_superuser_still_manages_everything(client, superuser, northwind_user):
    client.force_login(superuser)
    assert (
        northwind_user.username
        in client.get(reverse("admin:accounts_user_changelist")).content.decode()
    )
    html = client.get(change_url(northwind_user)).content.decode()
    assert 'name="is_superuser"' in html and 'name="user_permissions"' in html


# --- audit ----------------------------------------------------------------------------


def events(action):
    return list(AuditEvent.objects.filter(action=action).order_by("pk"))


def test_a_role_change_is_audited_with_before_and_after(
    as_harbor_admin, harbor_admin, harbor_collector
):
    supervisor_role = Group.objects.get(name=SUPERVISOR)
    as_harbor_admin.post(
        change_url(harbor_collector),
        change_form(harbor_collector, groups=[str(supervisor_role.pk)], first_name="Renamed"),
    )
    [event] = events("user.changed")
    assert event.actor == harbor_admin
    assert event.object_type == "accounts.user" and event.object_id == harbor_collector.pk
    assert event.changes["groups"] == [[COLLECTOR], [SUPERVISOR]]
    assert event.changes["first_name"] == [harbor_collector.first_name, "Renamed"]


def test_creating_a_user_is_audited_without_its_password(as_harbor_admin, harbor_admin):
    as_harbor_admin.post(
        reverse("admin:accounts_user_add"),
        {
            "username": "harbor.audited",
            "usable_password": "true",
            "password1": "a-Long-passphrase-2026",
            "password2": "a-Long-passphrase-2026",
            "groups": [str(Group.objects.get(name=ADMIN).pk)],
            "timezone": "America/New_York",
            "_save": "Save",
        },
    )
    [event] = events("user.created")
    assert event.changes["username"] == [None, "harbor.audited"]
    assert event.changes["groups"] == [None, [ADMIN]]
    assert event.changes["is_staff"] == [None, True]
    assert event.changes["password"] == [None, "(changed)"]
    assert "a-Long-passphrase-2026" not in str(event.changes)


def test_a_password_reset_and_a_deletion_are_audited(
    as_harbor_admin, harbor_admin, harbor_collector
):
    response = as_harbor_admin.post(
        reverse("admin:auth_user_password_change", args=[harbor_collector.pk]),
        {
            "password1": "Another-passphrase-2026",
            "password2": "Another-passphrase-2026",
            "usable_password": "true",
        },
    )
    assert response.status_code == 302
    [reset] = events("user.password_changed")
    assert reset.object_id == harbor_collector.pk and reset.actor == harbor_admin
    assert "Another-passphrase" not in str(reset.changes)

    as_harbor_admin.post(
        reverse("admin:accounts_user_delete", args=[harbor_collector.pk]), {"post": "yes"}
    )
    assert not User.objects.filter(pk=harbor_collector.pk).exists()
    [deleted] = events("user.deleted")
    assert deleted.object_id == harbor_collector.pk
    assert deleted.changes == {"name": [str(harbor_collector), None]}


def test_a_group_change_by_the_platform_operator_is_audited(client, superuser):
    client.force_login(superuser)
    group = Group.objects.get(name=COLLECTOR)
    permission = Permission.objects.get(codename="export_accounts")
    kept = [str(p) for p in group.permissions.values_list("pk", flat=True)]
    client.post(
        reverse("admin:auth_group_change", args=[group.pk]),
        {"name": COLLECTOR, "permissions": [*kept, str(permission.pk)], "_save": "Save"},
    )
    [event] = events("group.changed")
    before, after = event.changes["permissions"]
    assert set(after) - set(before) == {str(permission)}

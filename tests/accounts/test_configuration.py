"""Per-company configuration: statuses, flags, custom fields, file types,
note types, clients, portfolios, creditors and agencies are platform
defaults (no company) or one company's own. A company's users are offered
the defaults and their own everywhere (grid filters, dialogs, the admin);
a company's Admin edits only its own rows, and never sees another
company's rows or users. Harbor and Northwind are the two companies."""

from __future__ import annotations

import re
import uuid

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.http import QueryDict
from django.urls import reverse

from accounts.actions.change_status import NOT_YOURS as STATUS_NOT_YOURS
from accounts.actions.flags import NOT_YOURS as FLAG_NOT_YOURS
from accounts.filters import AccountFilter
from accounts.models import (
    Account,
    AccountAccess,
    AccountFlag,
    AccountStatus,
    Agency,
    Client,
    Creditor,
    CustomField,
    FileType,
    Flag,
    NoteType,
    Portfolio,
)
from accounts.roles import ADMIN, COLLECTOR, SUPERVISOR
from accounts.selectable import ACCOUNTS as ACCOUNT_LIST
from accounts.selectors import configuration_visible_to
from bulkops import services
from bulkops.models import AuditEvent, BulkOperation, BulkOperationItem
from bulkops.selection import Selection
from tests.factories import CompanyFactory, UserFactory, create_accounts

pytestmark = pytest.mark.django_db

Outcome = BulkOperationItem.Outcome

CONFIGURATION = [
    AccountStatus,
    Flag,
    CustomField,
    FileType,
    NoteType,
    Client,
    Portfolio,
    Creditor,
    Agency,
]


def shared_client() -> Client:
    client, _ = Client.objects.get_or_create(name="Shared Bank", code="SHB", company=None)
    return client


def make(model, name: str, company=None, **extra):
    """A row of ``model`` named ``name`` (its code or key made from it)."""
    slug = re.sub(r"\W+", "_", name.lower())
    fields = {
        AccountStatus: {"category": AccountStatus.Category.ACTIVE},
        CustomField: {"key": slug},
        Client: {"code": slug[:20]},
        Portfolio: {"client": shared_client},
        Agency: {"code": slug[:20]},
    }.get(model, {})
    values = {key: value() if callable(value) else value for key, value in fields.items()}
    values.update(extra)
    return model.objects.create(name=name, company=company, **values)


def form_data(row, **overrides) -> dict:
    """What the admin's form of ``row``'s model posts to save ``row`` as it is."""
    data = {"name": row.name, "_save": "Save"}
    if isinstance(row, AccountStatus):
        data.update(category=row.category, is_active="on", sort_order=str(row.sort_order))
    elif isinstance(row, Flag):
        data.update(description=row.description, is_active="on")
    elif isinstance(row, CustomField):
        data.update(key=row.key, field_type=row.field_type, choices=row.choices, is_active="on")
    elif isinstance(row, NoteType):
        data.update(is_active="on")
    elif isinstance(row, Client):
        data.update(code=row.code)
    elif isinstance(row, Portfolio):
        data.update(client=str(row.client_id), purchased_on="")
    elif isinstance(row, Agency):
        data.update(code=row.code, contact_email=row.contact_email, is_active="on")
    data.update(overrides)
    return data


def new_form_data(model, name: str, **overrides) -> dict:
    """What the add form posts for a new row named ``name``."""
    return form_data(model(**_unsaved(model, name)), **overrides)


def _unsaved(model, name):
    slug = re.sub(r"\W+", "_", name.lower())
    values = {"name": name}
    if model is AccountStatus:
        values.update(category="active", sort_order=0)
    if model in (Client, Agency):
        values["code"] = slug[:20]
    if model is CustomField:
        values.update(key=slug, field_type="text")
    if model is Portfolio:
        values["client"] = shared_client()
    return values


def url(name, model, *args):
    return reverse(f"admin:accounts_{model._meta.model_name}_{name}", args=args)


def state_of(row) -> dict | None:
    return type(row).objects.filter(pk=row.pk).values().first()


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
def harbor_supervisor(harbor):
    return UserFactory(username="harbor.supervisor", company=harbor, role=SUPERVISOR)


@pytest.fixture
def northwind_supervisor(northwind):
    return UserFactory(
        username="northwind.supervisor",
        first_name="Nadia",
        last_name="Quillfeather",
        company=northwind,
        role=SUPERVISOR,
    )


@pytest.fixture
def superuser(db):
    return UserFactory(
        username="platform", company=None, is_superuser=True, is_staff=True, role=None
    )


@pytest.fixture
def as_harbor_admin(client, harbor_admin):
    client.force_login(harbor_admin)
    return client


@pytest.fixture
def statuses(harbor, northwind):
    return {
        "default": make(AccountStatus, "Active"),
        "harbor": make(AccountStatus, "Member Hardship Review", harbor),
        "northwind": make(AccountStatus, "Callback Scheduled", northwind),
    }


@pytest.fixture
def flags(harbor, northwind):
    return {
        "default": make(Flag, "Hardship"),
        "harbor": make(Flag, "Credit Union Member", harbor),
        "northwind": make(Flag, "Northwind Priority", northwind),
    }


# --- the selector ---------------------------------------------------------------------


@pytest.mark.parametrize("model", CONFIGURATION, ids=lambda m: m.__name__)
def test_a_user_is_offered_the_defaults_and_their_companys_own(
    model, harbor, northwind, harbor_supervisor, northwind_supervisor, superuser
):
    default = make(model, f"Default {model.__name__}")
    harbors = make(model, f"Harbor {model.__name__}", harbor)
    northwinds = make(model, f"Northwind {model.__name__}", northwind)
    nobodys = UserFactory(company=None, role=COLLECTOR)

    def offered(user):
        return set(configuration_visible_to(user, model))

    assert offered(harbor_supervisor) == {default, harbors}
    assert offered(northwind_supervisor) == {default, northwinds}
    assert offered(superuser) == {default, harbors, northwinds}
    assert offered(nobodys) == {default}
    assert offered(AnonymousUser()) == set()


def test_the_selector_serves_configuration_models_only(harbor_supervisor):
    with pytest.raises(ValueError, match="not a configuration model"):
        configuration_visible_to(harbor_supervisor, Account)


def test_a_name_is_unique_among_the_defaults_and_within_each_company(harbor, northwind):
    from django.db import IntegrityError, transaction

    make(AccountStatus, "Active")
    make(AccountStatus, "Review", harbor)
    make(AccountStatus, "Review", northwind)  # another company: allowed
    with pytest.raises(IntegrityError), transaction.atomic():
        make(AccountStatus, "Active")
    with pytest.raises(IntegrityError), transaction.atomic():
        make(AccountStatus, "Review", harbor)
    make(Client, "Local Bank", harbor, code="SHB")  # the default's code, Harbor's own
    with pytest.raises(IntegrityError), transaction.atomic():
        make(Client, "Local Bank Two", harbor, code="SHB")


# --- the grid's filters -----------------------------------------------------------------


def test_the_grid_filters_offer_the_defaults_and_the_companys_own(
    northwind, harbor, northwind_supervisor, statuses, flags
):
    rows = {
        model: (
            make(model, f"Default {model.__name__}"),
            make(model, f"H {model.__name__}", harbor),
        )
        for model in (Client, Portfolio, Creditor)
    }
    northwind_client = make(Client, "Northwind Bank", northwind)
    filterset = AccountFilter.for_user(northwind_supervisor, QueryDict())

    def choices(name):
        return set(filterset.filters[name].queryset)

    assert choices("status") == {statuses["default"], statuses["northwind"]}
    assert choices("flags_any") == choices("flags_none") == {flags["default"], flags["northwind"]}
    assert choices("client") == {shared_client(), rows[Client][0], northwind_client}
    assert rows[Portfolio][1] not in choices("portfolio")
    assert choices("creditor") == {rows[Creditor][0]}

    page = filterset.form.fields["status"].widget.render("status", None)
    assert "Callback Scheduled" in page and "Active" in page
    assert "Member Hardship Review" not in page


def test_a_filter_naming_another_companys_status_is_ignored_with_a_notice(
    northwind, northwind_supervisor, statuses
):
    create_accounts(2, company=northwind, status=statuses["default"])
    filterset = AccountFilter.for_user(
        northwind_supervisor, QueryDict(f"status={statuses['harbor'].pk}")
    )
    assert filterset.qs.count() == 2  # ignored: every account
    [problem] = filterset.problems
    assert "This filter was ignored" in problem


def test_the_grid_page_shows_no_other_companys_configuration(
    client, northwind_supervisor, statuses, flags
):
    client.force_login(northwind_supervisor)
    html = client.get(reverse("accounts:grid")).content.decode()
    assert "Callback Scheduled" in html and "Northwind Priority" in html
    assert "Member Hardship Review" not in html
    assert "Credit Union Member" not in html


def test_a_saved_list_cannot_name_another_companys_status_or_flag(
    client, northwind, northwind_supervisor, statuses, flags
):
    from accounts.models import SavedList

    client.force_login(northwind_supervisor)
    builder = reverse("accounts:list-create")
    for filters in ({"status": [statuses["harbor"].pk]}, {"flags_any": [flags["harbor"].pk]}):
        response = client.post(builder, {"name": "Theirs", "columns": ["file_number"], **filters})
        assert response.status_code == 200
        assert "Select a valid choice" in response.content.decode()
    assert not SavedList.objects.exists()
    mine = {"name": "Mine", "columns": ["file_number"], "status": [statuses["northwind"].pk]}
    assert client.post(builder, mine).status_code == 302
    assert SavedList.objects.get().filter_query == f"status={statuses['northwind'].pk}"


# --- the dialogs, and their re-validation when they run ---------------------------------------


@pytest.fixture(autouse=True)
def enqueued(monkeypatch):
    calls: list[int] = []
    monkeypatch.setattr(services, "enqueue_operation", calls.append)
    return calls


def select_everything(client) -> None:
    session = client.session
    session[ACCOUNT_LIST.session_key] = Selection("accounts").select_all().to_dict()
    session.save()


@pytest.mark.parametrize("action", ["change_status", "flags"])
def test_a_northwind_dialog_never_offers_harbors_rows(
    client, action, northwind, northwind_supervisor, statuses, flags
):
    create_accounts(3, company=northwind, status=statuses["default"])
    client.force_login(northwind_supervisor)
    select_everything(client)
    dialog = client.get(reverse("bulkops:action-dialog", args=[action]), {"state": ""})
    assert dialog.status_code == 200
    html = dialog.content.decode()
    rows = statuses if action == "change_status" else flags
    assert rows["default"].name in html and rows["northwind"].name in html
    assert rows["harbor"].name not in html
    assert f'value="{rows["harbor"].pk}"' not in html


def start(user, action, accounts, data):
    ids = [a.pk for a in accounts]
    return services.start_operation(
        user=user,
        action_key=action,
        selection=Selection("accounts", ids=frozenset(ids)),
        confirmed_count=len(ids),
        data=data,
        idempotency_key=uuid.uuid4().hex,
    )


def run(operation) -> BulkOperation:
    assert services.run_operation(operation.pk) == "finished"
    operation.refresh_from_db()
    return operation


def outcomes(operation) -> dict[int, tuple[str, str]]:
    return {
        item.target_id: (item.settled, item.reason)
        for item in operation.items.with_settled_outcome()
    }


def test_confirming_another_companys_status_or_flag_is_refused(
    northwind, northwind_supervisor, statuses, flags
):
    accounts = create_accounts(2, company=northwind, status=statuses["default"])
    with pytest.raises(services.InvalidParameters) as excinfo:
        start(northwind_supervisor, "change_status", accounts, {"status": statuses["harbor"].pk})
    assert "status" in excinfo.value.form.errors
    with pytest.raises(services.InvalidParameters) as excinfo:
        start(northwind_supervisor, "flags", accounts, {"add": [flags["harbor"].pk]})
    assert "add" in excinfo.value.form.errors
    with pytest.raises(services.InvalidParameters):
        start(northwind_supervisor, "flags", accounts, {"remove": [flags["harbor"].pk]})
    assert not BulkOperation.objects.exists()


def test_apply_refuses_a_status_its_creator_may_not_use(
    northwind, harbor, northwind_supervisor, statuses
):
    accounts = create_accounts(3, company=northwind, status=statuses["default"])
    operation = start(
        northwind_supervisor, "change_status", accounts, {"status": statuses["northwind"].pk}
    )
    # The parameters now name a row of another company (as a forged or
    # stale operation would): apply checks them again.
    AccountStatus.objects.filter(pk=statuses["northwind"].pk).update(company=harbor)
    operation = run(operation)
    assert operation.failed == 3 and operation.succeeded == 0
    assert set(outcomes(operation).values()) == {(Outcome.FAILED, STATUS_NOT_YOURS)}
    assert set(
        Account.objects.filter(pk__in=[a.pk for a in accounts]).values_list("status", flat=True)
    ) == {statuses["default"].pk}


def test_apply_refuses_a_flag_its_creator_may_not_use(
    northwind, harbor, northwind_supervisor, statuses, flags
):
    accounts = create_accounts(2, company=northwind, status=statuses["default"])
    operation = start(
        northwind_supervisor,
        "flags",
        accounts,
        {"add": [flags["default"].pk], "remove": [flags["northwind"].pk]},
    )
    Flag.objects.filter(pk=flags["northwind"].pk).update(company=harbor)
    operation = run(operation)
    assert set(outcomes(operation).values()) == {(Outcome.FAILED, FLAG_NOT_YOURS)}
    assert not AccountFlag.objects.exists()


def test_a_companys_own_status_and_flag_go_only_on_its_own_accounts(
    harbor, northwind, harbor_supervisor, statuses, flags
):
    """An account another company granted Harbor stays on the configuration
    its owner may use."""
    own = create_accounts(2, company=harbor, status=statuses["default"])
    [granted] = create_accounts(1, company=northwind, status=statuses["default"])
    AccountAccess.objects.create(company=harbor, account=granted)
    everything = [*own, granted]

    status_run = run(
        start(harbor_supervisor, "change_status", everything, {"status": statuses["harbor"].pk})
    )
    by_account = outcomes(status_run)
    assert by_account[granted.pk] == (
        Outcome.FAILED,
        "Member Hardship Review is another company's status",
    )
    assert {by_account[a.pk][0] for a in own} == {Outcome.DONE}
    assert Account.objects.get(pk=granted.pk).status == statuses["default"]
    assert {a.status for a in Account.objects.filter(pk__in=[a.pk for a in own])} == {
        statuses["harbor"]
    }

    flag_run = run(
        start(
            harbor_supervisor,
            "flags",
            everything,
            {"add": [flags["harbor"].pk, flags["default"].pk]},
        )
    )
    by_account = outcomes(flag_run)
    assert by_account[granted.pk] == (Outcome.FAILED, "Credit Union Member: another company's flag")
    assert not AccountFlag.objects.filter(account=granted).exists()
    assert AccountFlag.objects.filter(account__in=own).count() == 4


# --- the admin: a company's Admin ------------------------------------------------------------


@pytest.mark.parametrize("model", CONFIGURATION, ids=lambda m: m.__name__)
def test_the_changelist_lists_the_defaults_and_its_own_rows_only(
    as_harbor_admin, model, harbor, northwind
):
    make(model, f"Platform {model.__name__}")
    make(model, f"Harbor {model.__name__}", harbor)
    make(model, f"Northwind {model.__name__}", northwind)
    html = as_harbor_admin.get(url("changelist", model)).content.decode()
    assert f"Platform {model.__name__}" in html and f"Harbor {model.__name__}" in html
    assert "Northwind" not in html
    assert "Platform default" in html  # the Company column


@pytest.mark.parametrize("model", CONFIGURATION, ids=lambda m: m.__name__)
def test_a_default_is_read_only_for_a_company_admin(as_harbor_admin, model):
    default = make(model, f"Platform {model.__name__}")
    before = state_of(default)

    page = as_harbor_admin.get(url("change", model, default.pk))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="_save"' not in html and 'name="name"' not in html  # the view page

    posted = as_harbor_admin.post(
        url("change", model, default.pk), form_data(default, name="Taken over")
    )
    assert posted.status_code == 403
    assert (
        as_harbor_admin.post(url("delete", model, default.pk), {"post": "yes"}).status_code == 403
    )
    bulk_delete = as_harbor_admin.post(
        url("changelist", model),
        {"action": "delete_selected", "_selected_action": [str(default.pk)], "post": "yes"},
    )
    assert bulk_delete.status_code == 403
    assert state_of(default) == before
    assert not AuditEvent.objects.exists()


@pytest.mark.parametrize("model", CONFIGURATION, ids=lambda m: m.__name__)
def test_another_companys_row_does_not_exist_for_a_company_admin(as_harbor_admin, model, northwind):
    theirs = make(model, f"Northwind {model.__name__}", northwind)
    before = state_of(theirs)
    index = reverse("admin:index")

    page = as_harbor_admin.get(url("change", model, theirs.pk))
    assert page.status_code == 302 and page["Location"] == index
    posted = as_harbor_admin.post(url("change", model, theirs.pk), form_data(theirs, name="Ours"))
    assert posted.status_code == 302 and posted["Location"] == index
    deleted = as_harbor_admin.post(url("delete", model, theirs.pk), {"post": "yes"})
    assert deleted.status_code == 302 and deleted["Location"] == index
    as_harbor_admin.post(
        url("changelist", model),
        {"action": "delete_selected", "_selected_action": [str(theirs.pk)], "post": "yes"},
    )
    history = as_harbor_admin.get(url("history", model, theirs.pk))
    assert history.status_code == 302
    assert state_of(theirs) == before
    assert not AuditEvent.objects.exists()


@pytest.mark.parametrize("model", CONFIGURATION, ids=lambda m: m.__name__)
def test_a_company_admin_creates_rows_in_its_own_company_whatever_it_posts(
    as_harbor_admin, harbor_admin, model, harbor, northwind
):
    form = as_harbor_admin.get(url("add", model)).content.decode()
    assert 'name="company"' not in form
    response = as_harbor_admin.post(
        url("add", model), new_form_data(model, "Brand New", company=str(northwind.pk))
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    created = model.objects.get(name="Brand New")
    assert created.company == harbor
    [event] = AuditEvent.objects.filter(action=f"{model._meta.model_name}.created")
    assert event.actor == harbor_admin and event.object_id == created.pk
    assert event.changes["name"] == [None, "Brand New"]
    assert event.changes["company"] == [None, "Harbor Credit Union"]


def test_a_company_admin_edits_and_deletes_its_own_rows_audited(
    as_harbor_admin, harbor_admin, harbor, statuses
):
    own = statuses["harbor"]
    response = as_harbor_admin.post(
        url("change", AccountStatus, own.pk), form_data(own, name="Member Review")
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    own.refresh_from_db()
    assert own.name == "Member Review" and own.company == harbor
    [changed] = AuditEvent.objects.filter(action="accountstatus.changed")
    assert changed.actor == harbor_admin
    assert changed.changes == {"name": ["Member Hardship Review", "Member Review"]}

    as_harbor_admin.post(url("delete", AccountStatus, own.pk), {"post": "yes"})
    assert not AccountStatus.objects.filter(pk=own.pk).exists()
    [deleted] = AuditEvent.objects.filter(action="accountstatus.deleted")
    assert deleted.changes == {"name": ["Member Review", None]}


def test_a_companys_own_row_may_not_take_a_defaults_name(as_harbor_admin, statuses, flags):
    response = as_harbor_admin.post(
        url("add", AccountStatus), new_form_data(AccountStatus, "Active")
    )
    assert response.status_code == 200
    assert (
        "A platform default account status has this name, and Harbor Credit Union is offered "
        "the defaults already. Choose another name." in response.content.decode()
    )
    renamed = as_harbor_admin.post(
        url("change", Flag, flags["harbor"].pk), form_data(flags["harbor"], name="Hardship")
    )
    assert renamed.status_code == 200
    assert Flag.objects.get(pk=flags["harbor"].pk).name == "Credit Union Member"
    # Northwind's names are not offered alongside Harbor's: free to take.
    taken = as_harbor_admin.post(
        url("add", AccountStatus), new_form_data(AccountStatus, "Callback Scheduled")
    )
    assert taken.status_code == 302
    assert AccountStatus.objects.filter(name="Callback Scheduled").count() == 2


def test_a_companys_own_names_are_unique_within_it(as_harbor_admin, harbor):
    make(CustomField, "Member Number", harbor, key="member_number")
    response = as_harbor_admin.post(
        url("add", CustomField),
        new_form_data(CustomField, "Member No", key="member_number"),
    )
    assert response.status_code == 200
    assert (
        "Harbor Credit Union has its own custom field with this key already."
        in response.content.decode()
    )
    assert CustomField.objects.filter(company=harbor).count() == 1


def test_the_editable_list_does_not_reach_the_defaults(as_harbor_admin, statuses):
    default = statuses["default"]
    before = state_of(default)
    html = as_harbor_admin.get(url("changelist", AccountStatus)).content.decode()
    assert 'name="form-0-sort_order"' not in html
    as_harbor_admin.post(
        url("changelist", AccountStatus),
        {
            "form-TOTAL_FORMS": "1",
            "form-INITIAL_FORMS": "1",
            "form-0-id": str(default.pk),
            "form-0-sort_order": "99",
            "_save": "Save",
        },
    )
    assert state_of(default) == before


def test_a_portfolio_is_of_a_client_the_company_is_offered(as_harbor_admin, harbor, northwind):
    shared, theirs = shared_client(), make(Client, "Northwind Bank", northwind)
    own = make(Client, "Harbor Bank", harbor)
    form = as_harbor_admin.get(url("add", Portfolio)).content.decode()
    assert "Northwind Bank" not in form and "Harbor Bank" in form and "Shared Bank" in form

    refused = as_harbor_admin.post(
        url("add", Portfolio), new_form_data(Portfolio, "2026 Q1", client=str(theirs.pk))
    )
    assert refused.status_code == 200
    assert not Portfolio.objects.filter(client=theirs).exists()
    for client in (own, shared):
        response = as_harbor_admin.post(
            url("add", Portfolio), new_form_data(Portfolio, "2026 Q1", client=str(client.pk))
        )
        assert response.status_code == 302
        assert Portfolio.objects.get(client=client).company == harbor


def test_the_sidebar_filters_name_no_other_companys_rows_or_users(
    as_harbor_admin, harbor, northwind, statuses, northwind_supervisor
):
    northwind_bank = make(Client, "Northwind Bank", northwind)
    make(Portfolio, "NW 2026", northwind, client=northwind_bank)
    make(Portfolio, "Harbor 2026", harbor)
    create_accounts(1, company=northwind, status=statuses["northwind"], assigned_to=None)
    create_accounts(1, company=harbor, status=statuses["harbor"])
    for model in (Portfolio, AccountStatus, Account):
        html = as_harbor_admin.get(url("changelist", model)).content.decode()
        assert "Northwind" not in html, model
        assert "Callback Scheduled" not in html, model
        assert northwind_supervisor.username not in html, model
        assert northwind_supervisor.last_name not in html, model
    accounts = as_harbor_admin.get(url("changelist", Account)).content.decode()
    assert "Member Hardship Review" in accounts  # its own status is a choice


# --- the admin: the platform operator ------------------------------------------------------


def test_the_platform_operator_manages_the_defaults_and_every_companys_rows(
    client, superuser, statuses, northwind
):
    client.force_login(superuser)
    html = client.get(url("changelist", AccountStatus)).content.decode()
    for status in statuses.values():
        assert status.name in html
    default = statuses["default"]
    response = client.post(
        url("change", AccountStatus, default.pk), form_data(default, name="Open")
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    assert AccountStatus.objects.get(pk=default.pk).name == "Open"

    form = client.get(url("add", Flag)).content.decode()
    assert 'name="company"' in form
    response = client.post(
        url("add", Flag), new_form_data(Flag, "Payroll", company=str(northwind.pk))
    )
    assert response.status_code == 302
    assert Flag.objects.get(name="Payroll").company == northwind
    # A row's company is set once: moving it would strand other accounts.
    change = client.get(url("change", Flag, Flag.objects.get(name="Payroll").pk)).content.decode()
    assert 'name="company"' not in change


def test_a_default_may_not_take_a_name_a_company_has(client, superuser, statuses):
    client.force_login(superuser)
    response = client.post(
        url("add", AccountStatus), new_form_data(AccountStatus, "Callback Scheduled", company="")
    )
    assert response.status_code == 200
    assert (
        "Northwind Recovery has its own account status with this name, and a default would "
        "be offered alongside it. Choose another." in response.content.decode()
    )
    assert AccountStatus.objects.filter(name="Callback Scheduled").count() == 1


def test_a_default_portfolio_is_not_of_a_companys_client(client, superuser, harbor):
    client.force_login(superuser)
    harbors = make(Client, "Harbor Bank", harbor)
    response = client.post(
        url("add", Portfolio),
        new_form_data(Portfolio, "2026 Q1", client=str(harbors.pk), company=""),
    )
    assert response.status_code == 200
    assert "only that company&#x27;s portfolios can be of it" in response.content.decode()
    assert not Portfolio.objects.exists()


# --- the migration --------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)  # SQLite alters tables outside a transaction only
def test_the_migration_makes_every_existing_row_a_platform_default():
    before = [("accounts", "0004_one_primary_contact")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    try:
        old = executor.loader.project_state(before).apps
        status = old.get_model("accounts", "AccountStatus").objects.create(
            name="Legacy", category="active", sort_order=3
        )
        client = old.get_model("accounts", "Client").objects.create(name="Old Bank", code="OLD")
        old.get_model("accounts", "Portfolio").objects.create(client=client, name="2019")
        old.get_model("accounts", "CustomField").objects.create(name="Employer", key="employer")
        old.get_model("accounts", "Flag").objects.create(name="Legacy flag")
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
    assert list(AccountStatus.objects.values_list("pk", "name", "sort_order", "company")) == [
        (status.pk, "Legacy", 3, None)
    ]
    assert list(Client.objects.values_list("name", "code", "company")) == [
        ("Old Bank", "OLD", None)
    ]
    assert list(Portfolio.objects.values_list("client__code", "name", "company")) == [
        ("OLD", "2019", None)
    ]
    assert list(CustomField.objects.values_list("key", "company")) == [("employer", None)]
    assert list(Flag.objects.values_list("name", "company")) == [("Legacy flag", None)]

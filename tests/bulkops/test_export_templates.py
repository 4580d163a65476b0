"""Saved export templates through their services (bulkops.exports.templates):
saving, sharing and deleting one is a change in a transaction with its audit
record, and only its owner changes it; the Export pages go through them."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from accounts.roles import SUPERVISOR
from bulkops.exports import templates
from bulkops.models import AuditEvent, ExportTemplate
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

COLUMNS = [{"key": "file_number", "mask": False}, {"key": "email", "mask": True}]


def events(template_pk=None):
    queryset = AuditEvent.objects.filter(object_type="bulkops.exporttemplate").order_by("pk")
    if template_pk is not None:
        queryset = queryset.filter(object_id=template_pk)
    return [(e.action, e.actor_id, e.changes) for e in queryset]


def test_saving_creates_then_replaces_the_owners_template_of_that_name(supervisor, company):
    template, created = templates.save_template(
        user=supervisor, name="Monthly", file_format="csv", columns=COLUMNS, shared=False
    )
    assert created
    assert (template.owner, template.company, template.format, template.columns) == (
        supervisor,
        company,
        "csv",
        COLUMNS,
    )
    again, created = templates.save_template(
        user=supervisor, name="Monthly", file_format="xlsx", columns=COLUMNS[:1], shared=True
    )
    assert (again.pk, created) == (template.pk, False)
    assert ExportTemplate.objects.count() == 1
    assert events(template.pk) == [
        (
            "export_template.created",
            supervisor.pk,
            {
                "name": [None, "Monthly"],
                "format": [None, "csv"],
                "shared": [None, False],
                "columns": [None, COLUMNS],
            },
        ),
        (
            "export_template.updated",
            supervisor.pk,
            {"format": ["csv", "xlsx"], "shared": [False, True], "columns": [COLUMNS, COLUMNS[:1]]},
        ),
    ]


def test_sharing_and_deleting_are_audited(supervisor, company):
    template = ExportTemplate.objects.create(
        name="Team", owner=supervisor, company=company, columns=COLUMNS
    )
    templates.share_template(user=supervisor, template=template, shared=True)
    templates.share_template(user=supervisor, template=template, shared=False)
    templates.delete_template(user=supervisor, template=template)
    assert not ExportTemplate.objects.exists()
    assert events(template.pk) == [
        ("export_template.shared", supervisor.pk, {"shared": [False, True]}),
        ("export_template.unshared", supervisor.pk, {"shared": [True, False]}),
        ("export_template.deleted", supervisor.pk, {"name": ["Team", None]}),
    ]


def test_only_the_owner_changes_a_template(supervisor, company):
    colleague = UserFactory(company=company, role=SUPERVISOR)
    template = ExportTemplate.objects.create(
        name="Team", owner=supervisor, company=company, shared=True, columns=COLUMNS
    )
    with pytest.raises(PermissionDenied, match="Only the owner of a template"):
        templates.share_template(user=colleague, template=template, shared=False)
    with pytest.raises(PermissionDenied, match="Only the owner of a template"):
        templates.delete_template(user=colleague, template=template)
    template.refresh_from_db()
    assert template.shared
    assert events() == []


def test_the_pages_save_share_and_delete_through_the_services(client, supervisor):
    client.force_login(supervisor)
    fields = {"format": "csv", "columns": ["file_number"], "template_name": "Mine"}
    response = client.post(
        reverse("bulkops:export-template-save"),
        {**fields, "action": "export"},
        HTTP_HX_REQUEST="true",
    )
    assert "Template “Mine” saved." in response.content.decode()
    template = ExportTemplate.objects.get()
    client.post(reverse("bulkops:export-template-share", args=[template.pk]))
    client.post(reverse("bulkops:export-template-delete", args=[template.pk]))
    assert [action for action, _, _ in events(template.pk)] == [
        "export_template.created",
        "export_template.shared",
        "export_template.deleted",
    ]


def test_an_unknown_export_action_is_not_found(client, supervisor):
    client.force_login(supervisor)
    for action in ("nope", "assign"):  # no such action; an action that is no export
        response = client.get(reverse("bulkops:export-fields"), {"action": action})
        assert response.status_code == 404

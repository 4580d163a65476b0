"""The audit trail: every change to a row of the product is recorded through
these functions and nowhere else, in the transaction that makes it. Many
changes at once are recorded set-based (one ``INSERT ... SELECT``)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import connection, models
from django.db.models.functions import Cast
from django.utils import timezone

from bulkops.models import AuditEvent, BulkOperation
from bulkops.registry import audit_company_path

AUDIT_BATCH_SIZE = 5000


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, models.Model):
        return value.pk
    return value


def object_type_of(model: type[models.Model] | models.Model) -> str:
    return model._meta.label_lower


def _actor_id(actor) -> int | None:
    return actor.pk if actor is not None and actor.is_authenticated else None


def _actor_company_id(actor) -> int | None:
    return getattr(actor, "company_id", None) if _actor_id(actor) else None


def company_of(obj: models.Model) -> int | None:
    """The company an event about ``obj`` belongs to (``registry``'s rule),
    None when the row names none."""
    path = audit_company_path(type(obj))
    if path is None:
        return None
    if path == "pk":
        return obj.pk
    if "__" not in path:
        return getattr(obj, f"{path}_id", None)
    return type(obj)._base_manager.filter(pk=obj.pk).values_list(path, flat=True).first()


def record_audit_event(
    *,
    actor,
    action: str,
    obj: models.Model,
    changes: dict[str, tuple[Any, Any]],
    bulk_operation: BulkOperation | None = None,
) -> AuditEvent:
    """Record one change of one object."""
    return record_audit_event_about(
        actor=actor,
        action=action,
        object_type=object_type_of(obj),
        object_id=obj.pk,
        changes=changes,
        bulk_operation=bulk_operation,
        company_id=company_of(obj),
    )


def record_audit_event_about(
    *,
    actor,
    action: str,
    object_type: str,
    object_id: int,
    changes: dict[str, tuple[Any, Any]],
    bulk_operation: BulkOperation | None = None,
    company_id: int | None = None,
) -> AuditEvent:
    """Record one event about an object named by type and id, which need not
    be a row (a failed login names a sentinel when the username is nobody's).
    Without ``company_id`` the event belongs to the actor's company."""
    return AuditEvent.objects.create(
        actor_id=_actor_id(actor),
        action=action,
        object_type=object_type,
        object_id=object_id,
        changes={k: [_jsonable(b), _jsonable(a)] for k, (b, a) in changes.items()},
        bulk_operation=bulk_operation,
        company_id=company_id if company_id is not None else _actor_company_id(actor),
    )


def record_audit_events(
    *,
    actor,
    action: str,
    model: type[models.Model],
    changes_by_id: Iterable[tuple[int, dict[str, tuple[Any, Any]]]],
    bulk_operation: BulkOperation | None = None,
    occurred_at: dt.datetime | None = None,
) -> int:
    """Record many changes, thousands of rows per INSERT. Returns the count."""
    occurred_at = occurred_at or timezone.now()
    object_type = object_type_of(model)
    actor_id, fallback = _actor_id(actor), _actor_company_id(actor)
    path = audit_company_path(model)
    written = 0

    def write(batch: list[AuditEvent]) -> int:
        # The batch's companies in one query, from the rows it is about.
        if path is not None:
            companies = dict(
                model._base_manager.filter(pk__any=[e.object_id for e in batch]).values_list(
                    "pk", path
                )
            )
            for event in batch:
                event.company_id = companies.get(event.object_id) or fallback
        AuditEvent.objects.bulk_create(batch)
        return len(batch)

    batch: list[AuditEvent] = []
    for object_id, changes in changes_by_id:
        batch.append(
            AuditEvent(
                occurred_at=occurred_at,
                actor_id=actor_id,
                action=action,
                object_type=object_type,
                object_id=object_id,
                changes={k: [_jsonable(b), _jsonable(a)] for k, (b, a) in changes.items()},
                bulk_operation=bulk_operation,
                company_id=fallback,
            )
        )
        if len(batch) >= AUDIT_BATCH_SIZE:
            written += write(batch)
            batch = []
    if batch:
        written += write(batch)
    return written


def _record_select(
    *,
    actor,
    action: str,
    queryset: models.QuerySet,
    changes_sql: str,
    changes_params: list,
    selected: tuple[str, ...] = (),
    bulk_operation: BulkOperation | None = None,
    occurred_at: dt.datetime | None = None,
) -> int:
    """One ``INSERT ... SELECT`` writing an event about every row of
    ``queryset``: ``changes_sql`` builds each event's changes from the
    subquery ``sub``, which selects ``pk``, the ``selected`` values and the
    row's company. Returns the number of events written."""
    model = queryset.model
    company_column = connection.ops.quote_name("audit_company")
    pk_column = connection.ops.quote_name("pk")
    path = audit_company_path(model)
    # A typed NULL: PostgreSQL takes an untyped one for text, and COALESCE
    # with the actor's company id would fail.
    nothing = Cast(models.Value(None), output_field=models.BigIntegerField())
    company = models.F(path) if path else nothing
    try:
        # values_list() names each selected column by the name asked for
        # ("pk", "status"), not by its column ("id", "status_id").
        inner_sql, inner_params = (
            queryset.annotate(audit_company=company)
            .values_list("pk", *selected, "audit_company")
            .query.sql_with_params()
        )
    except EmptyResultSet:  # e.g. pk__in=[]: nothing changes, nothing to record
        return 0
    sql, params = _insert_events_sql(
        actor=actor,
        action=action,
        model=model,
        source=f"({inner_sql}) sub",
        object_id=f"sub.{pk_column}",
        changes=changes_sql,
        changes_params=changes_params,
        company=f"sub.{company_column}",
        bulk_operation=bulk_operation,
        occurred_at=occurred_at,
    )
    # Placeholders in SQL order: the SELECT list first, then the subquery's own.
    with connection.cursor() as cursor:
        cursor.execute(sql, params + list(inner_params))
        return cursor.rowcount


def _insert_events_sql(
    *,
    actor,
    action: str,
    model: type[models.Model],
    source: str,
    object_id: str,
    changes: str,
    company: str,
    changes_params=(),
    bulk_operation: BulkOperation | None = None,
    occurred_at: dt.datetime | None = None,
) -> tuple[str, list]:
    """``INSERT INTO`` the audit ``SELECT``ing an event per row of
    ``source``: its object id, changes and company are those expressions
    (SQL; ``changes_params`` the placeholders of ``changes``), the rest the
    same for every event. Returns ``(sql, params)``."""
    table = connection.ops.quote_name(AuditEvent._meta.db_table)
    sql = (
        f"INSERT INTO {table} "
        "(occurred_at, actor_id, action, object_type, object_id, changes, bulk_operation_id, "
        "company_id) "
        f"SELECT %s, %s, %s, %s, {object_id}, {changes}, %s, COALESCE({company}, %s) "
        f"FROM {source}"
    )
    params = [
        occurred_at or timezone.now(),
        _actor_id(actor),
        action,
        object_type_of(model),
        *changes_params,
        bulk_operation.pk if bulk_operation else None,
        _actor_company_id(actor),
    ]
    return sql, params


def audit_insert_sql(
    *,
    actor,
    action: str,
    model: type[models.Model],
    source: str,
    bulk_operation: BulkOperation | None = None,
    occurred_at: dt.datetime | None = None,
) -> tuple[str, list]:
    """The ``INSERT ... SELECT`` (PostgreSQL) writing one event about each
    row of ``source``, a relation with the columns ``object_id``,
    ``changes`` (jsonb, ``{"field": [before, after]}``) and ``company_id``
    (NULL: the actor's company): ``(sql, params)``, its placeholders
    positional (``%s``). For a set-based write that computes its changes and
    its events in one statement, as a data-modifying ``WITH`` of it; the
    statement's other placeholders must be positional too."""
    return _insert_events_sql(
        actor=actor,
        action=action,
        model=model,
        source=f"{source} src",
        object_id="src.object_id",
        changes="src.changes",
        company="src.company_id",
        bulk_operation=bulk_operation,
        occurred_at=occurred_at,
    )


def record_field_change(
    *,
    actor,
    action: str,
    queryset: models.QuerySet,
    field: str,
    new_value: Any,
    bulk_operation: BulkOperation | None = None,
    before: str | None = None,
) -> int:
    """Record, in ONE ``INSERT ... SELECT``, that ``field`` of every row of
    ``queryset`` goes from its current value to ``new_value``. Call it in the
    same transaction and just before the ``update()`` that makes the change,
    with a queryset that excludes the rows already at the new value. With
    ``before``, the value before is that annotation of the queryset instead
    of the field (a value held in another table, say). Returns the number of
    events written."""
    if before is None:
        queryset.model._meta.get_field(field)  # FieldDoesNotExist for an unknown field
    column = connection.ops.quote_name(before or field)
    if connection.vendor == "postgresql":
        changes_sql = f"json_build_object(%s, json_build_array(sub.{column}, %s::json))"
    else:
        changes_sql = f"json_object(%s, json_array(sub.{column}, json(%s)))"
    return _record_select(
        actor=actor,
        action=action,
        queryset=queryset,
        changes_sql=changes_sql,
        changes_params=[field, json.dumps(_jsonable(new_value))],
        selected=(before or field,),
        bulk_operation=bulk_operation,
    )


def record_same_change(
    *,
    actor,
    action: str,
    queryset: models.QuerySet,
    changes: dict[str, tuple[Any, Any]],
    bulk_operation: BulkOperation | None = None,
    occurred_at: dt.datetime | None = None,
) -> int:
    """Record the same ``changes`` about every row of ``queryset`` in ONE
    ``INSERT ... SELECT`` (rows just created, say: an alert or a note added
    to many accounts). Returns the number of events written."""
    as_json = json.dumps({k: [_jsonable(b), _jsonable(a)] for k, (b, a) in changes.items()})
    return _record_select(
        actor=actor,
        action=action,
        queryset=queryset,
        changes_sql="%s::jsonb" if connection.vendor == "postgresql" else "json(%s)",
        changes_params=[as_json],
        bulk_operation=bulk_operation,
        occurred_at=occurred_at,
    )


def audited_update(
    *,
    actor,
    action: str,
    queryset: models.QuerySet,
    field: str,
    new_value: Any,
    bulk_operation: BulkOperation | None = None,
    also: dict[str, Any] | None = None,
) -> int:
    """Set ``field`` to ``new_value`` on every row of ``queryset``, recording
    each row's change first (``record_field_change``, one ``INSERT ...
    SELECT``), then updating in one statement with ``also``'s extra
    assignments (recorded by their own call when they matter). Pass a
    queryset that excludes the rows already at the new value. Returns the
    number of rows changed."""
    record_field_change(
        actor=actor,
        action=action,
        queryset=queryset,
        field=field,
        new_value=new_value,
        bulk_operation=bulk_operation,
    )
    return queryset.update(**{field: new_value, **(also or {})})

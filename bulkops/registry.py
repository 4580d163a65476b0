"""Bulk actions: the base class every app's action extends, and the registry
the grid's toolbar and the engine read. The engine never knows what an action
does; an action never knows about chunks, retries or progress."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from django import forms

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from bulkops.models import BulkOperation

_REGISTRY: dict[str, type[BulkAction]] = {}


@dataclass
class Outcomes:
    """What ``apply`` did to one chunk: every account done unless listed as
    skipped or failed, each with its reason."""

    skipped: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    failed: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))

    def skip(self, account_ids: Iterable[int], reason: str) -> None:
        self.skipped[reason].update(account_ids)

    def fail(self, account_ids: Iterable[int], reason: str) -> None:
        self.failed[reason].update(account_ids)

    @classmethod
    def all_failed(cls, account_ids: Iterable[int], reason: str) -> Outcomes:
        outcomes = cls()
        outcomes.fail(account_ids, reason)
        return outcomes


class ChunkItem(NamedTuple):
    """One account of a chunk and its per-account argument."""

    account_id: int
    argument: str


class Chunk(Sequence[ChunkItem]):
    """The accounts of one chunk, in account order, as the engine fetched them
    ((account id, argument) rows). Items are made as they are read, and
    ``account_ids`` needs none: an action that only needs the ids of a large
    chunk does not pay for a ChunkItem each."""

    __slots__ = ("_rows",)

    def __init__(self, rows: Iterable[tuple[int, str]]):
        self._rows = rows if isinstance(rows, list) else list(rows)

    @property
    def account_ids(self) -> list[int]:
        return [row[0] for row in self._rows]

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return Chunk(self._rows[index])
        return ChunkItem._make(self._rows[index])

    def __iter__(self) -> Iterator[ChunkItem]:
        return map(ChunkItem._make, self._rows)


class BulkAction:
    """Subclass, set the class attributes, implement ``apply`` and decorate
    with ``@register``.

    * ``form_class``: the dialog's parameter form; its ``__init__`` takes
      ``user`` and its ``cleaned_data`` goes through ``parameters()``.
    * ``apply(items, operation)``: change one chunk set-based (never a
      per-row ``save()``), write audit through ``bulkops.services``, return
      ``Outcomes``. It runs inside the chunk's transaction; raising rolls the
      chunk back and the engine reports its accounts failed with the reason.
    * ``snapshot(operation, queryset)``: optional; by default every selected
      account becomes an item.
    """

    key: str = ""
    label: str = ""
    permission: str = ""
    order: int = 100
    form_class: type[forms.Form] = forms.Form
    chunk_size: int = 2000
    confirm_label: str = "Confirm"
    # An action that only reads accounts (Export) neither waits for nor blocks
    # the operations that change them.
    changes_accounts: bool = True
    # Tables ("app_label.Model") the action adds a row per account to: after
    # a large operation the engine refreshes their statistics (the audit
    # trail's always).
    grows: tuple[str, ...] = ()

    def get_form(self, data=None, *, user, selected_count: int | None = None) -> forms.Form:
        # Own ids: the dialog sits on the grid page, whose filter form already
        # uses Django's default ids (id_status, id_stage, ...).
        return self.form_class(data, user=user, selected_count=selected_count, auto_id="bulk_%s")

    def parameters(self, form: forms.Form) -> dict[str, Any]:
        """JSON-serialisable parameters stored on the operation."""
        return dict(form.cleaned_data)

    def describe(self, parameters: dict[str, Any]) -> str:
        """One line for the operations list."""
        return self.label

    def snapshot(self, operation: BulkOperation, queryset: QuerySet) -> int:
        from bulkops.services import snapshot_items

        return snapshot_items(operation, queryset)

    def chunk_size_for(self, operation: BulkOperation) -> int:
        """How many accounts a chunk of this operation holds."""
        return self.chunk_size

    def apply(self, items: Chunk, operation: BulkOperation) -> Outcomes:
        raise NotImplementedError

    def finish(self, operation: BulkOperation) -> None:
        """Called once, in the last transaction, when no item is pending
        (e.g. to assemble an export from its per-chunk parts). Raising marks
        the operation failed with the error; the chunks stay applied."""

    def cancelled(self, operation: BulkOperation) -> None:
        """Called once, in the transaction that marks the operation cancelled
        (e.g. to delete an export's part files: there will be no file)."""


def register(action_class: type[BulkAction]) -> type[BulkAction]:
    """Class decorator: make an action available to the toolbar and engine."""
    key = action_class.key
    if not key or not action_class.label or not action_class.permission:
        raise ValueError(f"{action_class.__name__} needs a key, a label and a permission.")
    if key in _REGISTRY and _REGISTRY[key] is not action_class:
        raise ValueError(f"Two bulk actions share the key {key!r}.")
    _REGISTRY[key] = action_class
    return action_class


def get_action(key: str) -> BulkAction | None:
    action_class = _REGISTRY.get(key)
    return action_class() if action_class else None


def all_actions() -> list[type[BulkAction]]:
    return sorted(_REGISTRY.values(), key=lambda a: (a.order, a.label))


@dataclass(frozen=True)
class ToolbarButton:
    key: str
    label: str
    allowed: bool


def toolbar_for(user) -> list[ToolbarButton]:
    """Every registered action, and whether this user may use it."""
    return [
        ToolbarButton(action.key, action.label, user.has_perm(action.permission))
        for action in all_actions()
    ]


# --- audit: what the ids in recorded changes name ---------------------------------------

_AUDIT_REFERENCES: dict[str, str] = {}


def register_audit_reference(field: str, model: str) -> None:
    """Changes recorded under ``field`` hold ids of ``model`` ("app.Model"):
    the audit log shows them by the object's name."""
    if _AUDIT_REFERENCES.get(field, model) != model:
        raise ValueError(
            f"The audited field {field!r} already refers to {_AUDIT_REFERENCES[field]}."
        )
    _AUDIT_REFERENCES[field] = model


def audit_references() -> dict[str, str]:
    return dict(_AUDIT_REFERENCES)

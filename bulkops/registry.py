"""Bulk actions: the base class every app's action extends, and the registry
the grid's toolbar and the engine read. The engine never knows what an action
does; an action never knows about chunks, retries or progress."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from django import forms
from django.db import models

from common.filters import canonical_filter_params

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from bulkops.models import BulkOperation

_REGISTRY: dict[str, type[BulkAction]] = {}


@dataclass
class Outcomes:
    """What ``apply`` did to one chunk: every row done unless listed as
    skipped or failed, each with its reason."""

    skipped: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    failed: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))

    def skip(self, ids: Iterable[int], reason: str) -> None:
        ids = set(ids)
        if ids:
            self.skipped[reason].update(ids)

    def fail(self, ids: Iterable[int], reason: str) -> None:
        ids = set(ids)
        if ids:
            self.failed[reason].update(ids)

    def merge(self, other: Outcomes) -> Outcomes:
        """Add ``other``'s skipped and failed rows to these."""
        for reason, ids in other.skipped.items():
            self.skip(ids, reason)
        for reason, ids in other.failed.items():
            self.fail(ids, reason)
        return self

    @classmethod
    def all_failed(cls, ids: Iterable[int], reason: str) -> Outcomes:
        outcomes = cls()
        outcomes.fail(ids, reason)
        return outcomes


class ChunkItem(NamedTuple):
    """One row of a chunk and its per-row argument."""

    target_id: int
    argument: str


class Chunk(Sequence[ChunkItem]):
    """The rows of one chunk, in id order, as the engine fetched them ((row
    id, argument) pairs). Items are made as they are read, and
    ``target_ids`` needs none: an action that only needs the ids of a large
    chunk does not pay for a ChunkItem each."""

    __slots__ = ("_rows",)

    def __init__(self, rows: Iterable[tuple[int, str]]):
        self._rows = rows if isinstance(rows, list) else list(rows)

    @property
    def target_ids(self) -> list[int]:
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
      chunk back and the engine reports its rows failed with the reason.
    * ``snapshot(operation, queryset)``: optional; by default every selected
      row becomes an item.
    """

    key: str = ""
    label: str = ""
    # The selectable list it acts on ("accounts"); the toolbar of that list offers it.
    target: str = ""
    # The toolbar's menu it sits in once there are many actions; False for an
    # action started from elsewhere (a page of one account) and not the grid.
    group: str = ""
    in_toolbar: bool = True
    permission: str = ""
    order: int = 100
    form_class: type[forms.Form] = forms.Form
    # Renders the form in the dialog; the default renders every own field.
    dialog_template: str = ""
    # The dialog's Bootstrap size classes (Mass Edit's page-sized form).
    dialog_size: str = "modal-lg"
    # Static scripts the dialog needs, loaded by the page that offers it.
    scripts: tuple[str, ...] = ()
    # The result's words: "N changed", "every account is processed;
    # finishing…", and a template shown under the result (an export's download).
    done_word: str = "changed"
    # Said above the page's navigation when the operation succeeds ("Mass
    # Edit Successful"); the finished notice otherwise says it.
    success_message: str = ""
    finishing_text: str = "finishing"
    result_template: str = ""
    # A verification step between the dialog and the confirmation (Add Fees'
    # check, a write-off file's eligibility): its template, shown with
    # ``preview_context``; the engine refuses a confirmation of parameters
    # that were not previewed.
    preview_template: str = ""
    preview_title: str = "Preview"
    # The dialog's button that leads to it (the title unless given: Add
    # Fees' "Proceed to Verification").
    preview_button: str = ""
    # Who may approve an operation that ``approval_needed`` holds back, and
    # what the Approvals page shows of it besides its description (sample
    # messages of a batch, say), from ``approval_context``.
    approval_permission: str = ""
    approval_template: str = ""
    # The key of the action that reverses this one (Undo), if any.
    inverse: str = ""
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
        """The dialog's form: the action's own fields, then those of the
        extensions other apps registered for it."""
        form_class = self.form_class
        extensions = extensions_of(self.key)
        if extensions:
            form_class = type(
                form_class.__name__,
                (form_class, *(extension.form_class for extension in extensions)),
                {},
            )
        # Own ids: the dialog sits on the grid page, whose filter form already
        # uses Django's default ids (id_status, id_stage, ...).
        return form_class(data, user=user, selected_count=selected_count, auto_id="bulk_%s")

    def dialog_context(self, form: forms.Form) -> dict[str, Any]:
        """What ``dialog_template`` needs besides ``form`` and ``count``."""
        return {}

    def parameters(self, form: forms.Form) -> dict[str, Any]:
        """JSON-serialisable parameters stored on the operation."""
        return {name: form.cleaned_data[name] for name in self.form_class.base_fields}

    def all_parameters(self, form: forms.Form) -> dict[str, Any]:
        """The action's parameters and its extensions'."""
        parameters = self.parameters(form)
        for extension in extensions_of(self.key):
            parameters.update(extension.parameters(form))
        return parameters

    def describe(self, parameters: dict[str, Any]) -> str:
        """One line for the operations list."""
        return self.label

    def audited_parameters(self, parameters: dict[str, Any]) -> dict[str, Any]:
        """Parameters recorded on the operation's "started" audit event (a
        choice that widens what the operation may do, say)."""
        return {}

    def full_description(self, parameters: dict[str, Any]) -> str:
        parts = [self.describe(parameters)]
        parts += [extension.describe(parameters) for extension in extensions_of(self.key)]
        return "; ".join(part for part in parts if part)

    def snapshot(self, operation: BulkOperation, queryset: QuerySet) -> int | None:
        """Make the operation's items (``bulkops.services.snapshot_items``)
        and return how many; None lets the engine make one item per selected
        row."""
        return None

    def preview_context(self, form: forms.Form, *, user, selection) -> dict[str, Any]:
        """What ``preview_template`` shows (rows to check, totals, warnings)."""
        return {}

    def confirm_label_for(self, user) -> str:
        """The confirming button's words for ``user`` (seed 000: "Send for
        Approval" for a user whose operations wait for approval)."""
        return self.confirm_label

    def approval_needed(
        self, user, parameters: dict[str, Any], count: int, *, operation: BulkOperation
    ) -> str:
        """Why an operation of these parameters over ``count`` rows must wait
        for another eligible user's approval ("" for no approval): a message
        batch from a user who may not send, a write-off over the company's
        limit. ``operation`` is the operation being confirmed, its items
        already snapshot (what a rule over the rows' amounts reads)."""
        return ""

    def approval_context(self, operation: BulkOperation) -> dict[str, Any]:
        """What ``approval_template`` shows the approver of ``operation``."""
        return {}

    def approval_refusal(self, operation: BulkOperation) -> str:
        """Why ``operation`` may no longer be approved as it was confirmed
        ("" when it may): asked again when an approver approves, since what
        was allowed when it was asked for may not be any more (a message
        batch whose template lacks what every message must now carry)."""
        return ""

    def run_at(self, parameters: dict[str, Any]):
        """When the operation may start (an aware datetime), or None for now."""
        return None

    def inverse_parameters(self, operation: BulkOperation) -> dict[str, Any]:
        """The parameters of the operation that undoes ``operation``."""
        return {"undoes": operation.pk}

    def undo_items(self, operation: BulkOperation) -> Iterable[tuple[int, str]]:
        """(row id, argument) for each row the inverse operation reverses: by
        default each row ``operation`` changed, with no argument. A queryset
        of ``values_list("target_id", <argument>)`` is copied in one
        ``INSERT ... SELECT``; any other iterable row by row."""
        return (
            operation.items.with_settled_outcome()
            .filter(settled_outcome="done")
            .annotate(no_argument=models.Value(""))
            .values_list("target_id", "no_argument")
        )

    def chunk_size_for(self, operation: BulkOperation) -> int:
        """How many rows a chunk of this operation holds."""
        return self.chunk_size

    def apply(self, items: Chunk, operation: BulkOperation) -> Outcomes:
        raise NotImplementedError

    def apply_chunk(self, items: Chunk, operation: BulkOperation) -> Outcomes:
        """What the engine runs for a chunk: ``apply``, then each extension's
        step, in the chunk's transaction."""
        outcomes = self.apply(items, operation)
        for extension in extensions_of(self.key):
            extension.apply(items, operation, outcomes)
        return outcomes

    def finish(self, operation: BulkOperation) -> None:
        """Called once, in the last transaction, when no item is pending
        (e.g. to assemble an export from its per-chunk parts). Raising marks
        the operation failed with the error; the chunks stay applied."""

    def cancelled(self, operation: BulkOperation) -> None:
        """Called once, in the transaction that marks the operation cancelled
        (e.g. to delete an export's part files: there will be no file)."""


class ActionExtension:
    """What another app adds to a bulk action: fields in the action's dialog
    and a step after the action's own in every chunk, in the same
    transaction (billing's Credit Payments on Assign To). Subclass, set
    ``key`` (unique) and ``action`` (the extended action's key), and decorate
    with ``@register_extension``.

    * ``form_class``: a plain form with the extra fields (no ``__init__``);
      they are merged into the action's form, so their names must be unique.
    * ``dialog_template``: renders those fields in the dialog (``form``).
    * ``apply(items, operation, outcomes)``: the extra step; ``outcomes`` is
      what the action reported for the chunk, so the rows it skipped or
      failed can be left alone.
    """

    key: str = ""
    action: str = ""
    form_class: type[forms.Form] = forms.Form
    dialog_template: str = ""

    def parameters(self, form: forms.Form) -> dict[str, Any]:
        return {name: form.cleaned_data[name] for name in self.form_class.base_fields}

    def describe(self, parameters: dict[str, Any]) -> str:
        return ""

    def apply(self, items: Chunk, operation: BulkOperation, outcomes: Outcomes) -> None:
        raise NotImplementedError


_EXTENSIONS: dict[str, list[ActionExtension]] = defaultdict(list)


def register_extension(extension_class: type[ActionExtension]) -> type[ActionExtension]:
    if not extension_class.key or not extension_class.action:
        raise ValueError(f"{extension_class.__name__} needs a key and the action it extends.")
    registered = _EXTENSIONS[extension_class.action]
    if any(type(e) is not extension_class and e.key == extension_class.key for e in registered):
        raise ValueError(f"Two extensions of {extension_class.action!r} share a key.")
    if not any(type(e) is extension_class for e in registered):
        registered.append(extension_class())
    return extension_class


def extensions_of(action_key: str) -> list[ActionExtension]:
    return list(_EXTENSIONS.get(action_key, ()))


def register(action_class: type[BulkAction]) -> type[BulkAction]:
    """Class decorator: make an action available to the toolbar and engine."""
    key = action_class.key
    if not (key and action_class.label and action_class.permission and action_class.target):
        raise ValueError(
            f"{action_class.__name__} needs a key, a label, a permission and a target."
        )
    if key in _REGISTRY and _REGISTRY[key] is not action_class:
        raise ValueError(f"Two bulk actions share the key {key!r}.")
    _REGISTRY[key] = action_class
    return action_class


def get_action(key: str) -> BulkAction | None:
    action_class = _REGISTRY.get(key)
    return action_class() if action_class else None


def label_of(kind: str) -> str:
    """The label of the action ``kind`` (the key itself once no app registers it)."""
    action_class = _REGISTRY.get(kind)
    return action_class.label if action_class else kind


def all_actions() -> list[type[BulkAction]]:
    return sorted(_REGISTRY.values(), key=lambda a: (a.order, a.label))


# The toolbar shows its actions as buttons while there are this many at most
# (eight fit on one line of the grid beside the counter), then as one menu
# per group ("Actions > [desired action]").
TOOLBAR_BUTTONS_AT_MOST = 8


@dataclass(frozen=True)
class ToolbarButton:
    key: str
    label: str
    allowed: bool
    group: str = ""


@dataclass(frozen=True)
class Toolbar:
    """The actions a list offers, and whether this user may use each."""

    buttons: tuple[ToolbarButton, ...] = ()
    scripts: tuple[str, ...] = ()

    def __iter__(self):
        return iter(self.buttons)

    def __len__(self):
        return len(self.buttons)

    @property
    def as_menus(self) -> bool:
        return len(self.buttons) > TOOLBAR_BUTTONS_AT_MOST

    @property
    def groups(self) -> list[tuple[str, list[ToolbarButton]]]:
        """(group, its buttons) in the order the groups first appear."""
        grouped: dict[str, list[ToolbarButton]] = {}
        for button in self.buttons:
            grouped.setdefault(button.group or "Actions", []).append(button)
        return list(grouped.items())


def actions_for(target: str) -> list[type[BulkAction]]:
    """The actions the toolbar of the selectable ``target`` offers."""
    return [a for a in all_actions() if a.target == target and a.in_toolbar]


def toolbar_for(user, target: str) -> Toolbar:
    """Every action registered for ``target``, and whether this user may use it."""
    actions = actions_for(target)
    return Toolbar(
        buttons=tuple(
            ToolbarButton(a.key, a.label, user.has_perm(a.permission), a.group) for a in actions
        ),
        scripts=tuple(dict.fromkeys(script for a in actions for script in a.scripts)),
    )


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


# --- audit: which company an event belongs to -------------------------------------------

_AUDIT_COMPANIES: dict[str, str] = {}


def register_audit_company(model: str, path: str) -> None:
    """Events about rows of ``model`` ("app.Model") belong to the company at
    ``path`` from the row (a lookup: "account__company", or "pk" for the
    company model itself). A model with a ``company`` field needs no entry."""
    _AUDIT_COMPANIES[model.lower()] = path


def audit_company_path(model) -> str | None:
    """The lookup from a row of ``model`` to its company, or None: its
    events then belong to the actor's company."""
    label = model._meta.label_lower
    if label in _AUDIT_COMPANIES:
        return _AUDIT_COMPANIES[label]
    field_names = {f.name for f in model._meta.get_fields()}
    return "company" if "company" in field_names else None


# --- selectables: the lists users select rows of ---------------------------------------


@dataclass(frozen=True)
class Selectable:
    """A list users select rows of, registered by the app that owns it (the
    accounts grid; later message batches, approvals...). Everything the
    engine needs to know of the list's rows comes from here.

    * ``filterset(user, data)``: the list's FilterSet over exactly the rows
      ``user`` may see; the only way a selection's "all matching" is read.
    * ``visible_to(user)``: the rows ``user`` may see (explicit picks are
      intersected with it).
    * ``owners_reachable_by(user)``: the ids of the companies owning a row
      ``user`` may see (None: every company), so that two starts that could
      share a row are serialised.
    * ``describe_rows(ids)``: {id: (label, url)} for the rows of an
      operation's outcomes; ``row_label`` names that column.
    """

    key: str
    noun: str  # "account"
    plural: str  # "accounts"
    filterset_class: type
    filterset: Callable[[Any, Any], Any]
    visible_to: Callable[[Any], QuerySet]
    owners_reachable_by: Callable[[Any], list[int] | None]
    describe_rows: Callable[[list[int]], dict[int, tuple[str, str]]]
    row_label: str = "Row"
    session_key: str = ""
    # The rows' model as the audit trail names it ("accounts.account"), and
    # how the audit log finds a row by what users type (a file number).
    object_type: str = ""
    find_row: Callable[[str], int | None] | None = None
    row_param: str = ""  # the audit log's query parameter for it ("file_number")
    # Selecting from an uploaded file: ``find_rows(user, values)`` gives
    # {value: id} for the values naming rows ``user`` may see, the file's
    # column is the one headed ``row_label`` (else its first), and the list
    # is shown at ``url_name``. Without find_rows a list takes no files.
    find_rows: Callable[[Any, list[str]], dict[str, int]] | None = None
    url_name: str = ""
    view_permission: str = ""  # who may open the list (and so select in it)

    def filter_params(self, querydict) -> list[tuple[str, str]]:
        """The filter part of a query string, canonical (sorted, no empties),
        so two URLs showing the same rows compare equal."""
        return canonical_filter_params(self.filterset_class, querydict)


_SELECTABLES: dict[str, Selectable] = {}


def register_selectable(selectable: Selectable) -> Selectable:
    if _SELECTABLES.get(selectable.key, selectable) is not selectable:
        raise ValueError(f"Two selectable lists share the key {selectable.key!r}.")
    _SELECTABLES[selectable.key] = selectable
    return selectable


def selectables() -> list[Selectable]:
    return list(_SELECTABLES.values())


def get_selectable(key: str) -> Selectable:
    """The registered list ``key``; LookupError if no app registered it."""
    try:
        return _SELECTABLES[key]
    except KeyError:
        raise LookupError(f"No selectable list is registered as {key!r}.") from None


@dataclass(frozen=True)
class Wording:
    """How an operation's progress and result are put in words."""

    label: str = "Bulk operation"
    noun: str = "row"
    done: str = "changed"
    finishing: str = "finishing"
    result_template: str = ""
    success_message: str = ""


def wording_for(action: BulkAction | None) -> Wording:
    if action is None:
        return Wording()
    noun = _SELECTABLES[action.target].noun if action.target in _SELECTABLES else "row"
    return Wording(
        action.label,
        noun,
        action.done_word,
        action.finishing_text,
        action.result_template,
        action.success_message,
    )

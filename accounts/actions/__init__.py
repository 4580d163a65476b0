"""Bulk actions the accounts app contributes, one module each: thin adapters
between the engine and ``accounts.services``. Importing this package
registers them (accounts.apps)."""

from accounts.actions.assign import AssignTo, AssignToForm
from accounts.actions.change_status import ChangeStatusForm, ChangeStatusTo
from accounts.actions.export import ExportAccounts
from accounts.actions.flags import AddRemoveFlags, FlagsForm
from accounts.actions.mass_edit import MassEdit, MassEditForm
from accounts.actions.mass_edit_undo import UndoMassEdit
from accounts.actions.stage import StageForm, UpdateStage
from accounts.actions.undo import UndoAssign, UndoChangeStatus, UndoFlags, UndoUpdateStage

__all__ = [
    "AddRemoveFlags",
    "AssignTo",
    "AssignToForm",
    "ChangeStatusForm",
    "ChangeStatusTo",
    "ExportAccounts",
    "FlagsForm",
    "MassEdit",
    "MassEditForm",
    "StageForm",
    "UndoAssign",
    "UndoChangeStatus",
    "UndoFlags",
    "UndoMassEdit",
    "UndoUpdateStage",
    "UpdateStage",
]

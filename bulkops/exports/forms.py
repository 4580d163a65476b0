"""The Export dialog's form, over the catalogue of the export action it
belongs to (``ExportAction`` makes a subclass with its ``catalogue``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from django import forms

from bulkops.exports.columns import Catalogue
from bulkops.exports.templates import template_problem, templates_visible_to
from bulkops.models import ExportFormat, ExportTemplate


def _ordered_unique(values: Iterable[str] | str | None) -> list[str]:
    """Distinct values in their order (one string counts as one value)."""
    if isinstance(values, str):
        values = [values]
    return list(dict.fromkeys(str(v) for v in values or []))


class ExportForm(forms.Form):
    """The Export dialog. ``columns`` are submitted in their order (the
    checked boxes in the chooser's row order); ``mask`` lists the sensitive
    columns to mask. ``template`` only fills the form (see the export-fields
    view); a template naming columns that no longer exist is refused."""

    catalogue: ClassVar[Catalogue]

    template = forms.ModelChoiceField(
        label="Saved template",
        queryset=ExportTemplate.objects.none(),
        required=False,
        empty_label="— None —",
        error_messages={
            "invalid_choice": "That template no longer exists or is not shared with you. "
            "Pick another."
        },
    )
    format = forms.ChoiceField(
        label="Format",
        choices=ExportFormat.choices,
        initial=ExportFormat.CSV,
        error_messages={
            "required": "Choose a format: CSV or Excel (XLSX).",
            "invalid_choice": "Unknown format “%(value)s”: choose CSV or Excel (XLSX).",
        },
    )
    columns = forms.Field(widget=forms.MultipleHiddenInput, required=False)
    mask = forms.Field(widget=forms.MultipleHiddenInput, required=False)
    template_name = forms.CharField(label="Template name", max_length=100, required=False)
    template_shared = forms.BooleanField(label="Share with my company", required=False)

    def __init__(self, *args, user, selected_count=None, template=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.can_unmask = self.catalogue.may_unmask(user)
        self.available = self.catalogue.columns(user)
        self.sensitive = {k for k, c in self.available.items() if c.sensitive}
        self.fields["template"].queryset = templates_visible_to(user)
        self.template_problem = None
        initial_columns = [c for c in self.catalogue.initial_keys(user) if c in self.available]
        initial_mask = set(self.sensitive)
        if template is not None and not self.is_bound:
            self.initial["template"] = template.pk
            self.template_problem = template_problem(template, self.available)
            if self.template_problem is None:
                self.initial["format"] = template.format
                self.initial["template_name"] = template.name
                self.initial["template_shared"] = template.shared
                initial_columns = [e["key"] for e in template.columns]
                initial_mask = {e["key"] for e in template.columns if e.get("mask")}
        self.initial.setdefault("columns", initial_columns)
        self.initial.setdefault("mask", sorted(initial_mask))

    # --- validation ---------------------------------------------------------------------

    def clean_template(self):
        template = self.cleaned_data["template"]
        if template is not None:
            problem = template_problem(template, self.available)
            if problem:
                raise forms.ValidationError(problem)
        return template

    def clean_columns(self):
        keys = _ordered_unique(self.cleaned_data["columns"])
        if not keys:
            raise forms.ValidationError("Choose at least one column to export.")
        unknown = [k for k in keys if k not in self.available]
        if unknown:
            raise forms.ValidationError(
                f"Unknown column{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}. "
                "It may have been removed; pick the columns again."
            )
        return keys

    def clean_mask(self):
        return {k for k in _ordered_unique(self.cleaned_data["mask"]) if k in self.sensitive}

    def spec(self) -> list[dict[str, Any]]:
        columns = [self.available[k] for k in self.cleaned_data["columns"]]
        return self.catalogue.spec(columns, self.cleaned_data["mask"], user=self.user)

    def is_valid_as_template(self) -> bool:
        """Valid, and named: what “Save as template” needs."""
        valid = self.is_valid()
        if not (self.data.get("template_name") or "").strip():
            self.add_error("template_name", "Name the template to save it.")
            return False
        return valid

    def template_columns(self) -> list[dict[str, Any]]:
        """The chosen columns as a template stores them."""
        return [{"key": c["key"], "mask": c["mask"]} for c in self.spec()]

    # --- rendering ----------------------------------------------------------------------

    def _submitted(self, name: str) -> list[str]:
        return _ordered_unique(
            self.fields[name].widget.value_from_datadict(self.data, self.files, name)
        )

    def column_rows(self) -> list[dict[str, Any]]:
        """The chooser's rows: the chosen columns in their order, then the rest."""
        if self.is_bound:
            chosen = _ordered_unique(self._submitted("columns"))
            masked = set(self._submitted("mask"))
        else:
            chosen = list(self.initial.get("columns", []))
            masked = set(self.initial.get("mask", []))
        chosen = [k for k in chosen if k in self.available]
        if not self.can_unmask:
            masked = set(self.sensitive)
        order = chosen + [k for k in self.available if k not in chosen]
        return [
            {
                "key": key,
                "label": self.available[key].label,
                "included": key in chosen,
                "sensitive": key in self.sensitive,
                "masked": key in masked,
            }
            for key in order
        ]

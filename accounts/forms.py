from django import forms
from django.contrib.auth.models import Group

from accounts import selectors
from accounts.columns import grid_columns
from accounts.models import SavedList


def column_choices():
    """The grid's columns, by label (the column chooser, a saved list's)."""
    return [(c.key, c.label) for c in grid_columns()]


class ColumnsForm(forms.Form):
    columns = forms.MultipleChoiceField(
        choices=column_choices, widget=forms.CheckboxSelectMultiple, label="Columns"
    )


class SavedListForm(forms.Form):
    """The list builder's fields. A plain form: ``accounts.services.save_list``
    does the saving (and the name check) from its cleaned data.

    ``columns`` keeps the order the boxes were posted in (a
    MultipleChoiceField cleans the posted list as it is): the builder draws
    the chosen ones first, in their order, under "Show Fields on List", and
    static/js/list_builder.js reorders them there."""

    name = forms.CharField(
        label="List Name", max_length=100, widget=forms.TextInput(attrs={"class": "form-control"})
    )
    default_sort = forms.ChoiceField(
        label="Default Sort", required=False, widget=forms.Select(attrs={"class": "form-select"})
    )
    what_contacts = forms.ChoiceField(
        label="What Contacts",
        choices=SavedList.WhatContacts.choices,
        initial=SavedList.WhatContacts.ALL,
        required=False,  # not posted: All Accounts
        widget=forms.Select(attrs={"class": "form-select"}),
        help_text="My Accounts: those assigned to whoever opens the list.",
    )
    columns = forms.MultipleChoiceField(
        label="Show Fields on List",
        choices=column_choices,
        widget=forms.CheckboxSelectMultiple(attrs={"class": "form-check-input"}),
        required=False,
        error_messages={
            "invalid_choice": "“%(value)s” is not a field the list can show: "
            "choose the fields from Available Fields to Show."
        },
    )
    shared_with_users = forms.ModelMultipleChoiceField(
        label="Share With: users",
        queryset=None,
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 6, "class": "form-select"}),
    )
    shared_with_groups = forms.ModelMultipleChoiceField(
        label="Share With: groups",
        queryset=Group.objects.none(),
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 3, "class": "form-select"}),
    )

    def __init__(self, *args, user, saved_list: SavedList | None = None, **kwargs):
        if saved_list is not None:
            kwargs.setdefault(
                "initial",
                {
                    "name": saved_list.name,
                    "default_sort": saved_list.default_sort,
                    "what_contacts": saved_list.what_contacts,
                    "columns": saved_list.columns,
                    "shared_with_users": list(saved_list.shared_with_users.all()),
                    "shared_with_groups": list(saved_list.shared_with_groups.all()),
                },
            )
        else:
            # A new list starts with the columns its owner sees on the grid.
            kwargs.setdefault("initial", {"columns": selectors.grid_columns_for(user)})
        super().__init__(*args, **kwargs)
        self.user = user
        sorts = [("", "File Number")]
        for column in grid_columns():
            if column.grid.sort:
                name, label = column.key, column.label
                sorts += [(name, f"{label} ↑"), (f"-{name}", f"{label} ↓")]
        self.fields["default_sort"].choices = sorts
        self.fields["shared_with_users"].queryset = selectors.company_users(user).exclude(
            pk=user.pk
        )
        self.fields["shared_with_groups"].queryset = Group.objects.order_by("name")

    def clean_what_contacts(self) -> str:
        return self.cleaned_data["what_contacts"] or SavedList.WhatContacts.ALL

    def clean_columns(self) -> list[str]:
        # In the posted order; a field posted twice is shown once, where it
        # first was.
        return list(dict.fromkeys(self.cleaned_data["columns"]))

    def field_lists(self):
        """The columns' checkboxes as the builder draws them: (those shown
        on the list, in their order; the others, in the catalogue's order).
        Drawn in this order, the ticked boxes post in the list's order
        without JavaScript too (a box ticked among the others comes last)."""
        bound = self["columns"]
        boxes = {box.data["value"]: box for box in bound.subwidgets}
        chosen = [str(key) for key in bound.value() or []]
        shown = [boxes[key] for key in dict.fromkeys(chosen) if key in boxes]
        available = [box for key, box in boxes.items() if key not in chosen]
        return shown, available

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
    does the saving (and the name check) from its cleaned data."""

    name = forms.CharField(label="List Name", max_length=100)
    default_sort = forms.ChoiceField(label="Default Sort", required=False)
    columns = forms.MultipleChoiceField(
        label="Show Fields on List",
        choices=column_choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    shared_with_users = forms.ModelMultipleChoiceField(
        label="Share With: users",
        queryset=None,
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 6}),
    )
    shared_with_groups = forms.ModelMultipleChoiceField(
        label="Share With: groups",
        queryset=Group.objects.none(),
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 3}),
    )

    def __init__(self, *args, user, saved_list: SavedList | None = None, **kwargs):
        if saved_list is not None:
            kwargs.setdefault(
                "initial",
                {
                    "name": saved_list.name,
                    "default_sort": saved_list.default_sort,
                    "columns": saved_list.columns,
                    "shared_with_users": list(saved_list.shared_with_users.all()),
                    "shared_with_groups": list(saved_list.shared_with_groups.all()),
                },
            )
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

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


class SavedListForm(forms.ModelForm):
    default_sort = forms.ChoiceField(label="Default Sort", required=False)
    columns = forms.MultipleChoiceField(
        label="Show Fields on List",
        choices=column_choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )

    class Meta:
        model = SavedList
        fields = ["name", "default_sort", "columns", "shared_with_users", "shared_with_groups"]
        labels = {
            "shared_with_users": "Share With: users",
            "shared_with_groups": "Share With: groups",
        }
        widgets = {
            "shared_with_users": forms.SelectMultiple(attrs={"size": 6}),
            "shared_with_groups": forms.SelectMultiple(attrs={"size": 3}),
        }

    def __init__(self, *args, user, **kwargs):
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
        self.fields["shared_with_users"].required = False
        self.fields["shared_with_groups"].required = False

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("Give the list a name.")
        duplicate = SavedList.objects.filter(owner=self.user, name=name)
        if self.instance.pk:
            duplicate = duplicate.exclude(pk=self.instance.pk)
        if duplicate.exists():
            raise forms.ValidationError("You already have a list with this name.")
        return name

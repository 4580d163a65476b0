"""Form helpers every app's pages share."""

from __future__ import annotations

from django import forms

DATE = forms.DateInput(attrs={"type": "date"})


def add_service_errors(form: forms.Form, error) -> None:
    """A service's ValidationError shown on the form: on the field it names
    when the form has it, else above the form."""
    if hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, error)


class BootstrapForm(forms.Form):
    """Bootstrap's classes on every widget, so the templates draw fields alike."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for bound in self.fields.values():
            widget = bound.widget
            if isinstance(widget, forms.RadioSelect | forms.CheckboxSelectMultiple):
                css = "form-check-input"
            elif isinstance(widget, forms.Select):
                css = "form-select"
            else:
                css = "form-control"
            widget.attrs["class"] = f"{widget.attrs.get('class', '')} {css}".strip()

    show_when: dict[str, str] = {}  # field -> "other_field:value" (static/js/show_when.js)

    def rows(self):
        """(bound field, is a group of radios, show-when) for the template."""
        return [
            (
                self[name],
                isinstance(field.widget, forms.RadioSelect),
                self.show_when.get(name, ""),
            )
            for name, field in self.fields.items()
        ]

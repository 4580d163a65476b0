"""What the settings screens (Django admin) of several apps share."""

from django import forms


class OwnCompanyRowForm(forms.ModelForm):
    """A row a company's Admin makes is its own company's, whatever it posts
    (its ModelAdmin's ``get_form`` sets ``admin_user`` on the form class it
    returns, a new one each call)."""

    admin_user = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        user = self.admin_user
        if self.instance.pk is None and user is not None and not user.is_superuser:
            self.instance.company_id = user.company_id

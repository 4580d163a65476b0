"""What every app's lists share: a user's remembered choices for a table."""

from django.conf import settings
from django.db import models
from django.utils.timezone import now


class TablePreference(models.Model):
    """The columns one user chose for one table (the accounts grid, and the
    coming batches, approvals, tasks and journal tables), in their order.
    ``table`` is the table's key, the name its list is registered under."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="table_preferences"
    )
    table = models.CharField(max_length=50)
    columns = models.JSONField(default=list)
    updated_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "table"], name="table_preference_unique"),
        ]

    def __str__(self):
        return f"{self.table} columns of {self.user}"

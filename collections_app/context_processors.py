"""The navigation shell: one list of sections, each shown to whom may use it."""

from django.urls import NoReverseMatch, reverse

# (label, url name, permission needed or None)
SECTIONS = [
    ("Accounts", "accounts:grid", "accounts.view_account"),
    ("My tasks", "accounts:my-tasks", "accounts.work_account"),
    ("Bulk operations", "bulkops:operation-list", "bulkops.view_bulkoperation"),
    ("Approvals", "bulkops:approvals", "bulkops.view_bulkoperation"),
    ("Messages", "messages:batches", "communications.view_message"),
    ("Bulk Freeze Rollback", "billing:frozen", "billing.freeze_accounts"),
    ("Bulk Write-off", "billing:write-off-file-upload", "billing.write_off_balances"),
    ("Templates", "communications:templates", "communications.view_messagetemplate"),
    ("Settings", "admin:index", None),
]


def navigation(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_sections": []}
    sections = []
    current = request.path
    for label, url_name, permission in SECTIONS:
        try:
            url = reverse(url_name)
        except NoReverseMatch:
            # The section's pages are not built yet: shown, disabled.
            sections.append({"label": label, "url": None, "active": False})
            continue
        if url_name == "admin:index" and not user.is_staff:
            continue
        if permission and not user.has_perm(permission):
            continue
        sections.append({"label": label, "url": url, "active": current.startswith(url)})
    return {"nav_sections": sections}

"""The three roles. Each is a Django group; its permissions are set by the
migration ``accounts.0002_roles`` (and later migrations that add permissions),
never edited by hand here."""

COLLECTOR = "Collector"
SUPERVISOR = "Supervisor"
ADMIN = "Admin"
ROLES = (COLLECTOR, SUPERVISOR, ADMIN)
_UNREAD = object()


def role_of(user) -> str:
    """The highest role the user holds, or "" for none."""
    if not user.is_authenticated:
        return ""
    # Read with the user at each request (``accounts.backends``).
    signed_in_role = getattr(user, "signed_in_role", _UNREAD)
    if signed_in_role is not _UNREAD:
        return signed_in_role or ""
    names = {g.name for g in user.groups.all()}
    for role in reversed(ROLES):
        if role in names:
            return role
    return ""

"""The three roles. Each is a Django group; its permissions are set by the
migration ``accounts.0002_roles`` (and later migrations that add permissions),
never edited by hand here."""

COLLECTOR = "Collector"
SUPERVISOR = "Supervisor"
ADMIN = "Admin"
ROLES = (COLLECTOR, SUPERVISOR, ADMIN)


def role_of(user) -> str:
    """The highest role the user holds, or "" for none."""
    if not user.is_authenticated:
        return ""
    names = {g.name for g in user.groups.all()}
    for role in reversed(ROLES):
        if role in names:
            return role
    return ""

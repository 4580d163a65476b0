"""The authentication backend: Django's ``ModelBackend`` (the password
check, ``is_active``, the permission rules) with what every page asks of
the signed-in user read with the user.

Each request loads the user from the session, then every page reads the
user's company (the header), role (the header, the menus) and permissions
(every view). ``ModelBackend`` spends four queries on them after the user
itself (company, groups, own permissions, the groups' permissions); this
one spends one: the company is joined, the role is a subquery of the same
``SELECT``, and the permissions are one ``UNION`` of the two kinds. What is
read is the same rows, read at each request, so a change of role or of
permissions takes effect at the next request as before."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission
from django.db.models import Case, IntegerField, OuterRef, Subquery, Value, When

from accounts.roles import ROLES


def role_subquery(user_ref: str = "pk") -> Subquery:
    """The highest role (``roles.ROLES``, lowest first) of the user
    ``OuterRef(user_ref)``; NULL for none."""
    rank = Case(
        *(When(name=name, then=Value(i)) for i, name in enumerate(ROLES)),
        output_field=IntegerField(),
    )
    return Subquery(
        Group.objects.filter(user=OuterRef(user_ref), name__in=ROLES)
        .annotate(rank=rank)
        .order_by("-rank")
        .values("name")[:1]
    )


class AccountsBackend(ModelBackend):
    def get_user(self, user_id):
        user = (
            get_user_model()
            ._default_manager.select_related("company")
            .annotate(signed_in_role=role_subquery())
            .filter(pk=user_id)
            .first()
        )
        if user is None or not self.user_can_authenticate(user):
            return None
        return user

    def get_all_permissions(self, user_obj, obj=None):
        """The user's own and their groups' permissions in one query (the
        same set as ``ModelBackend``'s two), kept on the user for the request."""
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not hasattr(user_obj, "_perm_cache"):
            if user_obj.is_superuser:
                return super().get_all_permissions(user_obj, obj)
            names = ("content_type__app_label", "codename")
            own = Permission.objects.filter(user=user_obj).order_by().values_list(*names)
            of_groups = (
                Permission.objects.filter(group__user=user_obj).order_by().values_list(*names)
            )
            rows = own.union(of_groups)
            user_obj._perm_cache = {f"{app}.{name}" for app, name in rows}
        return user_obj._perm_cache

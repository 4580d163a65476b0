"""The frozen customers as a list users select rows of
(``bulkops.registry``): Bulk Freeze Rollback acts on its rows, one per
frozen customer (an open ``AccountFreeze``)."""

from billing import selectors
from billing.filters import FrozenFilter
from bulkops.registry import Selectable

FROZEN = Selectable(
    key="frozen",
    noun="frozen customer",
    plural="frozen customers",
    filterset_class=FrozenFilter,
    filterset=FrozenFilter.for_user,
    visible_to=selectors.freezes_visible_to,
    owners_reachable_by=selectors.freeze_owners_reachable_by,
    describe_rows=selectors.describe_freezes,
    row_label="File Number",
    session_key="frozen_selection",
    object_type="billing.accountfreeze",
    url_name="billing:frozen",
    view_permission="billing.freeze_accounts",
)

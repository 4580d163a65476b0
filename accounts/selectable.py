"""The accounts grid as a list users select rows of (``bulkops.registry``):
its FilterSet, its visibility, and how the engine names its rows."""

from accounts import selectors
from accounts.filters import AccountFilter
from bulkops.registry import Selectable

ACCOUNTS = Selectable(
    key="accounts",
    noun="account",
    plural="accounts",
    filterset_class=AccountFilter,
    filterset=AccountFilter.for_user,
    visible_to=selectors.accounts_visible_to,
    owners_reachable_by=selectors.account_owners_reachable_by,
    describe_rows=selectors.describe_accounts,
    row_label="File Number",
    session_key="account_selection",
    object_type="accounts.account",
    find_row=selectors.account_by_file_number,
    row_param="file_number",
    find_rows=selectors.accounts_by_file_numbers,
    url_name="accounts:grid",
    view_permission="accounts.view_account",
)

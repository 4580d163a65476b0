"""The grid's bulk toolbar in a browser test: an action is a button while
there are few, or an item of its group's menu once there are many (seed
001: "Actions > [desired action]"). ``click_action`` works either way."""

from __future__ import annotations

from playwright.sync_api import Page, expect


def click_action(page: Page, label: str) -> None:
    toolbar = page.get_by_role("toolbar", name="Bulk actions")
    action = toolbar.locator("[data-bulk-action]").filter(has_text=label).first
    expect(action).to_have_count(1)
    if not action.is_visible():
        # The filter's inner locator is matched inside each menu.
        item = page.locator("[data-bulk-action]").filter(has_text=label)
        toolbar.locator(".dropdown").filter(has=item).locator(".dropdown-toggle").click()
        expect(action).to_be_visible()
    action.click()

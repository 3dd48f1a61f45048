"""The Settings page's notification levels in a real browser against the real API on moto: each
kind's stored level is shown, a change saves only the kinds changed, and the store holds it."""

from __future__ import annotations

from playwright.sync_api import expect

from smart0dte.domain.controls import NotificationLevel, NotificationLevels
from tests.e2e.test_real_api_browser import RealApi, open_route, real, real_api, tab
from tests.integration.api.conftest import SESSION

__all__ = ["real", "real_api", "tab"]  # the real API's fixtures, used here as they are there


def test_the_levels_show_and_a_change_saves_only_the_kinds_changed(tab, real: RealApi) -> None:
    before = real.store.get_settings()
    open_route(tab, real, "settings")
    fill, learning = tab.get_by_test_id("notify-fill"), tab.get_by_test_id("notify-learning")
    expect(fill).to_have_value("silent")
    expect(learning).to_have_value("on")
    assert tab.locator("#notify-fields select").count() == len(NotificationLevels.model_fields)

    tab.get_by_test_id("save-notifications").click()
    expect(tab.get_by_test_id("notify-flash")).to_contain_text("No changes.")
    fill.select_option("on")
    learning.select_option("off")
    tab.get_by_test_id("save-notifications").click()

    expect(tab.get_by_test_id("notify-flash")).to_contain_text("Saved: Fills on, Learning off.")
    expect(fill).to_have_value("on")
    levels = NotificationLevels(fill=NotificationLevel.ON, learning=NotificationLevel.OFF)
    assert real.store.get_settings() == before.model_copy(update={"notifications": levels})
    changes = [r for r in real.store.audit.list_day(SESSION) if r.action == "SettingsChanged"]
    assert (changes[-1].actor, changes[-1].reason) == ("user:alice", "settings changed: ['notifications']")

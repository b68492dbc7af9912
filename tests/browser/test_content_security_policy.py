"""The pages under their Content-Security-Policy: the start page and the auction room load,
sign in and go live (polling, then the WebSocket upgrade) with no violation reported, and an
inline script — what the policy exists to stop — is refused and reported."""

from __future__ import annotations

from browser_helpers import new_item, wait_until

# How Chromium words every CSP report in the console.
CSP_MARK = "Content Security Policy"


def csp_reports(profile) -> list[str]:
    """The CSP violations logged since the last read of the console (reading clears it)."""
    return [e.get("message", "") for e in profile.console() if CSP_MARK in e.get("message", "")]


def test_the_pages_run_under_their_policy_and_an_inline_script_is_refused(both_instances, users, profile):
    one = both_instances[0]
    item = new_item(one.url, users["seller"], title="Brass desk lamp")
    dana = profile("dana")
    dana.sign_in(one.url, users["a"])
    tab = dana.open_tab("dana-room", f"{one.url}/items/{item['id']}")
    tab.wait_live()
    wait_until(lambda: tab.text("[data-testid=item-title]") == item["title"], message="the room's title")

    # A WebSocket to the page's own host and port, as the client's upgrade opens it: allowed by
    # connect-src 'self' (a refusal would be reported and end in an error, not an open).
    outcome = tab.driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const ws = new WebSocket(location.origin.replace(/^http/, 'ws') + '/socket.io/?EIO=4&transport=websocket');
        ws.onopen = () => { ws.close(); done('open'); };
        ws.onerror = () => done('error');""")
    assert outcome == "open"
    assert csp_reports(dana) == []

    # The control: the same check sees a violation when there is one.
    ran = tab.driver.execute_script("""
        const s = document.createElement('script');
        s.textContent = 'window.inlineScriptRan = true;';
        document.head.appendChild(s);
        return window.inlineScriptRan === true;""")
    assert ran is False
    reports = wait_until(lambda: csp_reports(dana), message="the report of the refused inline script")
    assert any("inline script" in r for r in reports), reports

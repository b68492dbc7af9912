"""Fixtures: one stack for the whole session (throwaway PostgreSQL and Redis on free loopback
ports, two `auction serve` instances sharing them, an nginx load balancer in front), two users
registered over REST, and Chromium profiles driven by Selenium (one ChromeDriver session and
user-data-dir each). On a failing test, every open window is screenshotted under
.data/screenshots/FAILED-* and the instances' output is attached to the report."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from browser_helpers import CHROMEDRIVER, CHROMIUM, REPORTED, SCREENSHOTS, Profile, Stack
from support.rest import Api, new_user

_stacks: list[Stack] = []
_profiles: dict[str, Profile] = {}


@pytest.fixture(scope="session")
def stack():
    for tool in (CHROMIUM, CHROMEDRIVER):
        if not Path(tool).exists() and not shutil.which(tool):
            pytest.fail(f"{tool} not found (Debian packages chromium and chromium-driver: bash scripts/install-deps.sh)",
                        pytrace=False)
    for old in SCREENSHOTS.glob("FAILED-*.png"):  # what a previous run left: this run's are what count
        old.unlink(missing_ok=True)
    s = Stack()
    _stacks.append(s)
    try:
        s.start()
    except Exception as exc:  # noqa: BLE001
        logs = "\n".join(f"--- {title}\n{text}" for title, text in s.logs())
        s.cleanup()
        _stacks.remove(s)
        pytest.fail(f"could not start the stack: {exc}\n{logs}", pytrace=False)
    yield s
    for p in list(_profiles.values()):
        p.quit()
    _profiles.clear()
    early = s.cleanup()
    _stacks.remove(s)
    if early:
        pytest.fail(f"instances exited by themselves: {early}", pytrace=False)


@pytest.fixture(scope="session")
def profile(stack):
    """profile(name) -> the Chromium profile of that name (made once per session)."""

    def get(name: str) -> Profile:
        if name not in _profiles:
            _profiles[name] = Profile(name, stack.workdir)
        return _profiles[name]

    return get


@pytest.fixture(autouse=True)
def _fresh_windows():
    """Each test starts with an empty console log and closes the windows it opened."""
    for p in _profiles.values():
        p.console()
    yield
    for p in _profiles.values():
        p.close_tabs()


@pytest.fixture(scope="session")
def users(stack):
    """Two bidders and a seller, registered and logged in over REST (tokens for the API)."""
    api = Api(stack.instances[0])
    made = {}
    for key, name in (("a", "Alice Browser"), ("b", "Bob Browser"), ("seller", "Sam Seller")):
        made[key] = new_user(api, name)
    return made


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not report.failed:
        return
    test = re.sub(r"[^A-Za-z0-9_.-]+", "_", item.name)
    shots = []
    for p in list(_profiles.values()):
        for tab in list(p.tabs):
            try:
                shots.append(str(tab.screenshot(f"FAILED-{test}-{p.name}-{tab.label}")))
            except Exception as exc:  # noqa: BLE001
                shots.append(f"{p.name}/{tab.label}: no screenshot ({exc})")
        console = p.console()
        if console:
            report.sections.append((f"browser console of {p.name}",
                                    "\n".join(f"{e.get('level')} {e.get('message')}" for e in console[-40:])))
    if shots:
        report.sections.append(("screenshots", "\n".join(shots)))
    for s in _stacks + REPORTED:
        for title, text in s.logs():
            report.sections.append((title, text))


@pytest.fixture
def both_instances(stack):
    """Both instances running (a test that stopped one restarts it); returns them. After a
    restart, waits out nginx's fail_timeout (5 s) so the balancer's choice is stable again."""
    import time

    for inst in stack.instances:
        if not inst.alive():
            inst.stop()
            inst.start()
    for inst in stack.instances:
        if inst.restarted_at is not None:
            left = inst.restarted_at + 6 - time.monotonic()
            if left > 0:
                time.sleep(left)
    return stack.instances

"""Helpers of the browser suite: the stack under test (a throwaway PostgreSQL and Redis, two
`auction serve` instances sharing them, an nginx load balancer in front), items with the
suite's defaults, a python-socketio bidder, and Selenium-driven Chromium profiles with one window
per "tab". Servers, REST calls and waits are tests/support's.

Every wait here is bounded; nothing blocks forever."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Callable

import requests
import socketio

from support import rest, waiting
from support.checkout import REPO_ROOT, auction_binary
from support.loopback import Loopback, free_port
from support.rest import PASSWORD, Api, User  # noqa: F401  (PASSWORD: for the tests)
from support.servers import PostgresServer, RedisServer, start_serve, stop_process, tail

SCREENSHOTS = REPO_ROOT / ".data" / "screenshots"
JWT_SECRET = "browser-suite-secret-0123456789abcdef-0123456789abcdef"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
WAIT = 10.0  # default seconds for one expected change on a page
# Servers a test module starts besides the stack (objects with `logs() -> [(title, text)]`, as
# Stack has): while listed, their logs are attached to a failing test's report too.
REPORTED: list[Any] = []


def wait_until(predicate: Callable[[], Any], timeout: float = WAIT, interval: float = 0.05,
               message: str = "") -> Any:
    """support.waiting.wait_until with the page's default wait; an exception of the predicate (a
    stale element and such) means "try again"."""
    return waiting.wait_until(predicate, timeout, interval, message or str(predicate), retry_errors=True)


def socketio_client_js() -> str:
    """The official client bundle: $SOCKETIO_CLIENT_JS when it names a file, else
    scripts/socketio-client.sh fetches (or finds) it under .data/socket.io/."""
    given = os.environ.get("SOCKETIO_CLIENT_JS", "")
    if given and Path(given).is_file():
        return given
    out = subprocess.run(["bash", str(REPO_ROOT / "scripts/socketio-client.sh")], cwd=REPO_ROOT,
                         capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(f"scripts/socketio-client.sh failed ({out.returncode}):\n{out.stderr}{out.stdout}")
    return out.stdout.strip().splitlines()[-1]


# --- processes -----------------------------------------------------------------------------

class Instance(Loopback):
    """One `auction serve` on a free loopback port."""

    def __init__(self, name: str, workdir: Path, env: dict[str, str]):
        self.name = name
        self.port = free_port()
        self.env = env
        self.log_path = workdir / f"{name}.log"
        self.proc: subprocess.Popen | None = None
        self._log = None
        self.restarted_at: float | None = None  # time.monotonic() of the last start after the first

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> None:
        self._log = open(self.log_path, "ab")
        # INSTANCE_ID = the port: the tag nginx routes this instance's sids (`<port>.…`) by.
        env = dict(self.env, PORT=str(self.port), INSTANCE_ID=str(self.port))
        if self.proc is not None:
            self.restarted_at = time.monotonic()
        self.proc = start_serve(self.port, env, self._log, self.log_path, timeout, name=f"auction serve ({self.name})")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait_exit(self, timeout: float = 20) -> int:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            raise AssertionError(f"auction serve ({self.name}) did not exit within {timeout} s (killed)")

    def stop(self) -> int | None:
        """Stops the instance; returns its exit status if it had exited by itself."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGCONT)  # in case a test left it stopped
            except OSError:
                pass
        early = stop_process(self.proc)
        if self._log:
            self._log.close()
            self._log = None
        return early

    def log_text(self, limit: int = 30000) -> str:
        return tail(self.log_path, limit)


class LoadBalancer:
    """nginx in front of the instances: deploy/nginx/render-local.sh when it is there (the same
    configuration as `make run`), else a minimal equivalent rendered here."""

    def __init__(self, workdir: Path, instances: list[Instance]):
        self.dir = workdir / "nginx"
        self.port = free_port()
        self.instances = instances
        self.proc: subprocess.Popen | None = None
        self.log_path = workdir / "nginx.out"
        self._log = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def render(self) -> Path:
        listen = f"127.0.0.1:{self.port}"
        upstreams = [i.address for i in self.instances]
        script = REPO_ROOT / "deploy/nginx/render-local.sh"
        if script.exists():
            tagged = [f"{i.port}={i.address}" for i in self.instances]
            out = subprocess.run(["bash", str(script), str(self.dir), listen, *tagged],
                                 cwd=REPO_ROOT, capture_output=True, text=True, timeout=30)
            if out.returncode != 0:
                raise RuntimeError(f"{script} failed ({out.returncode}):\n{out.stderr}{out.stdout}")
            return Path(out.stdout.strip().splitlines()[-1])
        return self._render_minimal(listen, upstreams)

    def _render_minimal(self, listen: str, upstreams: list[str]) -> Path:
        d = self.dir
        (d / "tmp").mkdir(parents=True, exist_ok=True)
        os.chmod(d, 0o755)
        user = ""
        if os.geteuid() == 0:
            user = "user nobody nogroup;"
            shutil.chown(d / "tmp", "nobody", "nogroup")
        servers = "\n".join(f"        server {u} max_fails=1 fail_timeout=5s;" for u in upstreams)
        conf = f"""
{user}
daemon off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/tmp/client_body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    map $http_upgrade $connection_upgrade {{ default upgrade; '' ''; }}
    upstream auction_instances {{
        hash $remote_addr consistent;
{servers}
    }}
    server {{
        listen {listen};
        proxy_http_version 1.1;
        proxy_set_header Host $http_host;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection $connection_upgrade;
        proxy_connect_timeout 3s;
        proxy_next_upstream error;
        proxy_read_timeout 120s;
        proxy_buffering off;
        add_header X-Upstream $upstream_addr always;
        location / {{ proxy_pass http://auction_instances; }}
    }}
}}
"""
        path = d / "nginx.conf"
        path.write_text(conf)
        return path

    def start(self, timeout: float = 20) -> None:
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        if not Path(nginx).exists():
            raise RuntimeError("nginx not found (Debian package nginx: bash scripts/install-deps.sh)")
        conf = self.render()
        self._log = open(self.log_path, "ab")
        cmd = [nginx, "-p", f"{self.dir}/", "-c", str(conf), "-e", str(self.dir / "startup-error.log")]
        self.proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nginx exited with {self.proc.returncode}:\n{self.log_text()}")
            try:
                if requests.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"nginx did not answer on {self.url} within {timeout} s:\n{self.log_text()}")

    def upstream_for_this_host(self) -> str:
        """The instance (host:port) the balancer picks for requests from 127.0.0.1 right now."""
        r = requests.get(self.url + "/healthz", timeout=5)
        return r.headers.get("X-Upstream", "")

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self._log:
            self._log.close()
            self._log = None

    def log_text(self, limit: int = 8000) -> str:
        parts = []
        for p in (self.log_path, self.dir / "startup-error.log", self.dir / "error.log"):
            try:
                parts.append(p.read_text(errors="replace")[-limit:])
            except OSError:
                pass
        return "\n".join(parts)


class Stack:
    """PostgreSQL (scripts/postgres.sh) + Redis (scripts/redis.sh) + two instances + nginx."""

    def __init__(self) -> None:
        base = os.environ.get("TMPDIR", "/tmp")
        self.workdir = Path(tempfile.mkdtemp(prefix="auction-browser-test-", dir=base))
        os.chmod(self.workdir, 0o755)  # the PostgreSQL and nginx workers run as other users when we are root
        self.postgres = PostgresServer(self.workdir / "pg")
        self.redis = RedisServer(self.workdir / "redis")
        self.database_url = ""
        self.redis_url = ""
        self.client_js = ""
        self.instances: list[Instance] = []
        self.lb: LoadBalancer | None = None
        self.pg_started = False
        self.redis_started = False

    def start(self) -> None:
        self.client_js = socketio_client_js()
        self.database_url = self.postgres.start()
        self.pg_started = True
        self.redis_url = self.redis.start()
        self.redis_started = True

        one = Instance("instance-1", self.workdir, {})
        two = Instance("instance-2", self.workdir, {})
        self.instances = [one, two]
        self.lb = LoadBalancer(self.workdir, self.instances)
        env = self.env()
        for inst in self.instances:
            inst.env = env
        for args in (["migrate", "--directory", "sql"], ["seed"]):
            out = subprocess.run([str(auction_binary()), *args], cwd=REPO_ROOT, env=env,
                                 capture_output=True, text=True, timeout=120)
            if out.returncode != 0:
                raise RuntimeError(f"auction {' '.join(args)} failed ({out.returncode}):\n{out.stdout}{out.stderr}")
        for inst in self.instances:
            inst.start()
        self.lb.start()

    def origins(self) -> list[str]:
        origins = []
        ports = [i.port for i in self.instances] + ([self.lb.port] if self.lb else [])
        for port in ports:
            origins += [f"http://127.0.0.1:{port}", f"http://localhost:{port}"]
        return origins

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            DATABASE_URL=self.database_url,
            REDIS_URL=self.redis_url,
            HOST="127.0.0.1",
            JWT_SECRET=JWT_SECRET,
            CORS_ORIGINS=",".join(self.origins()),
            SOCKETIO_CLIENT_JS=self.client_js,
            WEB_ROOT=str(REPO_ROOT / "web"),
            APP_ENV="development",
        )
        env.pop("COOKIE_SECURE", None)
        return env

    def instance_at(self, address: str) -> Instance:
        for inst in self.instances:
            if inst.address == address:
                return inst
        raise AssertionError(f"no instance at {address!r} (instances: {[i.address for i in self.instances]})")

    def logs(self, limit: int = 12000) -> list[tuple[str, str]]:
        sections = []
        for inst in self.instances:
            state = "running" if inst.alive() else f"exited with {inst.proc.returncode if inst.proc else '?'}"
            sections.append((f"{inst.name} on port {inst.port} ({state}), last lines", inst.log_text(limit)))
        if self.lb:
            sections.append(("nginx, last lines", self.lb.log_text(4000)))
        return sections

    def cleanup(self) -> dict[str, int]:
        """Stops everything; returns {instance name: status} of instances that had exited by themselves."""
        early = {}
        if self.lb:
            self.lb.stop()
        for inst in self.instances:
            status = inst.stop()
            if status is not None:
                early[inst.name] = status
        if self.redis_started:
            self.redis.stop()
        if self.pg_started:
            self.postgres.stop()
        if os.environ.get("BROWSER_TEST_KEEP") == "1":  # logs and profiles, for a post-mortem
            print(f"\nbrowser suite: kept {self.workdir}")
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)
        return early


# --- REST ----------------------------------------------------------------------------------

def new_item(base_url: str, seller: User, *, starting: int = 1000, increment: int = 100,
             ends_in: float = 3600, title: str | None = None, description: str = "made by the browser suite") -> dict:
    """An item of `seller` (support.rest.new_item) with the browser suite's prices and names."""
    return rest.new_item(Api(base_url), seller, starting=starting, increment=increment, ends_in=ends_in,
                         title=title or f"Browser test item {uuid.uuid4().hex[:6]}", description=description)


class SioBidder:
    """A python-socketio client (Bearer token) that places bids on one instance."""

    def __init__(self, base_url: str, user: User, item_id: str):
        self.sio = socketio.Client(reconnection=False, request_timeout=10)
        self.sio.connect(base_url, headers={"Authorization": f"Bearer {user.token}"},
                         auth={"itemId": item_id}, transports=["websocket"], wait_timeout=10)
        self.item_id = item_id

    def bid(self, price: int) -> dict:
        deadline = time.monotonic() + 15
        while True:
            ack = self.sio.call("bid", {"itemId": self.item_id, "price": price, "clientBidId": uuid.uuid4().hex},
                                timeout=10)
            limited = isinstance(ack, dict) and ack.get("ok") is False and ack["error"]["code"] == "RATE_LIMITED"
            if not limited or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert isinstance(ack, dict) and ack.get("ok") is True, f"expected an ok ack, got {ack!r}"
        return ack["bid"]

    def close(self) -> None:
        try:
            self.sio.disconnect()
        except Exception:  # noqa: BLE001
            pass
        try:
            self.sio.shutdown()
        except Exception:  # noqa: BLE001
            pass


# --- browsers ------------------------------------------------------------------------------

FEED_JS = """
return Array.from(document.querySelectorAll('[data-testid=bid-feed] li')).map(li => ({
  id: li.dataset.bidId || null, mine: li.getAttribute('data-mine'), text: li.textContent.trim()}));
"""

# Records every text the connection status shows, so a short "reconnecting…" is not missed.
WATCH_STATUS_JS = """
const node = document.querySelector('[data-testid=connection-status]');
window.__statusLog = [node.textContent];
new MutationObserver(() => window.__statusLog.push(node.textContent))
  .observe(node, {childList: true, characterData: true, subtree: true});
"""


class Profile:
    """One Chromium user profile (its own user-data-dir, so its own cookies) driven by its own
    ChromeDriver session. Its first window is used for signing in; `open_tab` adds windows."""

    def __init__(self, name: str, workdir: Path, size: tuple[int, int] = (430, 932)):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        self.name = name
        self.size = size
        self.user_data_dir = workdir / f"chrome-{name}"
        self.user_data_dir.mkdir(parents=True, exist_ok=True)
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for arg in (
            "--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
            f"--user-data-dir={self.user_data_dir}", f"--window-size={size[0]},{size[1]}",
            "--no-first-run", "--no-default-browser-check", "--disable-extensions",
            "--password-store=basic", "--disable-sync", "--lang=en-US",
            # Several windows at once: none of them may be throttled as a background page.
            "--disable-background-timer-throttling", "--disable-backgrounding-occluded-windows",
            "--disable-renderer-backgrounding",
        ):
            options.add_argument(arg)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        service = Service(CHROMEDRIVER, log_output=str(workdir / f"chromedriver-{name}.log"))
        self.driver = webdriver.Chrome(service=service, options=options)
        self.driver.set_page_load_timeout(30)
        self.driver.set_script_timeout(15)
        self.main = self.driver.current_window_handle
        self.tabs: list[Tab] = []

    def activate(self, handle: str) -> None:
        if self.driver.current_window_handle != handle:
            self.driver.switch_to.window(handle)

    def sign_in(self, origin: str, user: User) -> None:
        """Signs in through the start page of `origin` (in the profile's first window), unless
        that origin already shows this user signed in."""
        from selenium.webdriver.common.by import By

        d = self.driver
        self.activate(self.main)
        d.get(origin + "/")
        who = lambda: d.find_element(By.CSS_SELECTOR, "[data-testid=whoami]").text  # noqa: E731
        wait_until(lambda: who() not in ("", "…"), message=f"{origin}/ to know who is signed in")
        if who() == f"Signed in as {user.name}":
            return
        form = d.find_element(By.ID, "signin-form")
        wait_until(lambda: form.is_displayed(), message="the sign-in form")
        email = form.find_element(By.CSS_SELECTOR, "input[name=email]")
        password = form.find_element(By.CSS_SELECTOR, "input[name=password]")
        email.clear()
        email.send_keys(user.email)
        password.clear()
        password.send_keys(user.password)
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait_until(lambda: who() == f"Signed in as {user.name}", message=f"{user.name} signed in on {origin}")

    def open_tab(self, label: str, url: str) -> "Tab":
        self.driver.switch_to.new_window("window")
        handle = self.driver.current_window_handle
        self.driver.set_window_size(*self.size)
        self.driver.get(url)
        tab = Tab(self, label, handle)
        self.tabs.append(tab)
        return tab

    def close_tabs(self) -> None:
        for tab in list(self.tabs):
            tab.close()

    def console(self) -> list[dict]:
        try:
            return self.driver.get_log("browser")
        except Exception:  # noqa: BLE001
            return []

    def quit(self) -> None:
        try:
            self.driver.quit()
        except Exception:  # noqa: BLE001
            pass


class Tab:
    """One window of a profile showing one page."""

    def __init__(self, profile: Profile, label: str, handle: str):
        self.profile = profile
        self.label = label
        self.handle = handle

    @property
    def driver(self):
        self.profile.activate(self.handle)
        return self.profile.driver

    def find(self, css: str):
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.CSS_SELECTOR, css)

    def text(self, css: str) -> str:
        return self.find(css).text

    def status(self) -> str:
        return self.text("[data-testid=connection-status]")

    def wait_live(self, timeout: float = 15) -> None:
        wait_until(lambda: self.status() == "live", timeout, message=f"{self.label} to show 'live' (shows {self.status_safe()!r})")

    def status_safe(self) -> str:
        try:
            return self.status()
        except Exception:  # noqa: BLE001
            return "?"

    def feed(self) -> list[dict]:
        return self.driver.execute_script(FEED_JS)

    def wait_feed(self, predicate: Callable[[list[dict]], bool], timeout: float = WAIT, message: str = "") -> list[dict]:
        found: list[dict] = []

        def check():
            nonlocal found
            found = self.feed()
            return predicate(found)

        try:
            wait_until(check, timeout, message=message or f"the feed of {self.label}")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; the feed of {self.label} is {found!r}") from None
        return found

    def bid(self, price: int) -> None:
        """Types `price` into input[name=price] and submits the bid form."""
        field = self.find("#bid-form input[name=price]")
        wait_until(lambda: field.is_enabled(), message=f"the bid field of {self.label} to be enabled")
        field.clear()
        field.send_keys(str(price))
        button = self.find("#bid-form button[type=submit]")
        wait_until(lambda: button.is_enabled(), message=f"the bid button of {self.label} to be enabled")
        button.click()

    def watch_status(self) -> None:
        self.driver.execute_script(WATCH_STATUS_JS)

    def status_log(self) -> list[str]:
        return self.driver.execute_script("return window.__statusLog || []")

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.driver.save_screenshot(str(path))
        return path

    def close(self) -> None:
        d = self.profile.driver
        try:
            self.profile.activate(self.handle)
            d.close()
        except Exception:  # noqa: BLE001
            pass
        if self in self.profile.tabs:
            self.profile.tabs.remove(self)
        try:
            d.switch_to.window(self.profile.main)
        except Exception:  # noqa: BLE001
            pass

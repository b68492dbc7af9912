"""`auction migrate` and `auction seed`: the fixture ran each twice; both must be idempotent."""

from __future__ import annotations

from service_helpers import User, login, parse_time, now_utc

DEMO = [("alice@example.com", "Alice"), ("bob@example.com", "Bob"), ("carol@example.com", "Carol")]


def test_migrations_recorded_once(stack):
    rows = stack.psql("SELECT count(*), count(DISTINCT version) FROM schema_migrations")
    total, distinct = rows.split("|")
    assert int(total) >= 1
    assert total == distinct, "each migration is recorded once, even after two runs of migrate"
    out = stack.run_command("migrate", "--directory", "sql")
    assert out.returncode == 0, out.stderr
    assert stack.psql("SELECT count(*) FROM schema_migrations") == total


def test_seed_demo_users_can_sign_in(api):
    for email, name in DEMO:
        user = login(api, User(id="", email=email, name=name, password="password123"))
        me = api.get("/auth/me", token=user.token)
        assert me.status_code == 200, me.text
        assert me.json()["user"]["email"] == email
        assert me.json()["user"]["name"] == name


def test_seed_creates_three_open_auctions_by_alice_once(api, stack):
    alice_id = stack.psql("SELECT id FROM users WHERE lower(email) = 'alice@example.com'")
    assert alice_id
    items = api.get("/items?limit=1000").json()
    alices = [it for it in items if it["sellerId"] == alice_id]
    assert len(alices) == 3, f"seed ran twice; expected exactly 3 auctions by Alice, got {len(alices)}"
    for it in alices:
        assert it["status"] == "open"
        assert parse_time(it["endsAt"]) > now_utc()
    assert stack.psql("SELECT count(*) FROM users WHERE lower(email) LIKE '%@example.com'") == "3"


def test_two_migrations_at_once_on_a_fresh_database(stack):
    """The contract: migrate is safe to run from two instances at once."""
    import subprocess

    stack.psql("DROP DATABASE IF EXISTS auction_concurrent_migrate")
    stack.psql("CREATE DATABASE auction_concurrent_migrate")
    url = stack.database_url.rsplit("/", 1)[0] + "/auction_concurrent_migrate"
    env = {**stack.env(), "DATABASE_URL": url}
    from service_helpers import REPO_ROOT, auction_binary
    procs = [subprocess.Popen([str(auction_binary()), "migrate", "--directory", "sql"], cwd=REPO_ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, f"migrate exited {p.returncode}:\n{out}\n{err}"
    check = subprocess.run(["psql", url, "-X", "-tA", "-c",
                            "SELECT count(*) FROM schema_migrations; SELECT count(*) FROM users"],
                           capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stderr
    migrations, users = check.stdout.split()
    assert int(migrations) == len(list((REPO_ROOT / "sql").glob("[0-9][0-9][0-9]_*.sql")))
    assert users == "0"
    stack.psql("DROP DATABASE auction_concurrent_migrate")

"""What every Python suite of tests/ repeats, in one place: the checkout's binaries, loopback
ports and addresses, bounded waits, the throwaway servers (PostgreSQL, Redis, `auction serve`,
the demo server), REST sign-in and items, recording Socket.IO clients, and the invariants of
concurrent bidding. Each suite's pytest.ini puts tests/ on sys.path (`pythonpath = ..`), so a
suite imports `from support.rest import Api`; its own *_helpers.py keeps what only it needs."""

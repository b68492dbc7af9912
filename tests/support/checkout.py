"""Where the checkout and its built binaries are."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def built_binary(product: str) -> Path:
    """`$BIN_DIR/<product>`; BIN_DIR defaults to .build/debug and is relative to the checkout."""
    bin_dir = Path(os.environ.get("BIN_DIR", ".build/debug"))
    if not bin_dir.is_absolute():
        bin_dir = REPO_ROOT / bin_dir
    return bin_dir / product


def auction_binary() -> Path:
    return built_binary("auction")


def demo_server_binary() -> Path:
    return built_binary("socketio-demo-server")

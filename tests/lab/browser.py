"""Headless Chromium for the tests that look at a generated page: the DOM as the browser built it, and a screenshot."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail("headless Chromium is needed to look at the page (Debian package 'chromium')")
    return found


def _common(profile: Path) -> list:
    return [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--user-data-dir=%s" % profile]


def dump_dom(page: Path, profile: Path) -> str:
    """The document after the browser parsed and laid it out (``--dump-dom``)."""
    proc = subprocess.run(_common(profile) + ["--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=180, check=False)
    assert proc.stdout.strip(), "chromium printed no DOM: %s" % proc.stderr[-2000:]
    return proc.stdout


def screenshot(page: Path, png: Path, profile: Path, size: str = "1600,1100") -> bytes:
    """A PNG of the page as rendered; fails on a blank one."""
    subprocess.run(_common(profile) + ["--screenshot=%s" % png, "--window-size=%s" % size, page.as_uri()],
                   capture_output=True, timeout=180, check=False)
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20000, "a rendered page, not a blank one"
    return data

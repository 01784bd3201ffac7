"""HTML reports to PDF (and to a PNG screenshot) with Debian's headless Chromium.

The reports are self-contained HTML (no script, no external asset), so printing one is a
file:// load and ``--print-to-pdf``. Chromium is started with no network of its own
(background networking, component updates, sync and QUIC off: this machine's network is
closed, and a hospital's often is), a fresh profile, and a time limit. Chinese text needs a
CJK font on the machine (scripts/bootstrap installs fonts-wqy-microhei).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from hisops.errors import HisopsError

CANDIDATES = ("chromium", "chromium-browser", "google-chrome")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--no-pdf-header-footer")
TIMEOUT_S = 120


class BrowserError(HisopsError):
    """No browser, or it did not produce the file."""


def find_browser() -> str:
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    raise BrowserError("no Chromium found for the PDF export: install Debian's chromium "
                       "(scripts/bootstrap does) or leave out --pdf")


def _run(html: Path, option: str, out: Path, extra: tuple[str, ...] = ()) -> None:
    browser = find_browser()
    with tempfile.TemporaryDirectory(prefix="hisops-chromium-") as profile:
        done = subprocess.run(  # noqa: S603 - a fixed argv: the browser and our own files
            [browser, *FLAGS, f"--user-data-dir={profile}", *extra, f"{option}={out}",
             html.resolve().as_uri()],
            capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    if done.returncode != 0 or not out.exists() or out.stat().st_size == 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise BrowserError(f"Chromium did not write {out} (exit {done.returncode}: "
                           f"{last[:200]})")


def html_to_pdf(html: Path, pdf: Path) -> Path:
    """Print HTML to PDF as the page's own @page rules say (A4 for our reports)."""
    pdf.parent.mkdir(parents=True, exist_ok=True)
    _run(html, "--print-to-pdf", pdf)
    return pdf


def screenshot(html: Path, png: Path, *, width: int = 1280, height: int = 2000) -> Path:
    png.parent.mkdir(parents=True, exist_ok=True)
    _run(html, "--screenshot", png, (f"--window-size={width},{height}",))
    return png

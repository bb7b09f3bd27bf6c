"""The report opened in headless Chromium: it renders every figure, without console errors."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html import unescape
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (apt-get install -y chromium)"
)

# Appended to a copy of the report (the report itself has no scripts): once the page has
# loaded, record each image's decoded size in the DOM that --dump-dom prints.
PROBE = """<script>
window.addEventListener("load", () => {
  const sizes = Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.naturalHeight]);
  document.body.setAttribute("data-images", JSON.stringify(sizes));
});
</script>"""


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--enable-logging=stderr",
        "--v=0",
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=90, check=False)


def _console(stderr: str) -> list[str]:
    """The page's console messages in Chromium's log: "INFO:CONSOLE:1] ..." (or "CONSOLE(1)")."""
    return [ln for ln in stderr.splitlines() if re.search(r"CONSOLE[(:]", ln)]


def test_console_messages_are_seen_in_the_log(tmp_path: Path) -> None:
    """The check below would catch a page error (guards against a changed log format)."""
    page = tmp_path / "bad.html"
    page.write_text("<html><body><script>console.error('boom')</script></body></html>")
    res = _chromium(tmp_path, f"--screenshot={tmp_path / 'bad.png'}", page.as_uri())
    assert any("boom" in ln for ln in _console(res.stderr)), res.stderr[-2000:]


def test_report_renders_in_chromium_without_console_errors(
    report_html: Path, tmp_path: Path
) -> None:
    shot = tmp_path / "shot.png"
    res = _chromium(
        tmp_path, f"--screenshot={shot}", "--window-size=1280,2000", report_html.as_uri()
    )
    assert res.returncode == 0, res.stderr[-2000:]
    console = _console(res.stderr)
    assert not console, "\n".join(console)
    assert shot.is_file()
    with Image.open(shot) as img:
        assert img.size == (1280, 2000)
        pixels = np.asarray(img.convert("RGB")).astype(int)
    # not blank: text and the colored lines of the figures are on the page
    assert pixels.std() > 20
    colorful = (pixels.max(axis=2) - pixels.min(axis=2)) > 80
    assert colorful.mean() > 0.002


def test_chromium_decodes_every_embedded_figure(report_html: Path, tmp_path: Path) -> None:
    page = tmp_path / "probe.html"
    page.write_text(report_html.read_text().replace("</body>", PROBE + "</body>"))
    res = _chromium(tmp_path, "--dump-dom", "--virtual-time-budget=5000", page.as_uri())
    assert res.returncode == 0, res.stderr[-2000:]
    found = re.search(r'data-images="([^"]*)"', res.stdout)
    assert found, "the page did not finish loading"
    sizes = json.loads(unescape(found.group(1)))
    pngs = sorted(report_html.parent.glob("*.png"))
    assert len(sizes) == len(pngs) == 6
    expected = []
    for png in pngs:
        with Image.open(png) as img:
            expected.append(list(img.size))
    assert all(complete for complete, _, _ in sizes)
    assert sorted([w, h] for _, w, h in sizes) == sorted(expected)

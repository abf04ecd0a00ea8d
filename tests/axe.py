"""axe-core (Deque's accessibility engine, from the npm registry) for browser tests: installed once into a cache
directory with npm, injected into the page, run for the WCAG 2.0/2.1 A and AA rules."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

AXE_VERSION = "4.11.0"
CACHE = Path(os.environ.get("RELANCE_TEST_CACHE", Path.home() / ".cache" / "relance-tests")) / f"axe-{AXE_VERSION}"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def axe_source() -> str:
    """axe.min.js, installed with `npm install` on first use; skipped (failed in CI) when npm is missing."""
    script = CACHE / "node_modules" / "axe-core" / "axe.min.js"
    if not script.exists():
        npm = shutil.which("npm")
        if npm is None:
            if os.environ.get("CI", "").lower() == "true":
                pytest.fail("npm is needed to install axe-core for the accessibility checks")
            pytest.skip("npm not installed: no axe-core accessibility check")
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run([npm, "install", "--prefix", str(CACHE), f"axe-core@{AXE_VERSION}", "--no-audit", "--no-fund",
                        "--loglevel=error"], check=True, timeout=300, capture_output=True)
    return script.read_text(encoding="utf-8")


def violations(driver: Any, source: str) -> list[dict[str, Any]]:
    """The WCAG A/AA violations axe finds on the driver's current page (id, impact, help, failing targets)."""
    driver.execute_script(source)
    result = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {runOnly: {type: 'tag', values: arguments[0]}, resultTypes: ['violations']})"
        ".then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " targets: v.nodes.map(n => n.target.join(' '))})))).catch(e => done([{id: 'axe-error', help: String(e)}]));",
        WCAG_TAGS)
    return list(result)

"""A real headless browser for the tests of the pages the toolkit makes (the dashboard, the
load-test report): Debian's ``chromium`` driven through ``chromedriver`` by Selenium.

``browser`` is a session fixture; each test gets the same Chromium, with its console log
cleared by ``open()``. Where Chromium or its driver is not installed the tests skip with the
reason (``.ci/run`` installs both). Chromium starts with no network beyond loopback in
mind: background networking, component updates and sync are off, so it makes no requests
of its own, and a fresh profile folder per session.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


@dataclass
class Browser:
    """One headless Chromium: open a page, read its console, run script, take a picture."""

    driver: Any

    def open(self, url: str, *, width: int = 1280, height: int = 900,
             wait_for: str | None = None, timeout: float = 15.0) -> None:
        """Load ``url`` at a window size; wait until ``wait_for`` (a CSS selector) is there."""
        self.driver.set_window_size(width, height)
        self.driver.get("about:blank")  # the previous page stops (and stops logging)
        self.console()  # drop what it logged
        self.driver.get(url)
        if wait_for:
            self.wait_for(wait_for, timeout=timeout)

    def wait_for(self, selector: str, timeout: float = 15.0) -> Any:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions
        from selenium.webdriver.support.ui import WebDriverWait

        return WebDriverWait(self.driver, timeout).until(
            expected_conditions.presence_of_element_located((By.CSS_SELECTOR, selector)))

    def until(self, script: str, timeout: float = 15.0) -> Any:
        """Poll a JavaScript expression (``return ...``) until it is truthy; its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.driver.execute_script(script)
            if value or time.monotonic() > deadline:
                return value
            time.sleep(0.1)

    def js(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    def console(self) -> list[dict[str, Any]]:
        """Console entries since the last call (level, message)."""
        return list(self.driver.get_log("browser"))

    def errors(self) -> list[str]:
        """Script errors and failed loads logged since the last call."""
        return [entry["message"] for entry in self.console() if entry["level"] == "SEVERE"]

    def text(self, selector: str = "body") -> str:
        from selenium.webdriver.common.by import By

        return str(self.driver.find_element(By.CSS_SELECTOR, selector).text)

    def screenshot(self, path: Path, *, full_height: bool = True) -> Path:
        """A PNG of the page; with ``full_height`` the window grows to the page's height."""
        if full_height:
            height = int(self.js("return document.documentElement.scrollHeight"))
            width = int(self.js("return window.outerWidth"))
            self.driver.set_window_size(width, min(max(height + 120, 400), 8000))
        path.parent.mkdir(parents=True, exist_ok=True)
        self.driver.save_screenshot(str(path))
        return path


def _skip_reason() -> str | None:
    if not CHROMIUM or not CHROMEDRIVER:
        return "Chromium and chromedriver are not installed (Debian: chromium chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install '.[dev]')"
    return None


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="watoto-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-extensions",
                 "--disable-default-apps", "--hide-scrollbars", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)),
                              options=options)
    try:
        yield Browser(driver)
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)

"""A real headless Chromium (the OS's `chromium` and `chromium-driver` packages, which
`./dev test` installs) driven through Selenium, with nothing of its own on the network:
no sync, no component updates, a fresh profile in a temporary folder. Its performance
log lists every request the page made, so a test can say none left the machine.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--disable-extensions", "--disable-default-apps",
         "--no-default-browser-check", "--metrics-recording-only",
         "--disable-features=Translate,OptimizationHints,MediaRouter")


class Browser:
    """One Chromium for a test module; `driver` is Selenium's WebDriver."""

    def __init__(self, width: int = 1280, height: int = 900) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        self.profile = tempfile.mkdtemp(prefix="chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in (*FLAGS, f"--user-data-dir={self.profile}",
                     f"--window-size={width},{height}"):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
        self.driver: Any = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        self.driver.set_page_load_timeout(30)

    def requested_urls(self) -> list[str]:
        """Every URL the browser asked for since the last call (the log is drained)."""
        urls = []
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message.get("method") == "Network.requestWillBeSent":
                urls.append(message["params"]["request"]["url"])
        return urls

    def resize(self, width: int, height: int) -> None:
        self.driver.set_window_size(width, height)

    def close(self) -> None:
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)

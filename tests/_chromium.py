"""Debian's Chromium for the browser tests, with the flags that keep it offline and quiet."""

#: The browser the tests drive (Playwright's own browsers are never downloaded).
CHROMIUM = "/usr/bin/chromium"
#: Headless-friendly flags: no sandbox (containers), no GPU, no network calls of its own.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

"""Headless Chromium (Debian's ``chromium``, installed by README's test command), as the
tests start it on this closed network."""

import shutil

# Without the networking flags Chromium waits on connections it cannot make.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_command(profile, *arguments: str) -> list[str]:
    """The command line of a headless Chromium with a fresh profile in ``profile``."""
    executable = shutil.which("chromium")
    assert executable, "chromium is missing: README's test command installs it"
    return [executable, *FLAGS, f"--user-data-dir={profile}", *arguments]

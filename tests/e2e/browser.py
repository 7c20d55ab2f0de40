"""Headless Chromium (Debian's `chromium` package) driven by Playwright, watching what a person would notice.

Every page the test visits must have a title, log no console error, and load no resource that fails; every
link on those pages must lead somewhere (checked at the end, once each, with the browser's cookies).
Screenshots go to a git-ignored folder so a failing run can be looked at afterwards.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urldefrag, urlparse

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
SCREENSHOTS = ROOT / "var" / "artifacts" / "screenshots"
CHROMIUM = os.environ.get("MILLRACE_CHROMIUM", "/usr/bin/chromium")
# Links that are not pages to fetch: logging out is a POST form, not a link, but never follow it by GET.
UNFETCHED = re.compile(r"^/logout/")
# Added to every page before its own scripts (Playwright's init scripts are not subject to the page's
# Content-Security-Policy): what the policy blocked, with the directive, for check() to report.
CSP_LISTENER = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  const where = `${e.sourceFile}:${e.lineNumber}`;
  window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} (${where})`);
});
"""


def chromium_path() -> str:
    """Debian's chromium, or a loud skip (a failure when CI requires the browser tests)."""
    if shutil.which(CHROMIUM) or Path(CHROMIUM).is_file():
        return CHROMIUM
    reason = (
        f"no Chromium at {CHROMIUM}: the browser tests need Debian's `chromium` package "
        "(`make test` installs it when run as root; or set MILLRACE_CHROMIUM to a Chromium binary)"
    )
    if os.environ.get("MILLRACE_REQUIRE_BROWSER"):
        pytest.fail(f"the browser tests are required (MILLRACE_REQUIRE_BROWSER) but there is {reason}")
    pytest.skip(reason)


class Browser:
    """One page of a headless Chromium, with the checks every page must pass."""

    def __init__(self, page: object, base_url: str, shots: Path) -> None:
        self.page = page
        self.base_url = base_url.rstrip("/")
        self.shots = shots
        self.shot_count = 0
        self.problems: list[str] = []
        self.links: dict[str, str] = {}  # link → the page it was found on
        page.on("console", self._on_console)
        page.on("pageerror", lambda error: self.problems.append(f"uncaught script error on {page.url}: {error}"))
        page.on("response", self._on_response)

    def _on_console(self, message: object) -> None:
        if message.type == "error":
            self.problems.append(f"console error on {self.page.url}: {message.text}")

    def _on_response(self, response: object) -> None:
        if response.status >= 400:
            self.problems.append(f"{response.status} for {response.request.method} {response.url} on {self.page.url}")
        # Every page of ours is served with the policy, or "no violation" below would prove nothing.
        ours = response.request.resource_type == "document" and response.url.startswith(self.base_url + "/")
        if ours and "content-security-policy" not in response.headers:
            self.problems.append(f"no Content-Security-Policy header on {response.url}")

    def goto(self, path: str) -> None:
        self.page.goto(self.base_url + path)
        self.check()

    def follow(self, locator: object) -> None:
        """Click a link or submit button and wait for the page it leads to, then check that page."""
        with self.page.expect_navigation():
            locator.click()
        self.check()

    def check(self) -> None:
        """The page now shown: it has a title, nothing went wrong so far, and its links are noted for later."""
        self.page.wait_for_load_state()
        title = self.page.title().strip()
        assert title and title != "· Millrace", f"{self.page.url} has no title"
        self.note_csp_violations()
        self.assert_no_problems()
        hrefs = self.page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)")
        for href in hrefs:
            url = urldefrag(href).url
            if url.startswith(self.base_url + "/") and url not in self.links:
                self.links[url] = self.page.url
            else:
                assert urlparse(url).scheme in ("http", "https", "mailto", "data", ""), f"odd link {href}"

    def note_csp_violations(self) -> None:
        """What the Content-Security-Policy blocked on this page so far (htmx fragments included) is a problem:
        the console's pages must satisfy their own policy."""
        for violation in self.page.evaluate("() => window.__cspViolations || []"):
            self.problems.append(f"Content-Security-Policy violation on {self.page.url}: {violation}")
        self.page.evaluate("() => { window.__cspViolations = []; }")

    def assert_no_problems(self) -> None:
        self.note_csp_violations()
        assert not self.problems, "the browser saw problems:\n" + "\n".join(self.problems)

    def shot(self, name: str) -> None:
        """A full-page screenshot, numbered in the order taken."""
        self.shot_count += 1
        self.page.screenshot(path=str(self.shots / f"{self.shot_count:02d}-{name}.png"), full_page=True)

    def check_links(self) -> None:
        """Every same-site link seen on a visited page answers (after redirects) with a titled page or a file."""
        broken = []
        for url, found_on in sorted(self.links.items()):
            if UNFETCHED.match(urlparse(url).path):
                continue
            response = self.page.request.get(url)
            if response.status >= 400:
                broken.append(f"{url} (on {found_on}) answers {response.status}")
            elif "text/html" in response.headers.get("content-type", ""):
                match = re.search(r"<title>(.*?)</title>", response.text(), re.S)
                if not match or not match.group(1).strip():
                    broken.append(f"{url} (on {found_on}) has no title")
        assert not broken, "broken links:\n" + "\n".join(broken)


@contextmanager
def chromium_browser(base_url: str, shots_name: str) -> Iterator[Browser]:
    """A fresh headless Chromium with one page; screenshots under var/artifacts/screenshots/<shots_name>/."""
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    shots = SCREENSHOTS / shots_name
    shutil.rmtree(shots, ignore_errors=True)
    shots.mkdir(parents=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=["--no-sandbox"])
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.set_default_timeout(15_000)
            context.add_init_script(CSP_LISTENER)
            session = Browser(context.new_page(), base_url, shots)
            yield session
            session.shot("last")  # after a failure, what the page showed when the test gave up
        finally:
            browser.close()

"""The web UI in a real browser: headless Chromium (Debian's `chromium`) driven by Playwright,
against a real `logjet serve` with tokens required (`anonymous = "none"`), alert rules and data
sent over syslog TCP. Every page's console is collected and must hold no error, except the
"Failed to load resource" line Chromium logs for an HTTP status a test provokes on purpose.

Timings (first paint, a 1,000-row result rendered) are recorded with `record_property` and
printed, never asserted: this machine is shared. With LOGJET_UI_SCREENSHOTS=DIR (`make
screenshots`: docs/img) the tests also save the screenshots the README shows.

Chromium and Playwright missing: skipped with the way to install them, or failed in CI
(CI=true or LOGJET_E2E_REQUIRE_SENDERS=1, as for the real syslog senders).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import pathlib
import re
import shutil
import time
import urllib.parse

import pytest

from bench.engine import EngineProcess
from engine.auth.tokens import new_token
from tests.e2e.clients import send_tcp, wait_written

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
INSTALL = "run .ci/install-senders as root (Debian's chromium) and pip install -e '.[test]' (playwright)"
SCREENSHOTS = os.environ.get("LOGJET_UI_SCREENSHOTS", "")
NETWORK_ERROR = re.compile(r"^Failed to load resource: the server responded with a status of (\d+)")

RULES = """
[[rules]]
name = "ui-disk-full"
pattern = 'disk full on \\S+'
threshold = 1
window = "1h"
group_by = ["host"]
severity = "critical"
annotations = { summary = "disk full on {{ $labels.host }}" }

[[rules]]
name = "ui-ssh-failures"
pattern = 'Failed password for'
threshold = 1000
window = "10m"
group_by = ["host"]
severity = "warning"
"""
HOSTS = ("web-0", "web-1", "web-2")
APPS = ("nginx", "sshd", "api")
BACKGROUND = 600  # lines over the last 50 minutes, host and app by i % 3
COUNT_ROWS = 37
BULK_ROWS = 10_000
CONTEXT_ROWS = 30


def _require_browser():
    """The Playwright entry point, or skip (fail in CI) saying what to install."""
    reason = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        reason = "playwright (Python) is not installed"
    if reason is None and not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        reason = f"{CHROMIUM} not found"
    if reason is not None:
        message = f"{reason}: {INSTALL}"
        if os.environ.get("CI") == "true" or os.environ.get("LOGJET_E2E_REQUIRE_SENDERS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return sync_playwright


def _stamp(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _line(t: float, sev: int, host: str, app: str, text: str) -> bytes:
    return f"<{8 + sev}>1 {_stamp(t)} {host} {app} - - - {text}".encode()


def _data(now: float) -> list[bytes]:
    lines = []
    for i in range(BACKGROUND):
        sev = (3, 4, 6, 6, 6, 7)[i % 6]
        text = f"user=u{i % 5} took {i * 7 % 900} ms GET /api/items/{i} status={200 if sev > 4 else 500}"
        lines.append(_line(now - 3000 + i * 4.9, sev, HOSTS[i % 3], APPS[i % 3], text))
    lines += [_line(now - 600 + i, 6, "count-host", "uicount", f"counted line {i}") for i in range(COUNT_ROWS)]
    lines += [
        _line(now - 900 + i * 0.05, 6, "bulk-host", "bulk", f"bulk row {i} with a payload") for i in range(BULK_ROWS)
    ]
    for i in range(CONTEXT_ROWS):  # the same app on another host, interleaved: not context
        lines.append(_line(now - 300 + i, 6, "ctx-host", "ctxapp", f"ctx line {i} seq={i}"))
        lines.append(_line(now - 300 + i, 6, "other-host", "ctxapp", f"other line {i}"))
    lines += [_line(now - 120 + i, 2, "web-1", "kernel", f"disk full on /var ({i})") for i in range(3)]
    return lines


@pytest.fixture(scope="module")
def ui(tmp_path_factory):
    """(engine, {role: token}): a real engine with tokens required, rules and data."""
    tmp = tmp_path_factory.mktemp("webui")
    tokens, entries = {}, []
    for role in ("query", "admin"):
        tokens[role], entry = new_token(f"ui-{role}", [role])
        entries.append(entry)
    (tmp / "auth.toml").write_text("\n".join(entries))
    (tmp / "logjet.toml").write_text('[auth]\nanonymous = "none"\n')
    (tmp / "alerts.toml").write_text(RULES)
    engine = EngineProcess(
        str(tmp / "data"),
        "--retention",
        "0",
        "--auth-file",
        str(tmp / "auth.toml"),
        "--config",
        str(tmp / "logjet.toml"),
        "--alert-rules",
        str(tmp / "alerts.toml"),
        log_path=str(tmp / "engine.log"),
    )
    engine.start()
    try:
        lines = _data(time.time())
        send_tcp(engine.ports["syslog_tcp"], b"\n".join(lines) + b"\n")
        assert wait_written(engine.url, len(lines)) >= len(lines)
        yield engine, tokens
    finally:
        engine.stop()


@pytest.fixture(scope="module")
def browser():
    sync_playwright = _require_browser()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium"))
        try:
            yield b
        finally:
            b.close()


class Console:
    """A page's console messages and uncaught errors; `allow(status)` accepts Chromium's line for
    one HTTP status the test provokes."""

    def __init__(self, page):
        self.errors: list[str] = []
        self.allowed: set[int] = set()
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))

    def allow(self, *statuses: int) -> None:
        self.allowed.update(statuses)

    def unexpected(self) -> list[str]:
        out = []
        for text in self.errors:
            m = NETWORK_ERROR.match(text)
            if m is None or int(m.group(1)) not in self.allowed:
                out.append(text)
        return out


def _open(browser, token: str | None, width: int = 1280, height: int = 800):
    context = browser.new_context(viewport={"width": width, "height": height})
    if token:
        # What the token prompt stores, set before any script runs (the prompt has its own test).
        context.add_init_script(f"sessionStorage.setItem('logjet.token', {json.dumps(token)})")
    page = context.new_page()
    page.set_default_timeout(20_000)
    return context, page, Console(page)


@pytest.fixture
def admin_page(browser, ui):
    engine, tokens = ui
    context, page, console = _open(browser, tokens["admin"])
    yield engine, page, console
    try:
        assert console.unexpected() == []
    finally:
        context.close()


def _params(page) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(page.url).query))


def _run(page, query: str) -> None:
    page.fill("#q", query)
    page.press("#q", "Enter")


def _hits(page, expected: int) -> None:
    page.wait_for_selector(f'#hits[data-total="{expected}"]')


def _shot(page, name: str) -> None:
    if SCREENSHOTS:
        pathlib.Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=os.path.join(SCREENSHOTS, name))


def test_query_count_histogram_zoom_facets_and_errors(admin_page):
    engine, page, console = admin_page
    page.goto(engine.url + "/")
    _run(page, "app:uicount")
    _hits(page, COUNT_ROWS)
    page.wait_for_selector(f'body[data-rendered="{COUNT_ROWS}"]')
    assert page.inner_text("#hits").startswith(f"{COUNT_ROWS} hits")
    assert _params(page)["q"] == "app:uicount"

    # Drag across the middle of the histogram: the range becomes that stretch of time.
    box = page.locator("svg.histogram").bounding_box()
    y = box["y"] + box["height"] / 3
    page.mouse.move(box["x"] + box["width"] * 0.3, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.6, y, steps=5)
    page.mouse.up()
    page.wait_for_function("new URLSearchParams(location.search).has('from')")
    params = _params(page)
    start, end = (dt.datetime.fromisoformat(params[k].replace("Z", "+00:00")).timestamp() for k in ("from", "to"))
    span = end - start
    assert 0.25 * 3600 < span < 0.35 * 3600, span  # 30% of the default hour
    assert abs(start - (time.time() - 0.7 * 3600)) < 120
    assert "→" in page.inner_text("#range-label") and page.input_value("#range") == "custom"
    page.wait_for_selector("#hits[data-total]")

    # Facets over the last hour: a click narrows to a host, the − button excludes an app.
    page.goto(engine.url + "/?range=1h")
    _hits(page, BACKGROUND + COUNT_ROWS + BULK_ROWS + 2 * CONTEXT_ROWS + 3)
    page.locator('.facet[data-field="host"] .facet-value', has_text="web-1").click()
    page.wait_for_function("new URLSearchParams(location.search).get('q') === 'host:web-1'")
    _hits(page, BACKGROUND // 3 + 3)
    page.wait_for_selector('.facet[data-field="app"] .facet-value')
    page.locator('.facet[data-field="app"] li', has_text="kernel").locator("button.mini").click()
    page.wait_for_function("new URLSearchParams(location.search).get('q') === 'host:web-1 -app:kernel'")
    _hits(page, BACKGROUND // 3)
    _shot(page, "ui-search.png")

    # A syntax error is shown at its position, under the query.
    console.allow(400)
    _run(page, "status:500 (GET")
    page.wait_for_selector(".qerror-box")
    assert "at position 15" in page.inner_text("#qerror")
    assert page.inner_text(".qerror-caret").index("^") == 15


def test_rows_expand_filter_context_and_keyboard(admin_page):
    engine, page, console = admin_page
    page.goto(engine.url + "/?q=" + urllib.parse.quote("app:ctxapp host:ctx-host"))
    _hits(page, CONTEXT_ROWS)
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "q"
    page.keyboard.press("Escape")
    assert page.evaluate("document.activeElement.id") != "q"

    row = page.locator(".results .row", has_text=re.compile(r"ctx line 15 seq"))
    row.locator(".summary").click()
    details = page.locator(".results .row.open .details")
    assert re.search(r"_id\s+[0-9a-f]{16}\.[0-9a-f]{16}\.[0-9a-f]{8}", details.inner_text())

    # "show context": the rows of the same host and app around it, in arrival order.
    details.locator(".context-button").click()
    page.wait_for_selector(".ctx-line.hit")
    lines = page.locator(".ctx-line").all_inner_texts()
    assert [re.search(r"ctx line \d+", t).group() for t in lines] == [f"ctx line {i}" for i in range(CONTEXT_ROWS)]
    assert "ctx line 15 seq" in page.inner_text(".ctx-line.hit")
    page.keyboard.press("Escape")
    page.wait_for_selector("#context-dialog", state="hidden")

    # A field value click adds field:value; Alt-click adds its negation.
    details.locator('tr[data-field="seq"] button.value').click()
    page.wait_for_function("new URLSearchParams(location.search).get('q') === 'app:ctxapp host:ctx-host seq:15'")
    _hits(page, 1)
    page.locator(".results .row .summary").first.click()
    page.locator('.results .row.open .details tr[data-field="seq"] button.value').click(modifiers=["Alt"])
    page.wait_for_function("new URLSearchParams(location.search).get('q').endsWith('seq:15 -seq:15')")
    _hits(page, 0)


def test_live_tail_shows_a_line_sent_after_the_page_opened(admin_page):
    engine, page, console = admin_page
    with page.expect_response(lambda r: "/api/v1/tail" in r.url and r.status == 200):
        page.goto(engine.url + "/?q=app:uitail&tail=1")
    assert page.is_checked("#tail")
    _hits(page, 0)
    line = f"tail line sent at {time.time():.3f}"
    send_tcp(engine.ports["syslog_tcp"], _line(time.time(), 6, "tail-host", "uitail", line) + b"\n")
    page.wait_for_selector(f'.results .row:has-text("{line}")', timeout=15_000)
    assert _params(page)["tail"] == "1"

    # Scrolled down, the list holds still: new rows wait behind a notice until asked for.
    with page.expect_response(lambda r: "/api/v1/tail" in r.url and r.status == 200):
        page.goto(engine.url + "/?" + urllib.parse.urlencode({"q": "app:bulk OR app:uitail", "tail": "1"}))
    _hits(page, BULK_ROWS + 1)
    page.evaluate("document.querySelector('.results').scrollTop = 5000")
    later = f"tail line sent while scrolled at {time.time():.3f}"
    send_tcp(engine.ports["syslog_tcp"], _line(time.time(), 6, "tail-host", "uitail", later) + b"\n")
    page.wait_for_selector("#tail-bar:has-text('1 new row,')", timeout=15_000)
    assert page.evaluate("document.querySelector('.results').scrollTop") == 5000
    assert page.locator(f'.results .row:has-text("{later}")').count() == 0
    page.click("#tail-bar button")
    page.wait_for_selector(f'.results .row:has-text("{later}")')
    assert page.evaluate("document.querySelector('.results').scrollTop") == 0


def test_alerts_page_silence_create_and_expire(admin_page):
    engine, page, console = admin_page
    page.goto(engine.url + "/?view=alerts")
    alert = page.locator('tr.alert[data-rule="ui-disk-full"]')
    alert.locator(".badge-firing").wait_for()
    assert "host=web-1" in alert.inner_text()
    page.locator('tr.rule[data-rule="ui-ssh-failures"]').wait_for()

    alert.locator(".silence-button").click()
    alert.locator('select[aria-label="duration"]').select_option("2h")
    alert.locator('input[aria-label="comment"]').fill("disk swap tonight")
    alert.locator('button[type="submit"]').click()
    silence = page.locator("tr.silence", has_text="disk swap tonight")
    silence.locator(".badge-active").wait_for()
    assert "alertname=ui-disk-full" in silence.inner_text() and "host=web-1" in silence.inner_text()
    page.locator('tr.alert[data-rule="ui-disk-full"] .badge-suppressed').wait_for()
    _shot(page, "ui-alerts.png")

    silence.locator(".expire-button").click()
    silence.locator(".badge-expired").wait_for()
    page.locator('tr.alert[data-rule="ui-disk-full"] .badge-firing').wait_for()


def test_token_prompt_and_roles(browser, ui):
    engine, tokens = ui
    context, page, console = _open(browser, None)
    console.allow(401, 403)
    try:
        page.goto(engine.url + "/?q=app:uicount")
        page.wait_for_selector("#token-dialog[open]")
        assert "needs a token" in page.inner_text("#token-reason")
        page.fill("#token-input", tokens["query"])
        page.click('#token-dialog button[value="ok"]')
        _hits(page, COUNT_ROWS)
        assert page.evaluate("sessionStorage.getItem('logjet.token')") == tokens["query"]
        assert page.is_visible("#who")
        page.goto(engine.url + "/?view=alerts")  # the same tab keeps the token: no prompt
        page.locator('tr.alert[data-rule="ui-disk-full"]').wait_for()
        assert not page.is_visible("#token-dialog")
        page.locator('tr.alert[data-rule="ui-disk-full"] .silence-button').click()
        page.locator('tr.alert[data-rule="ui-disk-full"] button[type="submit"]').click()
        page.wait_for_selector(".page-message.error")
        assert page.inner_text(".page-message").startswith("Forbidden (403): token 'ui-query' lacks the admin role")
        assert console.unexpected() == []
    finally:
        context.close()


def test_speed_virtual_scrolling_and_phone_width(browser, ui, record_property):
    engine, tokens = ui
    context, page, console = _open(browser, tokens["admin"])
    try:
        page.goto(engine.url + "/?q=app:bulk&range=1h")
        page.wait_for_selector('body[data-rendered="1000"]')
        paint = page.evaluate(
            "Object.fromEntries(performance.getEntriesByType('paint').map(p => [p.name, p.startTime]))"
        )
        page_loaded = page.evaluate("performance.getEntriesByType('navigation')[0].responseEnd")
        render_1k = page.evaluate("performance.getEntriesByName('logjet:render').at(-1).duration")
        page.select_option("#limit", "10000")
        page.wait_for_selector('body[data-rendered="10000"]')
        render_10k = page.evaluate("performance.getEntriesByName('logjet:render').at(-1).duration")
        # 10,000 rows, a few dozen in the DOM, wherever the list is scrolled.
        for where in ("scroller.scrollHeight / 2", "scroller.scrollHeight"):
            page.evaluate(
                f"(() => {{ const scroller = document.querySelector('.results'); scroller.scrollTop = {where} }})()"
            )
            page.wait_for_timeout(100)
            assert page.locator(".results .row").count() < 100
        assert page.locator(".results .row", has_text=re.compile(r"bulk row 0 with a")).count() == 1
        figures = {
            "page_response_end_ms": round(page_loaded, 1),
            "first_paint_ms": round(paint.get("first-paint", -1), 1),
            "first_contentful_paint_ms": round(paint.get("first-contentful-paint", -1), 1),
            "render_1000_rows_ms": round(render_1k, 1),
            "render_10000_rows_ms": round(render_10k, 1),
        }
        for name, value in figures.items():
            record_property(name, value)
        print("web UI timings (loopback, shared machine):", figures)

        for url in ("/?q=app:uicount", "/?view=alerts"):
            page.set_viewport_size({"width": 390, "height": 844})
            page.goto(engine.url + url)
            page.wait_for_selector("#hits[data-total], tr.alert")
            assert page.evaluate("document.documentElement.scrollWidth") <= 390, url
            if "alerts" not in url:
                _shot(page, "ui-phone.png")
        assert console.unexpected() == []
    finally:
        context.close()

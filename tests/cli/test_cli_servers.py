"""`strongroom serve`, `web` and `worker` for real: gunicorn and the Huey consumer as
processes, HTTP on 127.0.0.1, the API docs page under the strict CSP, signals."""

from __future__ import annotations

import json
import os
import re
import signal
import threading
import uuid
from html.parser import HTMLParser

import pytest

from cli.helpers import (
    StreamWatcher,
    free_port,
    http_get,
    process_alive,
    wait_until_http_ok,
)

pytestmark = pytest.mark.db_specific


class _Page(HTMLParser):
    """Collects what a CSP decides about: scripts, styles, linked resources."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict[str, str | None]] = []
        self.links: list[dict[str, str | None]] = []
        self.inline_styles = 0
        self.style_elements = 0
        self.event_handlers: list[str] = []
        self._in_script: dict[str, str | None] | None = None
        self.script_text: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if "style" in attributes:
            self.inline_styles += 1
        self.event_handlers += [name for name in attributes if name.startswith("on")]
        if tag == "script":
            self.scripts.append(attributes)
            self._in_script = attributes
        elif tag == "link":
            self.links.append(attributes)
        elif tag == "style":
            self.style_elements += 1

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = None

    def handle_data(self, data):
        if self._in_script is not None and not self._in_script.get("src"):
            self.script_text.append(data)


def _pids(watcher: StreamWatcher) -> tuple[int, int]:
    match = watcher.wait_for_regex(
        r"web server \(gunicorn\) pid (\d+), worker \(huey\) pid (\d+)\n",
        120,  # whole line
    )
    return int(match.group(1)), int(match.group(2))


def _cmdline(pid: int) -> str:
    with open(f"/proc/{pid}/cmdline", "rb") as fh:
        return fh.read().replace(b"\0", b" ").decode()


@pytest.mark.slow
def test_serve_starts_web_and_worker_serves_the_docs_locally_and_stops_on_sigterm(inst):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = inst.start("serve", "--port", str(port), "--demo", "--workers", "1")
    out = StreamWatcher(proc.stdout)
    err = StreamWatcher(proc.stderr)
    try:
        web_pid, worker_pid = _pids(out)
        assert f"Strongroom is starting on {base}/" in out.text
        login = out.wait_for_regex(r"demo admin: admin / (\S+)\n", 30)  # to the line end
        stored = (inst.data_dir / "demo-admin.txt").read_text()
        assert f"admin\t{login.group(1)}\t" in stored
        wait_until_http_ok(f"{base}/healthz", proc)

        assert "gunicorn" in _cmdline(web_pid)
        assert "worker" in _cmdline(worker_pid)
        assert process_alive(web_pid) and process_alive(worker_pid)
        err.wait_for_regex(r"Huey consumer started", 60)

        status, headers, body = http_get(f"{base}/api/v1/docs")
        assert status == 200
        csp = headers["Content-Security-Policy"]
        assert "script-src 'self';" in csp
        assert "style-src 'self';" in csp
        assert "unsafe" not in csp
        page = _Page()
        page.feed(body.decode())

        # Nothing inline that the CSP would block: the only script without src is JSON data.
        inline = [s for s in page.scripts if not s.get("src")]
        assert [s.get("type") for s in inline] == ["application/json"]
        settings = json.loads("".join(page.script_text))
        assert page.inline_styles == 0
        assert page.style_elements == 0
        assert page.event_handlers == []
        assert "cdn" not in body.decode().lower()

        # Every script and stylesheet is served by this server (whitenoise), no CDN.
        assets = [s["src"] for s in page.scripts if s.get("src")] + [
            link["href"] for link in page.links if link.get("href")
        ]
        assert any(a.endswith("swagger-ui-bundle.js") for a in assets)
        assert any(a.endswith("swagger-ui.css") for a in assets)
        for asset in assets:
            assert asset.startswith("/static/"), asset
            status, asset_headers, content = http_get(base + asset)
            assert status == 200, asset
            kind = asset_headers["Content-Type"]
            if asset.endswith(".js"):
                assert "javascript" in kind
                assert not re.search(rb"https?://[^\s\"']*cdn", content)
            elif asset.endswith(".css"):
                assert kind.startswith("text/css")
            assert len(content) > 100

        status, headers, body = http_get(base + settings["url"])
        assert status == 200
        schema = json.loads(body)
        assert schema["openapi"].startswith("3.")
        assert schema["info"]["title"] == "Strongroom API"
        assert any(path.startswith("/api/v1/") for path in schema["paths"])

        status, _, body = http_get(f"{base}/")
        assert status == 200

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not process_alive(web_pid)
    assert not process_alive(worker_pid)
    assert "SIGTERM received, stopping" in err.text


@pytest.mark.slow
def test_serve_stops_the_web_server_when_the_worker_dies(migrated):
    port = free_port()
    proc = migrated.start("serve", "--port", str(port), "--workers", "1")
    out = StreamWatcher(proc.stdout)
    err = StreamWatcher(proc.stderr)
    try:
        web_pid, worker_pid = _pids(out)
        wait_until_http_ok(f"http://127.0.0.1:{port}/healthz", proc)
        os.kill(worker_pid, signal.SIGKILL)
        assert proc.wait(timeout=60) == 1
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not process_alive(web_pid)
    assert "the worker stopped unexpectedly" in err.text


@pytest.mark.slow
def test_web_alone_serves_until_sigterm(migrated):
    port = free_port()
    proc = migrated.start("web", "--port", str(port), "--workers", "1", "--threads", "2")
    try:
        wait_until_http_ok(f"http://127.0.0.1:{port}/healthz", proc)
        assert "gunicorn" in _cmdline(proc.pid)  # exec'd: signals go straight to gunicorn
        status, headers, _ = http_get(f"http://127.0.0.1:{port}/api/v1/openapi.json")
        assert status == 200
        assert headers["Content-Type"].startswith("application/json")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.fixture
def redis_queue():
    """A queue of our own on the test Redis (set by scripts/test), removed afterwards."""
    import redis

    url = os.environ.get("STRONGROOM_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"the test Redis at {url} is not answering ({exc}); scripts/test starts it")
    name = f"strongroom-test-{uuid.uuid4().hex[:8]}"
    yield {"STRONGROOM_REDIS_URL": url, "STRONGROOM_QUEUE_NAME": name}
    for key in client.scan_iter(f"*{name}*"):
        client.delete(key)


@pytest.mark.slow
def test_a_task_runs_through_a_real_consumer_on_redis(migrated, redis_queue):
    migrated.script(
        """
        from datetime import timedelta
        from django.utils import timezone
        from strongroom.accounts.models import LoginAttempt
        for days in (45, 31, 29, 1, 0):
            attempt = LoginAttempt.objects.create(username=f"u{days}", succeeded=False)
            LoginAttempt.objects.filter(pk=attempt.pk).update(
                at=timezone.now() - timedelta(days=days)
            )
        """
    )
    worker = migrated.start("worker", env=redis_queue)
    err = StreamWatcher(worker.stderr)
    try:
        err.wait_for_regex(r"Huey consumer started", 60)
        err.wait_for_regex(r"\+ strongroom\.accounts\.tasks\.purge_login_attempts_daily", 30)
        # Enqueue from another process (as a web node would) and wait for the result.
        deleted = migrated.script(
            """
            from strongroom.accounts.tasks import purge_login_attempts
            result = purge_login_attempts().get(blocking=True, timeout=60)
            """,
            env=redis_queue,
        )
        assert deleted == 2
        err.wait_for_regex(r"Executing strongroom\.accounts\.tasks\.purge_login_attempts:", 30)
        left = migrated.script(
            "from strongroom.accounts.models import LoginAttempt\n"
            "result = sorted(LoginAttempt.objects.values_list('username', flat=True))"
        )
        assert left == ["u0", "u1", "u29"]
        worker.send_signal(signal.SIGINT)  # graceful: finish running tasks, then exit
        assert worker.wait(timeout=60) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()


_CSP_LISTENER = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(`${e.violatedDirective} blocked ${e.blockedURI} (${e.sample})`);
});
"""


def _visit_docs(chromium: str, base: str) -> dict[str, object]:
    """Open the docs page in Chromium; report what went wrong and what left the server."""
    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    elsewhere: list[str] = []
    facts: dict[str, object] = {"problems": problems, "elsewhere": elsewhere}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            context = browser.new_context()
            context.add_init_script(_CSP_LISTENER)

            def route(route):
                if route.request.url.startswith(base + "/"):
                    route.continue_()
                else:
                    elsewhere.append(route.request.url)
                    route.abort()

            context.route("**/*", route)
            page = context.new_page()
            page.on(
                "console",
                lambda m: problems.append(f"console: {m.text}") if m.type == "error" else None,
            )
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.goto(f"{base}/api/v1/docs")
            title = page.locator(".swagger-ui .info .title")
            try:
                title.wait_for(timeout=20_000)
            except Exception as exc:
                raise AssertionError(f"Swagger UI did not render: {problems}") from exc
            facts["title"] = title.inner_text()
            facts["operations"] = page.locator(".opblock").count()
            # Expanding an operation runs more of Swagger UI's code (models, highlighting).
            page.locator(".opblock-summary").first.click()
            page.locator(".opblock-body").first.wait_for(timeout=10_000)
            problems.extend(page.evaluate("window.__csp"))
        finally:
            browser.close()
    return facts


@pytest.mark.browser
@pytest.mark.slow
def test_the_api_docs_page_works_in_a_browser_under_the_strict_csp(demo):
    """Swagger UI renders and expands an operation with no CSP violation, no console error
    and no request leaving the server (anything else is aborted and recorded)."""
    chromium = os.environ.get("STRONGROOM_CHROMIUM", "/usr/bin/chromium")
    if not os.path.exists(chromium):
        pytest.fail(f"{chromium} is missing: run scripts/test (it installs Debian's chromium)")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = demo.start("web", "--port", str(port), "--workers", "1")
    outcome: dict[str, object] = {}
    try:
        wait_until_http_ok(f"{base}/healthz", proc)

        # Playwright's sync API refuses to start in a thread whose event loop another
        # session-wide Playwright (the browser test suites') is already running.
        def visit() -> None:
            try:
                outcome.update(_visit_docs(chromium, base))
            except Exception as exc:  # reported below, in the test's thread
                outcome["error"] = exc

        thread = threading.Thread(target=visit)
        thread.start()
        thread.join(120)
        assert not thread.is_alive(), "the browser did not finish in time"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    if "error" in outcome:
        raise outcome["error"]
    assert "Strongroom API" in str(outcome["title"])
    assert int(outcome["operations"]) > 5
    assert outcome["problems"] == []
    assert outcome["elsewhere"] == []

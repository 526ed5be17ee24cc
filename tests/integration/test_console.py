"""The web console in a real browser (Debian's chromium driven by Playwright) against `multillm serve`
on real workers and the simulator: sign in, compare three providers, a batch's matrix and its
failures filter, the providers page; and the report's matrix.html opened from disk. Each test saves
a screenshot of its page in docs/screenshots/ (the README shows them)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright import sync_api as playwright_api

from multillm.common.providers import SPECS
from multillm.producers.batch import BatchRun, Target
from multillm.producers.batch.output import latest_rows
from multillm.producers.batch.report import write_report
from multillm.producers.batch.run import run_id
from multillm.producers.cli.batch import sample_path
from multillm.producers.client import MultiLLM
from multillm.producers.local.system import EmbeddedSystem
from multillm.producers.simulator.config import SIMULATED_KEY
from tests.integration.conftest import FAST_ENV, make_system, settings_for
from tests.integration.gateway_tenants import new_tenant

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
SAMPLE_TARGETS = [Target("openai", "gpt-4o-mini"), Target("anthropic", "claude-3-5-haiku-latest"),
                  Target("google", "gemini-2.0-flash")]
QUOTA_ENV = {"OPENAI_RPM": "600", "ANTHROPIC_ITPM": "40000", "ANTHROPIC_OTPM": "8000"}
JUDGE = Target("openai", "gpt-4o-mini")
JUDGED = 10  # the sample's lines with an expected answer
WAIT_MS = 60_000

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium (apt-get install -y chromium)")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with playwright_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def tenant(system: EmbeddedSystem) -> tuple[str, str]:
    return new_tenant(system.redis_url)


@pytest.fixture(scope="module")
def sample_batch(system: EmbeddedSystem, tenant: tuple[str, str], tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """The sample dataset on three providers, run as the console's tenant: (batch id, output dir)."""
    out = tmp_path_factory.mktemp("sample")
    with MultiLLM(system.redis_url, settings=settings_for(system.redis_url)) as client:
        BatchRun(client, sample_path(), SAMPLE_TARGETS, out, tenant=tenant[0], judge=JUDGE).run()
    write_report(out)
    return run_id(sample_path(), SAMPLE_TARGETS, out), out


def failed_lines(out: Path) -> list[str]:
    """Lines where some provider failed or was judged wrong, read from results.jsonl."""
    rows = latest_rows(out / "results.jsonl")
    bad = {r["custom_id"] for r in rows if r["error"] or (r["metrics"].get("judge") or {}).get("verdict") == "fail"
           or (r["metrics"].get("judge") or {}).get("error")}
    return sorted(bad)


def signed_in(browser: object, gateway: str, key: str, viewport: dict[str, int] = DESKTOP) -> object:
    page = browser.new_page(viewport=viewport)  # type: ignore[attr-defined]
    page.goto(f"{gateway}/")
    page.get_by_label("Tenant API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Compare").wait_for(timeout=WAIT_MS)
    return page


UNLABELLED = """[...document.querySelectorAll('input, select, textarea, button')]
  .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.textContent.trim())
  .map(e => e.outerHTML)"""


def fits(page: object, width: int) -> bool:
    """No control without a label, and nothing wider than the screen (wide tables scroll in their own box)."""
    assert page.evaluate(UNLABELLED) == []  # type: ignore[attr-defined]
    return page.evaluate("document.documentElement.scrollWidth") <= width  # type: ignore[attr-defined]


def shot(page: object, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]


def test_the_console_is_served_at_the_root_with_a_policy_that_allows_its_own_scripts_only(gateway):
    page = httpx.get(f"{gateway}/")
    script = httpx.get(f"{gateway}/js/app.js")
    assert page.status_code == 200 and "js/app.js" in page.text
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "connect-src 'self'" in policy and "unsafe-inline" not in policy
    assert httpx.get(f"{gateway}/v1/batches").status_code == 401
    unknown = httpx.post(f"{gateway}/v1/embeddings", json={})  # an unknown API path stays a 404 in OpenAI's shape
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"


def test_a_wrong_key_is_refused_and_the_key_never_reaches_a_url(browser, gateway, tenant):
    page = browser.new_page(viewport=DESKTOP)
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    page.goto(f"{gateway}/")
    page.get_by_label("Tenant API key").fill("mlm_" + "0" * 43)
    page.get_by_role("button", name="Sign in").click()
    playwright_api.expect(page.get_by_role("alert")).to_contain_text("unknown or revoked", timeout=WAIT_MS)
    page.get_by_label("Tenant API key").fill(tenant[1])
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Compare").wait_for(timeout=WAIT_MS)
    assert page.evaluate("sessionStorage.getItem('multillm.key')") == tenant[1]
    assert not [u for u in urls if tenant[1] in u]
    page.close()


def test_compare_streams_three_providers_answers_side_by_side(browser, gateway, tenant):
    page = signed_in(browser, gateway, tenant[1])
    page.get_by_label("System prompt").fill("Answer briefly.")
    page.get_by_label("Prompt", exact=True).fill("Name three rivers in Europe.")
    for provider in ("openai", "anthropic", "google"):
        page.locator(f"#use-{provider}").check()
    for provider in [p for p in SPECS if p not in ("openai", "anthropic", "google")]:
        page.locator(f"#use-{provider}").uncheck()
    page.get_by_role("button", name="Send").click()
    cards = page.locator("article.card")
    playwright_api.expect(cards).to_have_count(3, timeout=WAIT_MS)
    for i in range(3):
        card = cards.nth(i)
        playwright_api.expect(card.locator(".badge")).to_have_text("done", timeout=WAIT_MS)
        playwright_api.expect(card.locator("dd").last).to_contain_text("$", timeout=WAIT_MS)
        assert card.locator(".answer").inner_text().strip()
        assert card.locator(".answer").get_attribute("aria-live") == "polite"
    names = cards.locator("h2").all_inner_texts()
    assert [n.split("/")[0] for n in names] == ["openai", "anthropic", "google"]
    assert fits(page, DESKTOP["width"])
    shot(page, "compare")
    page.close()


def test_stop_cancels_the_running_answers(browser, gateway, tenant):
    page = signed_in(browser, gateway, tenant[1])
    # The simulator sends a few chunks, then stalls: the answers are still running when Stop is pressed.
    page.get_by_label("Prompt", exact=True).fill("Write about rivers. [[fault:stall_mid]]")
    page.get_by_role("button", name="Send").click()
    answers = page.locator("article.card .answer")
    playwright_api.expect(answers).to_have_count(3, timeout=WAIT_MS)
    for i in range(3):
        playwright_api.expect(answers.nth(i)).not_to_be_empty(timeout=WAIT_MS)
    page.get_by_role("button", name="Stop").click()
    badges = page.locator("article.card .badge")
    for i in range(3):
        playwright_api.expect(badges.nth(i)).to_have_text("cancelled", timeout=WAIT_MS)
    page.close()


def test_a_failed_provider_shows_its_error_class(browser, gateway, tenant):
    page = signed_in(browser, gateway, tenant[1])
    page.get_by_label("Prompt", exact=True).fill("Hello [[fault:400]]")
    page.get_by_role("button", name="Send").click()
    badge = page.locator("article.card .badge").first
    playwright_api.expect(badge).to_have_text("invalid_request", timeout=WAIT_MS)
    playwright_api.expect(badge).to_have_class(re.compile("k-error"))
    page.close()


def test_the_sample_batch_shows_its_matrix_and_filters_to_failures(browser, gateway, tenant, sample_batch):
    batch_id, out = sample_batch
    page = signed_in(browser, gateway, tenant[1])
    page.get_by_role("link", name="Batches").click()
    page.get_by_role("link", name=batch_id).click()
    matrix = page.locator("table.matrix")
    playwright_api.expect(matrix.locator("tbody tr")).to_have_count(12, timeout=WAIT_MS)
    assert matrix.locator("thead th").all_inner_texts()[2:] == [t.name for t in SAMPLE_TARGETS]
    assert matrix.locator(".reason").count() == 3 * JUDGED  # each verdict's reason beside its answer
    page.get_by_label("Failed only").check()
    failing = failed_lines(out)
    playwright_api.expect(matrix.locator("tbody tr")).to_have_count(len(failing))
    playwright_api.expect(page.get_by_role("status")).to_have_text(f"{len(failing)} of 12 prompts shown")
    assert sorted(matrix.locator(".cid").all_inner_texts()) == sorted(failing)
    assert fits(page, DESKTOP["width"])
    shot(page, "batch")
    page.get_by_label("Provider/model", exact=True).select_option("anthropic/claude-3-5-haiku-latest")
    assert matrix.locator("thead th").all_inner_texts()[2:] == ["anthropic/claude-3-5-haiku-latest"]
    page.close()


def test_batches_list_only_the_tenants_own_runs(gateway, system, sample_batch, tenant):
    batch_id, _ = sample_batch
    _, other = new_tenant(system.redis_url)
    mine = httpx.get(f"{gateway}/v1/batches", headers={"authorization": f"Bearer {tenant[1]}"}).json()["data"]
    theirs = httpx.get(f"{gateway}/v1/batches", headers={"authorization": f"Bearer {other}"}).json()["data"]
    assert [b["id"] for b in mine] == [batch_id] and mine[0]["done"] == mine[0]["total"] == 36
    assert theirs == []
    assert httpx.get(f"{gateway}/v1/batches/{batch_id}", headers={"authorization": f"Bearer {other}"}).status_code == 404


@pytest.fixture(scope="module")
def limited(own_redis: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """Workers for two providers whose keys have quotas, and a gateway that knows those keys (as in
    production, where both read the same settings): (gateway URL, a tenant's key)."""
    with make_system(own_redis, tmp_path_factory.mktemp("limited"), providers=["openai", "anthropic"],
                     concurrency=4, env=QUOTA_ENV) as running:
        keys = {spec.api_key_env: SIMULATED_KEY for spec in SPECS.values()}
        yield running.start_gateway(env=keys), new_tenant(own_redis)[1]


def test_the_providers_page_shows_all_seven_with_health_circuit_quota_and_usage(browser, limited):
    gateway, key = limited
    page = signed_in(browser, gateway, key)
    for provider in SPECS:
        page.locator(f"#use-{provider}").set_checked(provider in ("openai", "anthropic"))
    page.get_by_role("button", name="Send").click()
    badges = page.locator("article.card .badge")
    for i in range(2):
        playwright_api.expect(badges.nth(i)).to_have_text("done", timeout=WAIT_MS)
    page.get_by_role("link", name="Providers").click()
    rows = page.locator("table.providers tbody tr")
    playwright_api.expect(rows).to_have_count(7, timeout=WAIT_MS)
    assert sorted(rows.evaluate_all("rows => rows.map(r => r.dataset.provider)")) == sorted(SPECS)
    openai = page.locator("tr[data-provider=openai]")
    assert "closed" in openai.inner_text() and "healthy" in openai.inner_text() and "recent calls" in openai.inner_text()
    assert "rpm (60 s): 1 / 600" in openai.inner_text()
    assert "itpm (60 s)" in page.locator("tr[data-provider=anthropic]").inner_text()
    usage = page.locator("table.usage").inner_text()
    assert "openai/gpt-4o-mini" in usage and "anthropic/claude-3-5-haiku-latest" in usage
    assert fits(page, DESKTOP["width"])
    shot(page, "providers")
    page.close()


def test_the_console_fits_a_phone_screen(browser, gateway, tenant, sample_batch):
    page = signed_in(browser, gateway, tenant[1], viewport=PHONE)
    page.get_by_role("button", name="Send").click()
    playwright_api.expect(page.locator("article.card .badge").first).to_have_text("done", timeout=WAIT_MS)
    shot(page, "compare-phone")
    assert fits(page, PHONE["width"])
    page.goto(f"{gateway}/#/batches/{sample_batch[0]}")
    playwright_api.expect(page.locator("table.matrix tbody tr")).to_have_count(12, timeout=WAIT_MS)
    assert fits(page, PHONE["width"])
    page.goto(f"{gateway}/#/providers")
    playwright_api.expect(page.locator("table.providers tbody tr")).to_have_count(7, timeout=WAIT_MS)
    assert fits(page, PHONE["width"])
    page.close()


def test_the_console_works_from_the_keyboard_alone(browser, gateway, tenant, sample_batch):
    page = browser.new_page(viewport=DESKTOP)
    page.goto(f"{gateway}/")
    page.keyboard.type(tenant[1])  # the key field has the focus
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Compare").wait_for(timeout=WAIT_MS)

    def tab_to(name: str) -> None:
        for _ in range(60):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.textContent.trim()") == name:
                return
        raise AssertionError(f"Tab never reached {name!r}")

    tab_to("Batches")
    page.keyboard.press("Enter")
    tab_to(sample_batch[0])
    page.keyboard.press("Enter")
    matrix = page.locator("table.matrix tbody tr")
    playwright_api.expect(matrix).to_have_count(12, timeout=WAIT_MS)
    page.get_by_label("Failed only").focus()
    page.keyboard.press("Space")
    playwright_api.expect(matrix).to_have_count(len(failed_lines(sample_batch[1])))
    playwright_api.expect(page.get_by_label("Failed only")).to_be_focused()  # the refresh keeps the focus
    page.close()


def test_the_report_matrix_opens_from_disk_without_a_server(browser, sample_batch):
    _, out = sample_batch
    page = browser.new_page(viewport=DESKTOP)
    page.goto((out / "matrix.html").as_uri())
    matrix = page.locator("table.matrix")
    playwright_api.expect(matrix.locator("tbody tr")).to_have_count(12, timeout=WAIT_MS)
    page.get_by_label("Failed only").check()
    playwright_api.expect(matrix.locator("tbody tr")).to_have_count(len(failed_lines(out)))
    assert page.locator("figure.chart").count() == 4
    shot(page, "matrix-html")
    page.close()


def test_batch_run_with_tenant_shows_in_that_tenants_console_and_writes_matrix_html(system, gateway, tmp_path):
    name, key = new_tenant(system.redis_url)
    lines = tmp_path / "in.jsonl"
    lines.write_text('{"id": "one", "prompt": "Say hi", "expected": "hi"}\n{"id": "two", "prompt": "Say bye"}\n')
    out = tmp_path / "out"
    env = {**os.environ, **FAST_ENV, "REDIS_URL": system.redis_url}
    done = subprocess.run([sys.executable, "-m", "multillm.producers.cli.main", "batch", "run", str(lines),
                           "--providers", "openai", "--tenant", name, "--out", str(out)],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (out / "matrix.html").exists() and (out / "report.md").exists()
    listed = httpx.get(f"{gateway}/v1/batches", headers={"authorization": f"Bearer {key}"}).json()["data"]
    assert [(b["done"], b["total"], b["targets"]) for b in listed] == [(2, 2, ["openai/gpt-4o-mini"])]
    batch = httpx.get(f"{gateway}/v1/batches/{listed[0]['id']}", headers={"authorization": f"Bearer {key}"}).json()
    assert sorted(r["prompt"] for r in batch["rows"]) == ["Say bye", "Say hi"]


def test_the_batches_list_follows_a_run_without_reloading(browser, system, gateway, tmp_path):
    name, key = new_tenant(system.redis_url)
    page = signed_in(browser, gateway, key)
    page.get_by_role("link", name="Batches").click()
    playwright_api.expect(page.get_by_text("No batch runs for this tenant yet")).to_be_visible(timeout=WAIT_MS)
    lines = tmp_path / "in.jsonl"
    lines.write_text("".join(f'{{"id": "l{i}", "prompt": "Say {i}"}}\n' for i in range(3)))
    with MultiLLM(system.redis_url, settings=settings_for(system.redis_url)) as client:
        BatchRun(client, lines, [Target("openai", "gpt-4o-mini")], tmp_path / "out", tenant=name).run()
    row = page.locator("table.batches tbody tr")
    playwright_api.expect(row).to_have_count(1, timeout=WAIT_MS)
    playwright_api.expect(row).to_contain_text("finished", timeout=WAIT_MS)
    playwright_api.expect(row).to_contain_text("3 / 3")
    page.close()


def answer_row(custom_id: str, provider: str, text: str, expected: str | None) -> dict:
    body = {"choices": [{"index": 0, "message": {"role": "assistant", "content": text}}]}
    return {"custom_id": custom_id, "provider": provider, "model": "m", "prompt": f"prompt {custom_id}",
            "expected": expected, "error": None, "response": {"status_code": 200, "body": body},
            "metrics": {"status": "succeeded", "latency_s": 0.2, "ttft_s": 0.1, "input_tokens": 3, "output_tokens": 2,
                        "cost_usd": 0.0, "attempts": 1, "error_code": None}}


def test_the_disagreeing_filter_keeps_the_lines_where_providers_differ(browser, tmp_path):
    rows = [answer_row("same", "openai", "Paris", "Paris"), answer_row("same", "google", "Paris!", "Paris"),
            answer_row("split", "openai", "Tokyo", "Tokyo"), answer_row("split", "google", "Kyoto", "Tokyo"),
            answer_row("wrong", "openai", "Lyon", "Paris"), answer_row("wrong", "google", "Nice", "Paris")]
    (tmp_path / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    write_report(tmp_path)
    page = browser.new_page(viewport=DESKTOP)
    page.goto((tmp_path / "matrix.html").as_uri())
    matrix = page.locator("table.matrix tbody tr")
    playwright_api.expect(matrix).to_have_count(3, timeout=WAIT_MS)
    page.get_by_label("Disagreeing only").check()
    playwright_api.expect(matrix).to_have_count(1)
    assert page.locator("table.matrix .cid").all_inner_texts() == ["split"]
    page.get_by_label("Disagreeing only").uncheck()
    page.get_by_label("Failed only").check()
    assert sorted(page.locator("table.matrix .cid").all_inner_texts()) == ["split", "wrong"]
    page.close()

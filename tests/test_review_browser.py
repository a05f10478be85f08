"""The review page in real headless Chromium (Debian's /usr/bin/chromium, driven by Playwright):
load with the token link, label with the keyboard, watch agreement update, rate, export; untrusted
HTML in prompts and responses shows as text and runs nothing."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil

import pytest

from hrlaif.review.server import ReviewConfig, prepare, serve
from test_review_support import XSS, make_run

CHROMIUM = os.environ.get("HRLAIF_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-quic", "--disable-sync"]

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"chromium not found at {CHROMIUM} (install Debian's chromium: `make browser`)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page_srv(browser, tmp_path, data_dir):
    run = make_run(tmp_path / "run", data_dir)
    db, _ = prepare(ReviewConfig(run_dir=str(run)))
    srv = serve(db)
    ctx = browser.new_context(accept_downloads=True)
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("dialog", lambda d: (errors.append("dialog: " + d.message), d.dismiss()))
    yield page, srv, errors
    ctx.close()
    srv.shutdown()


def _start(page, srv, name: str) -> None:
    page.goto(srv.url)
    assert page.url == srv.origin + "/"  # the token left the address bar
    page.fill("#reviewer", name)
    page.press("#reviewer", "Enter")
    page.wait_for_selector("#label-item:not([hidden])")


def _done(page, tbody: str) -> int:
    return page.eval_on_selector_all(f"{tbody} td.done", "tds => tds.reduce((s, t) => s + Number(t.textContent), 0)")


def _correct(text: str) -> bool:
    return text.startswith("The answer is") or len(text) == 1


def test_label_with_keyboard_agreement_updates_and_export(page_srv):
    page, srv, errors = page_srv
    _start(page, srv, "ann")
    page.click("#tab-results")
    page.wait_for_selector("#agreement-table tr[data-key='hybrid/(all)']")
    assert page.text_content("#agreement-table tr[data-key='hybrid/(all)'] td:nth-child(3)") == "0"

    page.click("#tab-label")
    page.wait_for_selector("#label-item:not([hidden])")
    assert page.text_content("#resp-a") and page.text_content("#resp-b")
    view = page.inner_text("#view-label")
    assert "hybrid" not in view and "basic" not in view  # blind: no source, no AI choice on the label view
    n_done = 0
    while page.is_visible("#label-item"):
        a, b = page.text_content("#resp-a"), page.text_content("#resp-b")
        category = page.text_content("#label-item-category")
        key = "t" if category == "open_ended" else ("a" if _correct(a) else "b")
        if n_done == 0:  # a slip, then undo (u): the same pair comes back and the new judgement wins
            prompt = page.text_content("#label-prompt")
            page.keyboard.press({"a": "b", "b": "a", "t": "a"}[key])
            page.wait_for_function("([sel, n]) => [...document.querySelectorAll(sel)]"
                                   ".reduce((s, t) => s + Number(t.textContent), 0) === n",
                                   arg=["#label-progress td.done", 1])
            page.keyboard.press("u")
            page.wait_for_function("([sel, v]) => document.querySelector(sel)?.textContent === v",
                                   arg=["#label-prompt", prompt])
            assert (page.text_content("#resp-a"), page.text_content("#resp-b")) == (a, b)  # same A/B order
        page.keyboard.press(key)
        if n_done == 0:  # the count did not move (same pair again): wait for the next pair instead
            page.wait_for_function("([sel, v]) => document.querySelector(sel)?.textContent !== v",
                                   arg=["#label-prompt", prompt])
        n_done += 1
        page.wait_for_function("([sel, n]) => [...document.querySelectorAll(sel)]"
                               ".reduce((s, t) => s + Number(t.textContent), 0) === n",
                               arg=["#label-progress td.done", n_done])
        if n_done == 3:  # results mid-way: agreement already counts these three
            page.click("#tab-results")
            page.wait_for_function("([sel, v]) => document.querySelector(sel)?.textContent === v",
                                   arg=["#agreement-table tr[data-key='hybrid/(all)'] td:nth-child(3)", "3"])
            page.click("#tab-label")
            page.wait_for_selector("#label-item:not([hidden])")
    assert n_done == 8 and page.is_visible("#label-done")

    page.click("#tab-results")
    row = "#agreement-table tr[data-key='{}'] td:nth-child({})"
    page.wait_for_function("([sel, v]) => document.querySelector(sel)?.textContent === v",
                           arg=[row.format("hybrid/(all)", 3), "8"])
    assert page.text_content(row.format("hybrid/(all)", 4)) == "100.0%"
    assert page.text_content(row.format("hybrid/(all)", 6)) == "1.000"  # kappa
    assert page.text_content(row.format("basic/(all)", 4)) == "0.0%"
    assert page.text_content(row.format("basic/math", 3)) == "4"

    with page.expect_download() as dl:
        page.click("#export-labels-csv")
    rows = list(csv.DictReader(io.StringIO(open(dl.value.path(), encoding="utf-8").read())))
    assert len(rows) == 8 and {r["reviewer"] for r in rows} == {"ann"}
    assert {r["human_label"] for r in rows} == {"first", "tie"}
    with page.expect_download() as dl:
        page.click("#export-results")
    res = json.loads(open(dl.value.path(), encoding="utf-8").read())
    assert res["labels"]["by_source"]["hybrid"]["overall"]["agree"] == 8
    assert errors == []


def test_untrusted_html_renders_as_text_and_runs_nothing(page_srv):
    page, srv, errors = page_srv
    _start(page, srv, "eve")
    page.select_option("#label-category", "open_ended")
    page.wait_for_function("() => document.getElementById('label-item-category').textContent === 'open_ended'")
    shown = page.inner_text("#resp-a") + page.inner_text("#resp-b")  # inner_text: what is rendered
    assert XSS in shown and page.is_visible("#resp-a") and page.is_visible("#resp-b")  # the markup, literally
    assert "<i>not italic</i>" in page.text_content("#label-prompt")
    assert page.locator("#label-item script, #label-item img, #label-item b, #label-item i").count() == 0
    assert page.evaluate("window.__pwned") is None

    page.click("#tab-satisfaction")
    page.select_option("#sat-category", "open_ended")
    page.wait_for_selector("#sat-item:not([hidden])")
    seen_xss = False
    for i in range(2):  # two policies answered the open-ended prompt; one answer is the payload
        page.wait_for_function("() => document.getElementById('sat-item-category').textContent === 'open_ended'")
        text = page.text_content("#sat-response")
        seen_xss |= text == XSS
        assert page.locator("#sat-item img, #sat-item script").count() == 0
        page.fill("#sat-reason", "<img src=x onerror=\"window.__pwned=3\"> reason")
        page.click("[data-sat='no']")
        page.wait_for_function("([sel, n]) => [...document.querySelectorAll(sel)]"
                               ".reduce((s, t) => s + Number(t.textContent), 0) === n",
                               arg=["#sat-progress td.done", i + 1])
    assert seen_xss
    assert page.evaluate("window.__pwned") is None
    assert errors == []


def test_satisfaction_rating_with_keyboard(page_srv):
    page, srv, errors = page_srv
    _start(page, srv, "ann")
    page.click("#tab-satisfaction")
    page.wait_for_selector("#sat-item:not([hidden])")
    n = 0
    while page.is_visible("#sat-item"):
        text = page.text_content("#sat-response")
        page.keyboard.press("y" if _correct(text) or text.startswith("<script>") else "n")
        n += 1
        page.wait_for_function("([sel, n]) => [...document.querySelectorAll(sel)]"
                               ".reduce((s, t) => s + Number(t.textContent), 0) === n",
                               arg=["#sat-progress td.done", n])
    assert n == 16
    page.click("#tab-results")
    page.wait_for_selector("#satisfaction-table tr[data-key='hrlaif/(all)']")
    assert page.text_content("#satisfaction-table tr[data-key='hrlaif/(all)'] td:nth-child(5)") == "100.0%"
    assert page.text_content("#satisfaction-table tr[data-key='sft/(all)'] td:nth-child(5)") == "0.0%"
    assert page.text_content("#satisfaction-table tr[data-key='sft/(all)'] td:nth-child(6)").startswith("[0.0%, ")
    assert page.text_content("#delta-table tr[data-key='hrlaif'] td:nth-child(4)") == "+100.0 pp"
    assert errors == []

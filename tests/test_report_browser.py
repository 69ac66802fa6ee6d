"""report.html in a real browser: headless Debian Chromium driven through chromedriver.

Loads the sample report from file:// and checks: no console error, the inline script runs under
the page's CSP (its hash matches), sorting and filtering work, the page prints (a PDF comes back
and the print stylesheet applies), nothing is fetched from any network, hostile findings stay
inert (no alert, no extra script element), and the page reads with scripts off. Screenshots (en
and zh) are saved under the test's tmp dir and copied to $MINESWEEP_SCREENSHOTS (default
/work/helpers/screenshots when /work/helpers exists).

Needs ``apt-get install chromium chromium-driver`` and ``pip install selenium``; skipped
otherwise. Selenium Manager is never used: the driver path is given explicitly.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import PCAPS
from test_report_html import HOSTILE, _poison, rich_findings

from detector.output.html import render_html, write_html
from detector.scan import scan

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.common.exceptions import NoAlertPresentException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.wait import WebDriverWait  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()),
                                reason="needs Debian chromium and chromium-driver")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-quic", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--hide-scrollbars", "--window-size=1280,1000")
SHOT_W, SHOT_MAX_H = 1280, 16000


def _screenshot_dir() -> Path | None:
    env = os.environ.get("MINESWEEP_SCREENSHOTS")
    if env:
        return Path(env)
    return Path("/work/helpers/screenshots") if Path("/work/helpers").is_dir() else None


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    profile = tempfile.mkdtemp(prefix="minesweep-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    d = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    d.set_page_load_timeout(60)
    try:
        yield d
    finally:
        d.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def findings() -> dict[str, Any]:
    doc = rich_findings(scan([PCAPS]))
    doc["command"] = ["minesweep", "scan", "pcaps", "--out", "out"]
    return doc


@pytest.fixture(scope="module")
def reports(findings: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return {lang: write_html(findings, tmp_path_factory.mktemp(f"report-{lang}"), lang) for lang in ("en", "zh")}


def _open(d: Any, page: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Load ``page``; return its console entries and every URL the browser requested."""
    d.get_log("browser")
    d.get_log("performance")
    d.get(page.as_uri())
    d.execute_script("return document.readyState")
    console = d.get_log("browser")
    urls = []
    for entry in d.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return console, urls


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_loads_offline_without_errors(driver, reports, lang):
    console, urls = _open(driver, reports[lang])
    assert [e for e in console if e["level"] in ("SEVERE", "WARNING")] == []
    assert urls and set(urls) == {reports[lang].as_uri()}  # the page itself, nothing else
    # the inline script ran, so the CSP hash matches it
    assert driver.execute_script("return document.documentElement.classList.contains('js')")
    assert len(driver.find_elements(By.CSS_SELECTOR, "input.filter")) == 3
    assert driver.execute_script("return document.scripts.length") == 2


def _column(d: Any, table_id: str, col: int) -> list[str | None]:
    return d.execute_script(
        "return Array.from(document.querySelectorAll('#' + arguments[0] + ' tbody tr'))"
        ".filter(r => !r.classList.contains('filtered-out'))"
        ".map(r => r.cells[arguments[1]].getAttribute('data-v'))", table_id, col)


def _header(d: Any, table_id: str, col: int) -> Any:
    return d.find_elements(By.CSS_SELECTOR, f"#{table_id} thead th")[col]


def test_sorting_a_column(driver, reports, findings):
    _open(driver, reports["en"])
    col = 6  # hashrate (90 % interval): data-v holds the estimate, empty when not observable
    th = _header(driver, "hosts-table", col)
    th.find_element(By.TAG_NAME, "button").click()
    assert th.get_attribute("aria-sort") == "ascending"
    keys = _column(driver, "hosts-table", col)
    numbers = [float(k) for k in keys if k]
    assert numbers == sorted(numbers) and len(numbers) >= 5
    assert all(not k for k in keys[len(numbers):])  # missing values last
    th.find_element(By.TAG_NAME, "button").click()
    assert th.get_attribute("aria-sort") == "descending"
    numbers = [float(k) for k in _column(driver, "hosts-table", col) if k]
    assert numbers == sorted(numbers, reverse=True)
    # text columns sort too, and IP addresses in numeric order
    ip = _header(driver, "hosts-table", 0)
    ip.find_element(By.TAG_NAME, "button").click()
    order = [int(k) for k in _column(driver, "hosts-table", 0)]
    assert order == sorted(order) and len(order) == len(findings["hosts"])


def test_session_tables_become_sortable_when_seen(driver, reports):
    _open(driver, reports["en"])
    last = driver.find_elements(By.CSS_SELECTOR, "article.host table.sessions")[-1]
    assert last.find_elements(By.CSS_SELECTOR, "th button.sort") == []  # far below: not yet decorated
    driver.execute_script("arguments[0].scrollIntoView()", last)
    WebDriverWait(driver, 10).until(lambda d: last.find_elements(By.CSS_SELECTOR, "th button.sort"))
    port = last.find_elements(By.CSS_SELECTOR, "thead th")[1]
    port.find_element(By.TAG_NAME, "button").click()
    assert port.get_attribute("aria-sort") == "ascending"


def test_filtering_a_table(driver, reports, findings):
    _open(driver, reports["en"])
    box = driver.find_element(By.CSS_SELECTOR, "input.filter[data-table='hosts-table']")
    box.send_keys("finance")
    visible = driver.execute_script(
        "return Array.from(document.querySelectorAll('#hosts-table tbody tr'))"
        ".filter(r => getComputedStyle(r).display !== 'none').map(r => r.cells[0].textContent.trim())")
    assert sorted(visible) == ["10.20.30.41", "10.20.31.17"]
    count = driver.find_element(By.CSS_SELECTOR, "#hosts .filterbar .count").text
    assert count == f"2 of {len(findings['hosts'])} rows shown"
    box.clear()
    box.send_keys(" ")  # whitespace only: every row again
    assert len(_column(driver, "hosts-table", 0)) == len(findings["hosts"])


def test_print_media(driver, reports):
    _open(driver, reports["en"])
    pdf = driver.execute_cdp_cmd("Page.printToPDF", {"printBackground": True, "preferCSSPageSize": True})
    data = base64.b64decode(pdf["data"])
    assert data.startswith(b"%PDF-") and data.count(b"/Type /Page") > 3
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    try:
        style = driver.execute_script(
            "const s = (q, p) => getComputedStyle(document.querySelector(q)).getPropertyValue(p);"
            "return [s('nav', 'display'), s('.filterbar', 'display'), s('#hosts-table tbody tr', 'break-inside'),"
            " s('#units', 'break-before'), s('#hosts-table thead', 'display')];")
        assert style == ["none", "none", "avoid", "page", "table-header-group"]
    finally:
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})


def test_readable_with_scripts_off(driver, reports, findings):
    driver.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": True})
    try:
        driver.get(reports["en"].as_uri())
        rows = driver.find_elements(By.CSS_SELECTOR, "#hosts-table tbody tr")
        assert len(rows) == len(findings["hosts"]) and all(r.is_displayed() for r in rows)
        assert driver.find_elements(By.CSS_SELECTOR, "input.filter") == []
        assert driver.find_element(By.CSS_SELECTOR, "#chart-timeline svg").is_displayed()
        assert "10.20.30.41" in driver.find_element(By.ID, "detail").text
    finally:
        driver.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": False})


def test_hostile_findings_stay_inert_in_the_browser(driver, findings, tmp_path):
    doc = _poison(copy.deepcopy(findings), [0])
    page = tmp_path / "report.html"
    page.write_text(render_html(doc), "utf-8")
    console, urls = _open(driver, page)
    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert.text  # noqa: B018
    assert driver.execute_script("return document.scripts.length") == 2
    assert driver.execute_script("return document.querySelectorAll('img, iframe, object, embed, foreignObject, form').length") == 0
    assert set(urls) == {page.as_uri()}
    assert [e for e in console if e["level"] == "SEVERE"] == []
    assert HOSTILE[0] in driver.find_element(By.TAG_NAME, "body").text


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_screenshots(driver, reports, lang, tmp_path):
    _open(driver, reports[lang])
    height = min(driver.execute_script("return document.documentElement.scrollHeight"), SHOT_MAX_H)
    shots = {}
    for name, clip_h in ((f"report-{lang}-top.png", min(1300, height)), (f"report-{lang}-full.png", height)):
        shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": SHOT_W, "height": clip_h, "scale": 1}})
        path = tmp_path / name
        path.write_bytes(base64.b64decode(shot["data"]))
        assert path.read_bytes().startswith(b"\x89PNG") and path.stat().st_size > 20_000
        shots[name] = path
    target = _screenshot_dir()
    if target is not None:
        target.mkdir(parents=True, exist_ok=True)
        for name, path in shots.items():
            shutil.copyfile(path, target / name)

"""What a person sees: 01_quickstart.ipynb run in JupyterLab, driven through Debian's headless Chromium.

Starts JupyterLab on 127.0.0.1 (random port, token) serving a copy of the notebook,
opens it in Chromium with Playwright (``executable_path``; no browser download),
clicks Run > Run All Cells and watches the page until every cell has run. Then it
checks that the progress widgets reached 100 %, that a result table, at least one
plot image and the audio players rendered, and that no cell failed (in the page and in
the saved file). The library browser (``ws.browse()``): its table renders, typing in its
filter narrows it, and a stem player loads its file through Jupyter's file serving.
A screenshot of the whole notebook goes to ``test-artifacts/``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

import nbformat
import pytest

from .lab import ARTIFACTS, CHROMIUM_FLAGS, browser_required, find_chromium, jupyterlab

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(900)]  # inner bounds fire first

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = "01_quickstart.ipynb"
RUN_ALL_TIMEOUT_S = 480.0  # + JupyterLab start (90 s) + kernel start (90 s) < the test's 900 s

# Installed before the page loads: remember the furthest each progress bar ever got. Stage widgets are
# replaced by their final HTML table when the stage ends, so a bar at 100 % may live only for an instant.
_WATCH_BARS_JS = """(() => {
  const ids = new WeakMap();
  let next = 0;
  window.__sfBars = {};
  const check = (el) => {
    if (!(el instanceof HTMLElement) || !el.classList.contains('progress-bar')) return;
    if (!el.closest('.widget-hprogress')) return;
    if (!ids.has(el)) ids.set(el, next++);
    const id = ids.get(el);
    const width = parseFloat(el.style.width || '0');
    window.__sfBars[id] = Math.max(window.__sfBars[id] || 0, width);
  };
  new MutationObserver((mutations) => {
    for (const m of mutations) {
      if (m.type === 'attributes') check(m.target);
      for (const node of m.addedNodes || []) {
        if (node.querySelectorAll) { check(node); node.querySelectorAll('.progress-bar').forEach(check); }
      }
    }
  }).observe(document, {subtree: true, childList: true, attributes: true, attributeFilter: ['style']});
})();"""

# Read the state of the notebook from the page: prompts, progress bars, errors, renders.
_STATE_JS = """() => {
  const cells = [...document.querySelectorAll('.jp-NotebookPanel .jp-Notebook .jp-CodeCell')];
  const prompts = cells.map(c => (c.querySelector('.jp-InputArea-prompt') || {}).textContent || '');
  const bars = Object.values(window.__sfBars || {});
  const finals = [...document.querySelectorAll('.jp-OutputArea-output .soundforge-run > p')].map(p => p.textContent);
  const errors = [...document.querySelectorAll('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')]
    .map(e => e.textContent).filter(t => /Traceback|Error:/.test(t));
  const tables = document.querySelectorAll('.jp-OutputArea-output table.dataframe, .jp-OutputArea-output table').length;
  const images = [...document.querySelectorAll('.jp-OutputArea-output img')]
    .filter(img => img.complete && img.naturalWidth > 0).length;
  const players = document.querySelectorAll('.jp-OutputArea-output audio').length;
  const status = (document.querySelector('.jp-Notebook-ExecutionIndicator') || {dataset: {}}).dataset.status || '';
  const kernel = (document.querySelector('.jp-NotebookPanel-toolbar .jp-KernelStatus, .jp-Toolbar-kernelStatus')
                  || {title: ''}).title || '';
  return {prompts, bars, finals, errors, tables, images, players, status, kernel};
}"""


def _require_browser() -> str:
    chromium = find_chromium()
    if chromium is None:
        reason = ("Chromium is not installed: run `scripts/install-system.sh chromium` "
                  "(Debian: apt-get install chromium) to run the browser test")
        if browser_required():
            pytest.fail(reason + " (CI / make test never skip it)")
        pytest.skip(reason)
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        if browser_required():
            raise
        pytest.skip("playwright (python) is not installed: pip install -e '.[dev]'")
    return chromium


def _settled(state: dict[str, Any]) -> bool:
    """Nothing is running or queued (``[*]``) and the kernel is idle: Run All finished or stopped at an error."""
    prompts = [p.strip() for p in state["prompts"]]
    return state["status"] == "idle" and not any("*" in p for p in prompts) and any(p != "[ ]:" for p in prompts)


def _run_all(page: Any, *, timeout_s: float) -> tuple[dict[str, Any], dict[int, float]]:
    """Click Run > Run All Cells and poll until the run settles; returns the last state and max % per bar."""
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    best: dict[int, float] = {}
    started = time.monotonic()
    calm = 0
    state: dict[str, Any] = {}
    while time.monotonic() - started < timeout_s:
        state = page.evaluate(_STATE_JS)
        for n, width in enumerate(state["bars"]):
            best[n] = max(best.get(n, 0.0), float(width))
        calm = calm + 1 if _settled(state) else 0
        if calm >= 4:  # settled for 2 s: not a gap between two cells
            return state, best
        if time.monotonic() - started > 60 and all(p.strip() == "[ ]:" for p in state["prompts"]):
            raise AssertionError("Run All Cells started nothing within 60 s")
        page.wait_for_timeout(500)
    raise AssertionError(f"Run All did not finish within {timeout_s:g} s; prompts {state.get('prompts')}, "
                         f"status {state.get('status')!r}")


def _screenshot(page: Any, target: Path) -> None:
    """Photograph the whole notebook: grow the viewport to the notebook's height first."""
    height = page.evaluate("() => { const n = document.querySelector('.jp-NotebookPanel .jp-WindowedPanel-outer')"
                           " || document.querySelector('.jp-NotebookPanel .jp-Notebook');"
                           " return n ? n.scrollHeight : 1000; }")
    page.set_viewport_size({"width": 1400, "height": int(min(max(height + 200, 1000), 16000))})
    page.evaluate("() => document.querySelectorAll('.jp-NotebookPanel .jp-WindowedPanel-outer')"
                  ".forEach(e => { e.scrollTop = 0; })")
    page.wait_for_timeout(500)
    target.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target), full_page=True)


def _check_library_browser(page: Any) -> dict[str, Any]:
    """ws.browse(): the table rendered, filtering narrows it, a stem player's file loads through /files/."""
    widget = page.locator(".soundforge-browse")
    widget.locator("table.soundforge-library").wait_for()
    rows = widget.locator("table.soundforge-library tbody tr").count()
    assert rows == 3, f"the library table shows {rows} rows, not the 3 demo songs"
    box = widget.locator("input[type=text]").first
    box.fill("demo_001")
    page.wait_for_function("() => document.querySelectorAll('.soundforge-browse table.soundforge-library tbody tr')"
                           ".length === 1")
    box.fill("")
    page.wait_for_function("() => document.querySelectorAll('.soundforge-browse table.soundforge-library tbody tr')"
                           ".length === 3")
    player = widget.locator('audio[data-stem="vocals"]').first
    player.wait_for(state="attached")
    src = player.evaluate("a => a.src")
    assert "/files/home/stems/" in src, f"the vocals player does not stream from Jupyter's file serving: {src}"
    loaded = player.evaluate("""a => new Promise(done => {
        a.addEventListener('loadedmetadata', () => done({ok: true, duration: a.duration}), {once: true});
        a.addEventListener('error', () => done({ok: false, error: a.error && a.error.code}), {once: true});
        a.preload = 'metadata'; a.load(); })""")
    assert loaded["ok"], f"the vocals player could not load {src}: {loaded}"
    return {"rows": rows, "vocals_src": src, "vocals_duration_s": loaded["duration"]}


def test_quickstart_runs_in_jupyterlab(tmp_path: Path) -> None:
    chromium = _require_browser()
    from playwright.sync_api import sync_playwright

    root = tmp_path / "lab"
    root.mkdir()
    shutil.copy(REPO / "notebooks" / NOTEBOOK, root / NOTEBOOK)
    # The workspace lies inside the folder JupyterLab serves: the browser's players stream its files (/files/...).
    env = {**os.environ, "SOUNDFORGE_HOME": str(root / "home"), "SOUNDFORGE_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)}
    env.pop("MPLBACKEND", None)  # the kernel's inline backend, as for a person
    shot = ARTIFACTS / "browser" / "01_quickstart.png"

    with jupyterlab(root, state=tmp_path / "state", env=env) as lab, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.add_init_script(_WATCH_BARS_JS)
            page.set_default_timeout(60_000)
            page.goto(lab.lab_url(NOTEBOOK))
            page.wait_for_selector(".jp-NotebookPanel .jp-Notebook .jp-Cell")
            lab.wait_for_kernel(NOTEBOOK)
            try:
                state, best = _run_all(page, timeout_s=RUN_ALL_TIMEOUT_S)
                page.keyboard.press("Control+s")
                page.wait_for_function("() => !document.querySelector('.jp-NotebookPanel .jp-mod-dirty')"
                                       " && !document.querySelector('.lm-TabBar-tab.jp-mod-dirty')")
                browser_checks = _check_library_browser(page)  # after saving: its text box then holds the focus
            finally:
                _screenshot(page, shot)
                print(f"\nscreenshot of the notebook in JupyterLab: {shot}")
        finally:
            browser.close()

    assert not state["errors"], f"cells printed errors: {state['errors']}"
    assert all(p.strip()[1:-2].isdigit() for p in state["prompts"]), f"not every cell ran: {state['prompts']}"
    saved = nbformat.read(str(root / NOTEBOOK), as_version=4)
    failed = [(n, o.get("ename"), o.get("evalue")) for n, c in enumerate(saved.cells)
              for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not failed, f"cells failed: {failed}"
    assert all(c.get("execution_count") for c in saved.cells if c.cell_type == "code"), "some cells did not run"
    assert best, "no progress widget was shown"
    assert all(pct >= 99.9 for pct in best.values()), f"progress bars stopped short of 100 %: {best}"
    # Each stage widget ended as its final table, whose header says every item finished ("3/3 · 3 done ...").
    assert state["finals"], "no stage left its final result table"
    for header in state["finals"]:
        finished, total = re.search(r"(\d+)/(\d+)", header).groups()  # type: ignore[union-attr]
        assert finished == total, f"a stage ended unfinished: {header}"
    assert state["tables"] >= 1, "no result table rendered"
    assert state["images"] >= 1, "no plot image rendered"
    if "ws.play(" in "".join(c.source for c in saved.cells):
        assert state["players"] >= 2, f"audio players for the mix and the stems: {state['players']} rendered"
    assert shot.is_file() and shot.stat().st_size > 10_000
    assert browser_checks["vocals_duration_s"] > 10  # a 15 s demo song's stem
    (shot.with_suffix(".json")).write_text(json.dumps({"state": state, "progress_max": best,
                                                       "browser": browser_checks}, indent=2))

"""`stagesweep report --html`: the page opened in headless Chromium renders (a screenshot that is
not blank), runs its script without an error, fetches nothing, and shows the audit's numbers."""

from __future__ import annotations

import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from PIL import Image

from tests.e2e.world import basic_world, registry_world

pytestmark = [pytest.mark.registry, pytest.mark.prefect, pytest.mark.usefixtures("prefect_api")]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class Cells(HTMLParser):
    """Every ``<td data-field>`` of every ``<table data-table>``, by table, run id and field; and
    the attributes of ``<body>``."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[dict[str, str]]] = {}
        self.body: dict[str, str] = {}
        self._table: str | None = None
        self._row: dict[str, str] | None = None
        self._field: str | None = None
        self.scripts_with_src = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "body":
            self.body = {k: v or "" for k, v in a.items()}
        elif tag == "table" and "data-table" in a:
            self._table = a["data-table"]
            self.tables.setdefault(self._table, [])
        elif tag == "tr" and self._table and "data-run-id" in a:
            self._row = {"run_id": a["data-run-id"]}
        elif tag == "td" and self._row is not None:
            self._field = a.get("data-field")
            self._row[self._field] = ""
        elif (tag in ("script", "img", "iframe") and a.get("src")) or (tag == "link" and a.get("href")):
            self.scripts_with_src += 1

    def handle_data(self, data):
        if self._field and self._row is not None:
            self._row[self._field] += data

    def handle_endtag(self, tag):
        if tag == "td":
            self._field = None
        elif tag == "tr" and self._row is not None:
            self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None


def chromium(*args: str, tmp: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--hide-scrollbars",
            f"--user-data-dir={tmp / 'profile'}",
            "--enable-logging=stderr",
            "--v=0",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def report(git_project, registry, fault_proxy, unique_repo, tmp_path):
    """Audits of a dry run and of a cleanup whose stage deletes failed, and their HTML report."""
    world = registry_world(git_project, registry, unique_repo, tmp_path, host=fault_proxy.host)
    basic_world(world)
    assert world.cleanup("cleanup", "--without-kube", "--dry-run").exit_code == 0
    failing = {s["digest"] for s in world.stages().list_stages().to_pylist()}
    fault_proxy.fail_deletes_matching(lambda path: any(d in path for d in failing), status=500)
    assert world.cleanup("cleanup", "--without-kube").exit_code == 3
    page = tmp_path / "report" / "index.html"
    result = world.cli("report", str(world.audit_dir), "--html", str(page))
    assert result.exit_code == 0, result.output
    return world, page


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (scripts/setup.sh --test installs it)")
def test_html_report_renders_in_chromium_without_errors_and_shows_the_audits_numbers(report, tmp_path):
    world, page = report
    shot = tmp_path / "shot.png"
    taken = chromium(f"--screenshot={shot}", "--window-size=1200,1600", page.as_uri(), tmp=tmp_path)
    assert shot.exists(), taken.stderr
    for needle in ("Uncaught", ":CONSOLE", "ERR_FILE_NOT_FOUND", "ERR_NAME_NOT_RESOLVED"):
        assert needle not in taken.stderr, taken.stderr
    image = Image.open(shot).convert("RGB")
    pixels = list(image.resize((300, 400)).getdata())
    inked = sum(1 for p in pixels if p != (255, 255, 255)) / len(pixels)
    assert inked > 0.05 and len(set(pixels)) > 50  # text, tables and coloured bars, not a blank page

    dumped = chromium("--dump-dom", page.as_uri(), tmp=tmp_path)
    assert dumped.returncode == 0, dumped.stderr
    dom = Cells()
    dom.feed(dumped.stdout)
    assert dom.body.get("data-rendered") == "yes"  # the inline script ran to its end
    assert "data-errors" not in dom.body
    assert dom.scripts_with_src == 0  # nothing loaded from elsewhere
    assert dumped.stdout.count("<svg") >= 4

    audits = {pq.read_table(p).column("run_id")[0].as_py(): pq.read_table(p).to_pylist() for p in world.audits()}
    runs = {r["run_id"]: r for r in dom.tables["runs"]}
    assert set(runs) == set(audits)
    for run_id, rows in audits.items():
        shown = runs[run_id]
        for outcome in ("deleted", "would-delete", "kept", "failed"):
            assert int(shown[outcome.replace("-", "_")]) == sum(r["outcome"] == outcome for r in rows), outcome
        assert int(shown["reclaimable_bytes"]) == sum(r["reclaimable_bytes"] or 0 for r in rows)
    images = [r for r in dom.tables["images"] if r["image_name"] == "app"]
    for row in images:
        rows = audits[row["run_id"]]
        tags = [r for r in rows if r["item_type"] == "image-tag"]
        assert int(row["tags_before"]) == len(tags)
        assert int(row["tags_after"]) == sum(r["outcome"] not in ("deleted", "would-delete") for r in tags)
    failed_tags = {r["tag"] for rows in audits.values() for r in rows if r["outcome"] == "failed"}
    assert failed_tags and {r["tag"] for r in dom.tables["failures"]} == failed_tags
    assert "garbage collection" in dumped.stdout

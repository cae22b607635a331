"""Small HTML building blocks shared by the reports: one self-contained page, no scripts.

Everything that came from a run (instance ids, model names, reasons, paths) is text, and is
escaped where it enters the page: :func:`esc` for content and attribute values, :func:`href`
for links. Pre-built markup is passed as :class:`Raw`, so a forgotten escape is the
exception one can grep for, not the default.
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from urllib.parse import quote


class Raw(str):
    """Markup that is already safe (built here from escaped parts)."""


def esc(value) -> str:
    """Text as HTML content or a quoted attribute value."""
    return value if isinstance(value, Raw) else html.escape("" if value is None else str(value), quote=True)


def href(target: Path | str, base: Path) -> str:
    """A link to ``target`` relative to the page's folder ``base`` (the page keeps working
    when runs and page move together), percent-encoded and escaped for an attribute."""
    rel = os.path.relpath(Path(target).resolve(), Path(base).resolve())
    return esc(quote(Path(rel).as_posix(), safe="/._-~"))


def link(target: Path | str | None, text: str, base: Path, missing: str = "—") -> Raw:
    """``<a>`` to a file next to the page, or ``missing`` (muted) when there is none."""
    if not target:
        return Raw(f'<span class="muted">{esc(missing)}</span>')
    return Raw(f'<a href="{href(target, base)}">{esc(text)}</a>')


def anchor(key: str, n: int) -> str:
    """An id attribute value for row ``n``: readable, unique, safe whatever ``key`` holds."""
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", key).strip("-")[:60]
    return f"r{n}-{slug}" if slug else f"r{n}"


def table(headers: Sequence[str], rows: Iterable[Sequence], *, cls: str = "", row_cls: Sequence[str] = ()) -> Raw:
    """A table; cells are escaped unless they are :class:`Raw`."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        rc = row_cls[i] if i < len(row_cls) else ""
        attr = f' class="{esc(rc)}"' if rc else ""
        body.append(f"<tr{attr}>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>")
    return Raw(f'<table class="{esc(cls)}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>')


def figure(title: str, uri: str, caption: str = "") -> Raw:
    cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    return Raw(f'<figure><img alt="{esc(title)}" src="{esc(uri)}">{cap}</figure>')


def section(title: str, body: str, *, sid: str = "", note: str = "") -> Raw:
    note_html = f'<p class="note">{esc(note)}</p>' if note else ""
    return Raw(f'<section id="{esc(sid)}"><h2>{esc(title)}</h2>{note_html}{body}</section>')


CSS = """
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2328;margin:0;background:#f6f8fa}
header{background:#24292f;color:#fff;padding:18px 32px}
header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;color:#c9d1d9}
main{padding:8px 32px 40px;max-width:1400px}
section{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:12px 18px;margin:16px 0}
.scroll{overflow-x:auto}
h2{font-size:16px;margin:4px 0 10px}
.note{color:#57606a;margin:0 0 10px}
.muted{color:#8c959f}
table{border-collapse:collapse;font-size:13px}
th,td{padding:5px 10px;border-bottom:1px solid #eaeef2;text-align:left;vertical-align:top}
th{background:#f6f8fa;position:sticky;top:0}
table.matrix,table.runs,table.diffs{width:100%}
table.matrix td:first-child{width:22%}table.matrix td:nth-child(2){width:1%;white-space:nowrap}
.cards{display:flex;flex-wrap:wrap;gap:12px}
.card{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:10px 16px;min-width:210px}
.card .big{font-size:28px;font-weight:600}
.card .sub{color:#57606a;font-size:12px}
.figs{display:grid;grid-template-columns:repeat(auto-fill,minmax(380px,1fr));gap:16px;align-items:start}
figure{margin:0}
figure img{max-width:100%;height:auto;border:1px solid #eaeef2;border-radius:6px}
figcaption{color:#57606a;font-size:12px;max-width:640px}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;color:#fff;font-size:12px;font-weight:600}
.cell .counts{color:#57606a;font-size:12px;white-space:nowrap}
.cell .links a{font-size:12px;margin-right:6px}
.cell .why{color:#57606a;font-size:11px;max-width:260px;overflow-wrap:anywhere}
tr.differs td:first-child{border-left:3px solid #bf8700}
code,.id{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12px;overflow-wrap:anywhere}
.gained{color:#1a7f37}.lost{color:#cf222e}
.kv{display:inline-block;margin:0 10px 2px 0;overflow-wrap:anywhere}.kv .k{color:#57606a}
table.runs td:nth-child(4){max-width:420px}
.legend{display:inline-block;margin:0 12px 4px 0}
.cell .links span{font-size:12px;margin-right:6px}
"""


def page(title: str, subtitle: str, sections: Iterable[str]) -> str:
    """The whole document: header, then the sections in order."""
    return ("<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width,initial-scale=1'>"
            f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
            f"<header><h1>{esc(title)}</h1><p>{esc(subtitle)}</p></header><main>"
            + "".join(sections) + "</main></body></html>")

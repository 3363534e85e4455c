"""The read models as terminal tables: the notice × channel matrix, counts, landings, a year."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from rich import box
from rich.console import Group
from rich.markup import escape
from rich.table import Table

from .audit.consistency import NoticeAudit
from .audit.disclosure import Disclosure
from .readmodels import ChannelHealth, DeliveryEntry, StatusMatrix, YearReport
from .rendering import DISPLAY_TZ
from .store.base import DeliveryState, Purpose

CELL = {
    DeliveryState.delivered: "[green]delivered[/]",
    DeliveryState.pending: "[yellow]pending[/]",
    DeliveryState.in_flight: "[cyan]in flight[/]",
    DeliveryState.failed: "[red]failed[/]",
    DeliveryState.dead: "[bold red]dead[/]",
    DeliveryState.superseded: "[dim]superseded[/]",
    DeliveryState.cancelled: "[dim]cancelled[/]",
}
SYMBOL = {
    DeliveryState.delivered: "[green]✔[/]",
    DeliveryState.pending: "[yellow]…[/]",
    DeliveryState.in_flight: "[cyan]→[/]",
    DeliveryState.failed: "[red]✘[/]",
    DeliveryState.dead: "[bold red]☠[/]",
    DeliveryState.superseded: "[dim]↷[/]",
    DeliveryState.cancelled: "[dim]⊘[/]",
}
LEGEND = (
    "✔ delivered  … pending  → in flight  ✘ failed  ☠ dead  ↷ superseded  ⊘ cancelled"
    "  (n) attempts  — not routed"
)

FULL_CELL = 13  # "delivered (9)", "in flight (2)"
COMPACT_CELL = 6  # "… (12)"
MIN_TITLE = 10


def matrix(status: StatusMatrix, width: int) -> Table:
    """Notices down, channels across, every channel shown within ``width`` columns.

    Channel names head the columns when they fit; otherwise the cells become
    symbols under numbered columns (the caption says which is which), and the
    title gives way before any channel does.
    """
    channels = status.channels
    refs = [f"{r.id}.v{r.version}" for r in status.rows]
    notice_w = max([len("notice"), *map(len, refs)])

    def fits(cell_widths: list[int], title: int) -> bool:
        columns = [notice_w, title, *cell_widths] if title else [notice_w, *cell_widths]
        return sum(columns) + 3 * len(columns) + 1 <= width

    full = [max(FULL_CELL, len(ch)) for ch in channels]
    compact = not fits(full, MIN_TITLE)
    cells = [COMPACT_CELL] * len(channels) if compact else full
    spare = width - (sum([notice_w, *cells]) + 3 * (len(cells) + 2) + 1)
    show_title = spare >= MIN_TITLE
    key = [f"{i} {ch}" for i, ch in enumerate(channels, 1)]
    caption = "\n".join(_wrap([*key, ""], width) + _wrap(LEGEND.split("  "), width))
    table = Table(title="deliveries", caption=escape(caption) if compact else None)
    table.add_column("notice", no_wrap=True, min_width=notice_w)
    if show_title:
        table.add_column("title", max_width=min(spare, 40), overflow="ellipsis", no_wrap=True)
    for i, ch in enumerate(channels, 1):
        if compact:
            table.add_column(str(i), justify="center", no_wrap=True, min_width=COMPACT_CELL)
        else:
            table.add_column(ch, no_wrap=True, min_width=len(ch))
    for ref, row in zip(refs, status.rows, strict=True):
        shown = []
        for ch in channels:
            cell = row.cells.get(ch)
            if cell is None:
                shown.append("[dim]—[/]")
                continue
            text = (SYMBOL if compact else CELL)[cell.state]
            # A set-aside delivery's attempts say nothing now; "superseded (2)" would not fit.
            if (
                cell.state is not DeliveryState.delivered
                and not cell.state.set_aside
                and cell.attempts
            ):
                text += f" ({cell.attempts})"
            shown.append(text)
        first = [escape(ref), escape(row.title)] if show_title else [escape(ref)]
        table.add_row(*first, *shown)
    return table


def _wrap(items: list[str], width: int) -> list[str]:
    """Items two spaces apart, as many to a line as ``width`` holds; an empty item ends a line."""
    lines: list[str] = []
    line = ""
    for item in items:
        if not item:
            lines.append(line)
            line = ""
        elif line and len(line) + 2 + len(item) > width:
            lines.append(line)
            line = item
        else:
            line = f"{line}  {item}" if line else item
    if line:
        lines.append(line)
    return lines


def counts_table(status: StatusMatrix) -> Table:
    # Seven states and the channel's name fit 80 columns only without the vertical rules;
    # a name or a state cut to "hall-sc…" or "supers…" would say nothing.
    table = Table(title="by channel", box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 0))
    table.add_column("channel", no_wrap=True, min_width=max(map(len, status.channels), default=7))
    for st in DeliveryState:
        word = st.value.replace("_", " ")
        table.add_column(word, justify="right", min_width=max(map(len, word.split())))
    for ch in status.channels:
        by_state = status.counts.get(ch, {})
        table.add_row(ch, *[str(by_state.get(st, 0)) for st in DeliveryState])
    return table


def landings(rows: Sequence[DeliveryEntry]) -> Table:
    """Where each delivery landed: the URL, remote path, Message-ID or feed file.

    A withdrawal or an expiry (taking the notice down) is marked beside its channel,
    so it is not read as the publication twice.
    """
    table = Table(title="where each delivery landed")
    table.add_column("notice", no_wrap=True)
    table.add_column("channel", no_wrap=True)
    table.add_column("state")
    table.add_column("landed at / reason", overflow="fold")
    for r in rows:
        where = r.remote_url or r.remote_id or r.last_error or ""
        channel = r.channel if r.purpose is Purpose.publish else f"{r.channel} · {r.purpose}"
        table.add_row(f"{escape(r.notice_id)}.v{r.version}", channel, CELL[r.state], escape(where))
    return table


def yearly(report: YearReport) -> Table:
    """The year's publications: notices by category, and what each channel carried."""
    table = Table(title=f"{report.year}: published notices by category and channel")
    table.add_column("category")
    for ch in report.channels:
        table.add_column(ch, justify="right")
    table.add_column("notices", justify="right", style="bold")
    for category, label in report.categories:
        by_channel = report.delivered.get(category, {})
        cells = [str(by_channel.get(ch, 0)) for ch in report.channels]
        table.add_row(f"{label} {category}", *cells, str(report.notices.get(category, 0)))
    totals = [str(report.channel_total(ch)) for ch in report.channels]
    table.add_row("[bold]total[/]", *totals, str(report.total_notices), end_section=True)
    return table


def _approval_lines(audit: NoticeAudit) -> list[str]:
    trail = audit.approval
    if trail is None:
        return ["approval: not needed (no approval steps configured for it when accepted)"]
    lines = [f"approval: {' → '.join(escape(s) for s in trail.steps)} — {trail.state.value}"]
    for d in trail.decisions:
        when = datetime.fromtimestamp(d.at, DISPLAY_TZ).strftime("%Y-%m-%d %H:%M:%S")
        seen = "[green]this digest[/]" if d.digest == audit.digest else "[red]ANOTHER digest[/]"
        comment = f" — {escape(d.comment)}" if d.comment else ""
        via = f" (via {escape(d.via)})" if d.via else ""
        lines.append(
            f"  {escape(d.step)}: {d.decision.value} by {escape(d.approver)}{via} at {when}, "
            f"{seen} {d.digest[:16]}…{comment}"
        )
    if trail.pending_step is not None:
        lines.append(f"  awaiting {escape(trail.pending_step)}")
    return lines


def audit_view(audit: NoticeAudit) -> Group:
    """The consistency report: the canonical notice, then every channel against it."""
    digest = "[green]matches its content[/]" if audit.digest_matches else "[red]DOES NOT match[/]"
    head = [
        f"[bold]{escape(audit.notice_id)}.v{audit.version}[/] {escape(audit.title)}",
        f"canonical digest {audit.digest} — {digest}",
        *_approval_lines(audit),
        "key facts: " + "; ".join(f"{f.label} {escape(f.value)}" for f in audit.facts),
    ]
    table = Table(title="per channel")
    for column in ("channel", "state", "payload sha256", "receipt", "facts", "verdict"):
        table.add_column(column, overflow="fold")
    for c in audit.channels:
        checked = [f for f in c.facts if f.found is not None]
        found = sum(1 for f in checked if f.found)
        facts = f"{found}/{len(checked)}" if checked else "—"
        verdict = "[green]same[/]" if c.consistent else "[red]differs[/]"
        table.add_row(
            c.channel,
            f"{c.state} v{c.version}",
            (c.payload_sha256 or "—")[:16],
            escape(c.remote_url or c.remote_id or "—"),
            facts,
            verdict,
        )
    lines: list[str] = []
    for c in audit.channels:
        lines += [f"[red]{c.channel}:[/] {escape(d)}" for d in c.differences]
        lines += [f"[yellow]{c.channel}:[/] {escape(n)}" for n in c.notes]
    verdict = (
        "[green]consistent: every channel carries the canonical notice's key facts[/]"
        if audit.consistent
        else "[red]inconsistent: see above[/]"
    )
    return Group(*head, table, *lines, verdict)


def disclosure(figures: Disclosure) -> Table:
    """Corrections, terminations, withdrawals and approvals: the rest of the yearly figures."""
    table = Table(title=f"{figures.year}: changes and approvals")
    table.add_column("figure")
    table.add_column("count", justify="right")
    for row in figures.rows():
        if row[0] in ("changes", "approvals"):
            table.add_row(f"{row[2]} {row[1]}", row[3] or "[dim]not recorded[/]")
    return table


def health(report: ChannelHealth) -> Table:
    """One line per channel: whether it takes deliveries, its backlog and recent record."""
    table = Table(title="channels")
    table.add_column("channel", no_wrap=True)
    table.add_column("state", no_wrap=True)
    table.add_column("circuit", no_wrap=True)
    table.add_column("backlog", justify="right")
    table.add_column("oldest", justify="right")
    table.add_column("ok 1h", justify="right")
    table.add_column("ok 24h", justify="right")
    for ch in report.channels:
        if not ch.enabled:
            state = "[dim]disabled[/]"
        elif ch.paused:
            state = "[yellow]paused[/]"
        else:
            state = "[green]running[/]"
        circuit = ch.circuit.state.replace("_", "-")
        if circuit != "closed":
            circuit = f"[bold red]{circuit}[/]"
        table.add_row(
            ch.name,
            state,
            circuit,
            str(ch.backlog),
            _age(ch.oldest_pending_age),
            _rate(ch.last_hour.rate),
            _rate(ch.last_day.rate),
        )
    return table


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m")):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"


def _rate(rate: float | None) -> str:
    return "—" if rate is None else f"{rate:.0%}"

"""Tables people read: the notice × channel matrix, counts, where deliveries landed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from rich.markup import escape
from rich.table import Table

from .store.base import DeliveryRow, DeliveryState

CELL = {
    DeliveryState.delivered: "[green]delivered[/]",
    DeliveryState.pending: "[yellow]pending[/]",
    DeliveryState.in_flight: "[cyan]in flight[/]",
    DeliveryState.failed: "[red]failed[/]",
    DeliveryState.dead: "[bold red]dead[/]",
}


@dataclass
class NoticeLine:
    """One row of the matrix: a notice version and its deliveries by channel."""

    id: str
    version: int
    title: str
    category: str
    cells: dict[str, DeliveryRow] = field(default_factory=dict)


def group(rows: Sequence[DeliveryRow]) -> list[NoticeLine]:
    lines: dict[tuple[str, int], NoticeLine] = {}
    for r in rows:
        key = (r.notice_id, r.notice_version)
        line = lines.get(key)
        if line is None:
            line = lines[key] = NoticeLine(r.notice_id, r.notice_version, r.title, r.category)
        line.cells[r.channel] = r
    return list(lines.values())


SYMBOL = {
    DeliveryState.delivered: "[green]✔[/]",
    DeliveryState.pending: "[yellow]…[/]",
    DeliveryState.in_flight: "[cyan]→[/]",
    DeliveryState.failed: "[red]✘[/]",
    DeliveryState.dead: "[bold red]☠[/]",
}
LEGEND = "✔ delivered  … pending  → in flight  ✘ failed  ☠ dead  (n) attempts  — not routed"


def matrix(lines: Sequence[NoticeLine], channels: Sequence[str], *, compact: bool = False) -> Table:
    """Notices down, channels across; ``compact`` cells are symbols (see LEGEND)."""
    key = "  ".join(f"{i} {ch}" for i, ch in enumerate(channels, 1))
    table = Table(title="deliveries", caption=f"{key}\n{LEGEND}" if compact else None)
    table.add_column("notice", no_wrap=True)
    table.add_column("title", max_width=28, overflow="ellipsis", no_wrap=True)
    for i, ch in enumerate(channels, 1):
        if compact:
            table.add_column(str(i), justify="center", no_wrap=True)
        else:
            table.add_column(ch, no_wrap=True)
    for line in lines:
        cells = []
        for ch in channels:
            row = line.cells.get(ch)
            if row is None:
                cells.append("[dim]—[/]")
                continue
            text = (SYMBOL if compact else CELL)[row.state]
            if row.state is not DeliveryState.delivered and row.attempts:
                text += f" ({row.attempts})"
            cells.append(text)
        table.add_row(f"{escape(line.id)}.v{line.version}", escape(line.title), *cells)
    return table


def counts_table(counts: dict[tuple[str, DeliveryState], int], channels: Sequence[str]) -> Table:
    table = Table(title="by channel")
    table.add_column("channel")
    for st in DeliveryState:
        table.add_column(st.value.replace("_", " "), justify="right")
    for ch in channels:
        table.add_row(ch, *[str(counts.get((ch, st), 0)) for st in DeliveryState])
    return table


def landings(rows: Sequence[DeliveryRow]) -> Table:
    """Where each delivery landed: the URL, remote path, Message-ID or feed file."""
    table = Table(title="where each delivery landed")
    table.add_column("notice", no_wrap=True)
    table.add_column("channel", no_wrap=True)
    table.add_column("state")
    table.add_column("landed at / reason", overflow="fold")
    for r in rows:
        where = r.remote_url or r.remote_id or r.last_error or ""
        table.add_row(
            f"{escape(r.notice_id)}.v{r.notice_version}", r.channel, CELL[r.state], escape(where)
        )
    return table


def yearly(
    year: int,
    categories: Mapping[str, str],
    channels: Sequence[str],
    delivered: Mapping[tuple[str, str], int],
    notices: Mapping[str, int],
) -> Table:
    """The year's publications: notices by category, and what each channel carried."""
    table = Table(title=f"{year}: published notices by category and channel")
    table.add_column("category")
    for ch in channels:
        table.add_column(ch, justify="right")
    table.add_column("notices", justify="right", style="bold")
    for category, label in categories.items():
        cells = [str(delivered.get((category, ch), 0)) for ch in channels]
        table.add_row(f"{label} {category}", *cells, str(notices.get(category, 0)))
    totals = [str(sum(delivered.get((c, ch), 0) for c in categories)) for ch in channels]
    table.add_row("[bold]total[/]", *totals, str(sum(notices.values())), end_section=True)
    return table


def prometheus(
    counts: Mapping[tuple[str, DeliveryState], int],
    circuits: Mapping[str, str],
    channels: Sequence[str],
) -> str:
    """The ledger's state in Prometheus' text format, for a textfile collector."""

    def label(value: str) -> str:
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

    lines = [
        "# HELP syndicate_deliveries Deliveries in the ledger, by channel and state.",
        "# TYPE syndicate_deliveries gauge",
    ]
    for ch in channels:
        for state in DeliveryState:
            n = counts.get((ch, state), 0)
            lines.append(f'syndicate_deliveries{{channel="{label(ch)}",state="{state.value}"}} {n}')
    lines += [
        "# HELP syndicate_circuit_open 1 while the channel's circuit breaker is open or probing.",
        "# TYPE syndicate_circuit_open gauge",
    ]
    for ch in channels:
        is_open = int(circuits.get(ch, "closed") != "closed")
        lines.append(f'syndicate_circuit_open{{channel="{label(ch)}"}} {is_open}')
    return "\n".join(lines) + "\n"

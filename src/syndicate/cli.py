"""The ``syndicate`` command: a thin face over the engine.

Exit codes:
  0  success
  1  input refused: a notice, a check that found problems, a nothing-to-replay
  2  usage error (unknown option, missing argument)
  3  configuration error (channels.yaml cannot be used)
  4  ledger error (cannot open, locked, full, written by a newer syndicate)
  130 interrupted
"""

from __future__ import annotations

import asyncio
import csv
import json
import logging
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from datetime import datetime
from functools import wraps
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from . import eventloop, tables
from .adapter import Adapter
from .config import CONFIG_ENV, DEFAULT_CONFIG, load_config, parse_duration
from .errors import ConfigError, NoticeError, QueryError, StoreError, SyndicateError
from .intake import Source, file_sources, read_notice_file, stdin_sources
from .masking import Masker
from .notice import Notice, notice_schema
from .readmodels import ATTEMPT_FIELDS, RunTally, iso
from .registry import AdapterRegistry
from .rendering import DISPLAY_TZ
from .rules import describe as describe_rules
from .safefile import write_atomic
from .safeout import csv_cell, json_text, terminal_text
from .store.base import AttemptFilter, Decided, DeliveryState, Outcome
from .syndicator import Syndicator, build_adapter

EXIT_REFUSED = 1
EXIT_CONFIG = 3
EXIT_STORE = 4
EXIT_UNDELIVERED = 5
EXIT_INTERRUPTED = 130

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

P = ParamSpec("P")
R = TypeVar("R")


def _fail(message: str, code: int) -> None:
    err.print(f"[red]error:[/] {message}", markup=True)
    sys.exit(code)


def friendly(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn every error a user can cause into one clear line and an exit code."""

    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        if os.environ.get("SYNDICATE_DEBUG"):
            try:
                return fn(*args, **kwargs)
            except Exception:
                # The whole traceback, for a bug report; secrets in it masked all the same.
                sys.stderr.write(_mask.mask(traceback.format_exc()))
                sys.exit(1)
        try:
            return fn(*args, **kwargs)
        except ConfigError as exc:
            for problem in exc.problems:
                err.print(f"[red]error:[/] {_escape(str(problem))}")
            sys.exit(EXIT_CONFIG)
        except NoticeError as exc:
            for problem in exc.problems:
                err.print(f"[red]refused:[/] {_escape(str(problem))}")
            sys.exit(EXIT_REFUSED)
        except QueryError as exc:
            for problem in exc.problems:
                err.print(f"[red]error:[/] {_escape(str(problem))}")
            sys.exit(EXIT_REFUSED)
        except StoreError as exc:
            _fail(_escape(str(exc), keep_lines=True), EXIT_STORE)
        except SyndicateError as exc:
            _fail(_escape(str(exc), keep_lines=True), EXIT_REFUSED)
        except KeyboardInterrupt:
            err.print("interrupted")
            sys.exit(EXIT_INTERRUPTED)
        except OSError as exc:
            _fail(_escape(f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": ")), 1)
        raise AssertionError("unreachable")

    return wrapper


def _escape(text: str, *, keep_lines: bool = False) -> str:
    """Text for rich: secrets masked, markup and terminal control sequences shown, not acted on."""
    from rich.markup import escape

    return escape(terminal_text(_mask.mask(text), keep_lines=keep_lines))


_mask = Masker()
"""The configuration's secrets, masked in everything this command prints or logs."""


def _mask_secrets_of(adapters: Iterable[Adapter[Any]]) -> None:
    _mask.add(s for a in adapters for s in a.secrets())
    factory = logging.getLogRecordFactory()
    if getattr(factory, "masks", False):
        return

    def masked(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        record.msg, record.args = _mask.mask(record.getMessage()), None
        return record

    masked.masks = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(masked)


def _masked(value: Any) -> Any:
    return _mask.mask(value) if isinstance(value, str) else value


def _open(ctx: click.Context, *, read_only: bool = False, wait: float = 0.0) -> Syndicator:
    """The configured syndicator; ``read_only`` (status, log, report, metrics) needs no secrets.

    ``wait``: seconds to wait for a ledger server that does not answer yet, saying so on stderr.
    """
    path = ctx.obj["config"]
    syndicator = Syndicator.from_config(
        path,
        registry=ctx.obj["registry"],
        read_only=read_only,
        wait_for_ledger=wait,
        progress=_say_waiting,
    )
    if read_only:
        _mask_secrets_of(
            build_adapter(c) for c in syndicator.config.channels.values() if c.sendable
        )
    else:
        _mask_secrets_of(syndicator.adapters.values())
    ctx.call_on_close(syndicator.close)
    return syndicator


def _say_waiting(text: str) -> None:
    err.print(f"[yellow]{_escape(text)}[/]")


WAIT_FOR_LEDGER = click.option(
    "--wait-for-ledger",
    "wait_for_ledger",
    default=30.0,
    show_default=True,
    type=click.FloatRange(0),
    metavar="SECONDS",
    help="Wait this long for a ledger server that does not answer yet (starting, restarting); "
    "0 fails at once.",
)


# --- the group -----------------------------------------------------------------


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "-c",
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar=CONFIG_ENV,
    default=DEFAULT_CONFIG,
    show_default=True,
    help=f"The channels file (also ${CONFIG_ENV}).",
)
@click.version_option(package_name="syndicate")
@click.pass_context
def main(ctx: click.Context, config: Path) -> None:
    """Publish one canonical notice to every channel that must carry it.

    Upstream systems enqueue notices; `syndicate run` delivers them through
    the channels in channels.yaml, retrying where a channel allows; the ledger
    records every attempt. Start with `syndicate demo`.

    Exit codes: 0 ok, 1 input refused, 2 usage error, 3 configuration
    error, 4 ledger error, 130 interrupted.
    """
    ctx.ensure_object(dict)
    ctx.obj["config"] = config
    ctx.obj["registry"] = AdapterRegistry.from_entry_points()


# --- check ---------------------------------------------------------------------


@main.command()
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def check(ctx: click.Context, file: Path | None) -> None:
    """Validate a channels file (default: --config) and list every problem.

    Exits 0 when the file is valid, 1 otherwise.
    """
    path = file or ctx.obj["config"]
    try:
        config = load_config(path, ctx.obj["registry"])
    except ConfigError as exc:
        for problem in exc.problems:
            out.print(_escape(str(problem)))
        noun = "problem" if len(exc.problems) == 1 else "problems"
        err.print(f"[red]{path}: {len(exc.problems)} {noun}[/]")
        sys.exit(EXIT_REFUSED)
    out.print(
        f"{path}: ok — {len(config.channels)} channels, {len(config.routes)} routes, "
        f"ledger {config.store_url()}"
    )
    if not config.routes:
        out.print(
            "note: no routes, so a notice is refused unless it lists its own channels "
            "(add routes: to send notices by category, type or region)"
        )
    adapters = {name: build_adapter(channel) for name, channel in config.channels.items()}
    _mask_secrets_of(adapters.values())
    for name, channel in config.channels.items():
        state = "" if channel.settings.enabled else " (disabled)"
        adapter = adapters[name]
        out.print(
            f"  {name:<24} {channel.settings.adapter:<12} {_escape(adapter.describe())}{state}"
        )
        for warning in adapter.warnings():
            err.print(f"[yellow]warning:[/] channels.{name}: {_escape(warning)}")


# --- enqueue -------------------------------------------------------------------


def _notice_sources(paths: tuple[str, ...]) -> Iterator[Source]:
    for raw in paths:
        if raw == "-":
            yield from stdin_sources(sys.stdin.buffer)
            continue
        path = Path(raw)
        if not path.exists():
            raise click.BadParameter(f"{raw}: no such file or directory", param_hint="PATHS")
        yield from file_sources(path)


def _in_version_order(sources: list[Source]) -> list[tuple[str, Notice | NoticeError]]:
    """Each source parsed, a notice's versions in ascending order, notices as they came.

    A folder's files sort ``…-correction.json`` before the notice it corrects;
    the ledger refuses a version older than one it holds, so versions go in order.
    """
    parsed: list[tuple[str, Notice | NoticeError]] = []
    for name, data in sources:
        if isinstance(data, NoticeError):
            parsed.append((name, data))
            continue
        try:
            parsed.append((name, Notice.parse(data, source=name)))
        except NoticeError as exc:
            parsed.append((name, exc))
    first: dict[str, int] = {}
    for i, (_, item) in enumerate(parsed):
        if isinstance(item, Notice):
            first.setdefault(item.id, i)

    def key(pair: tuple[int, tuple[str, Notice | NoticeError]]) -> tuple[int, int]:
        i, (_, item) = pair
        return (first[item.id], item.version) if isinstance(item, Notice) else (i, 0)

    return [item for _, item in sorted(enumerate(parsed), key=key)]


@main.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON line per notice.")
@click.pass_context
@friendly
def enqueue(ctx: click.Context, paths: tuple[str, ...], as_json: bool) -> None:
    """Accept notices from FILEs, DIRectories (*.json inside) or - (standard input).

    Each notice is validated, routed and stored with one delivery per channel;
    versions of one notice given together are taken in version order;
    sending the same id and version again is reported as already accepted.
    Exits 1 if any notice was refused; the others are accepted all the same.
    """
    syndicator = _open(ctx)
    sources = list(_notice_sources(paths))
    refused = 0
    show_progress = len(sources) > 20 and not as_json and err.is_terminal
    progress = Progress(
        TextColumn("enqueue"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=not show_progress,
    )
    with progress:
        task = progress.add_task("enqueue", total=len(sources))
        for name, parsed in _in_version_order(sources):
            try:
                if isinstance(parsed, NoticeError):
                    raise parsed
                accepted = syndicator.enqueue(parsed)
            except NoticeError as exc:
                refused += 1
                if as_json:
                    out.print_json(
                        json.dumps(
                            {
                                "source": name,
                                "status": "refused",
                                "problems": [str(p) for p in exc.problems],
                            },
                            ensure_ascii=False,
                        )
                    )
                else:
                    for problem in exc.problems:
                        text = str(problem)
                        if not text.startswith(name):
                            text = f"{name}: {text}"
                        err.print(f"[red]refused:[/] {_escape(text)}")
            else:
                if as_json:
                    out.print(
                        json.dumps(
                            {
                                "source": name,
                                "status": accepted.status,
                                "id": accepted.notice_id,
                                "version": accepted.version,
                                "digest": accepted.digest,
                                "channels": accepted.channels,
                                "warnings": accepted.warnings,
                                "awaiting_approval": list(accepted.approval_steps),
                            },
                            ensure_ascii=False,
                        )
                    )
                elif not show_progress:
                    out.print(
                        f"{accepted.status:<16} {accepted.notice_id}.v{accepted.version} → "
                        f"{', '.join(accepted.channels)}"
                    )
                    if accepted.awaiting_approval:
                        steps = " → ".join(accepted.approval_steps)
                        out.print(
                            f"{'':<16} awaiting approval: {_escape(steps)} "
                            f"(digest {accepted.digest})"
                        )
                for warning in accepted.warnings:
                    err.print(f"[yellow]warning:[/] {name}: {_escape(warning)}")
            progress.advance(task)
    if not as_json:
        err.print(f"{len(sources) - refused} accepted, {refused} refused")
    if refused:
        sys.exit(EXIT_REFUSED)


# --- run -------------------------------------------------------------------------


@main.command()
@click.option("--once", is_flag=True, help="Deliver what is due now, then exit.")
@click.option("-q", "--quiet", is_flag=True, help="Print only the summary.")
@click.option(
    "--processes",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Worker processes on this machine, sharing the ledger (one per core uses them all).",
)
@click.option(
    "--share",
    default=1,
    type=click.IntRange(1, 64),
    hidden=True,
    help="This worker takes 1/N of each channel's concurrency (set by --processes).",
)
@WAIT_FOR_LEDGER
@click.pass_context
@friendly
def run(
    ctx: click.Context,
    once: bool,
    quiet: bool,
    processes: int,
    share: int,
    wait_for_ledger: float,
) -> None:
    """Run the worker: claim due deliveries and send them.

    SIGINT or SIGTERM stop it cleanly: attempts in flight finish within the
    grace period (worker.grace), the rest are recorded as interrupted and
    released for the next worker. A ledger server that does not answer yet is
    waited for (--wait-for-ledger), then the error is one line, exit 4.
    With --processes N, N workers share the ledger through their leases; a
    signal to this process stops them all, each draining as one worker does.
    """
    from .dispatcher import AttemptEvent

    if processes > 1:
        from .processes import supervise

        load_config(ctx.obj["config"], ctx.obj["registry"])  # one clear error, not N
        flags = [*(["--once"] if once else []), *(["--quiet"] if quiet else [])]
        flags += ["--wait-for-ledger", f"{wait_for_ledger:g}", "--share", str(processes)]
        sys.exit(supervise(ctx.obj["config"], processes, flags))

    syndicator = _open(ctx, wait=wait_for_ledger)
    tally = RunTally()

    def show(event: AttemptEvent) -> None:
        tally(event)
        if quiet:
            return
        c = event.claim
        what = f"{c.notice_id}.v{c.notice_version} → {c.channel}"
        if event.outcome is Outcome.delivered:
            where = _where(event.remote_id, event.remote_url) or event.message
            out.print(f"[green]delivered[/] {_escape(what)}  {_escape(where)}")
        elif event.state is DeliveryState.pending and event.next_at is not None:
            wait = max(0.0, event.next_at - time.time())
            out.print(f"[yellow]retry in {wait:.0f}s[/] {_escape(what)}  {_escape(event.message)}")
        else:
            out.print(f"[red]{event.state.value}[/] {_escape(what)}  {_escape(event.message)}")

    def started(worker: str) -> None:
        if not once and not quiet:
            err.print(f"worker {worker} running; Ctrl-C stops it")

    async def go() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await syndicator.run_async(
            once=once, stop=stop, listener=show, started=started, share=share
        )
        if stop.is_set():
            err.print("stopped")

    eventloop.run(go())
    summary = tally.summary()
    err.print(str(summary))
    ended_badly = summary.deliveries.get(DeliveryState.failed, 0) + summary.deliveries.get(
        DeliveryState.dead, 0
    )
    if once and ended_badly:
        # For cron: a run that gave deliveries up says so in its exit status.
        err.print(f"{ended_badly} deliveries ended failed or dead; `syndicate log` says why")
        sys.exit(EXIT_UNDELIVERED)


# --- status ----------------------------------------------------------------------


@main.command()
@click.option("--notice", "notice_id", help="Only this notice id.")
@click.option("--channel", help="Only this channel.")
@click.option("--json", "as_json", is_flag=True, help="The matrix as JSON.")
@click.option("--limit", default=50, show_default=True, help="Most recent notices shown.")
@click.pass_context
@friendly
def status(
    ctx: click.Context, notice_id: str | None, channel: str | None, as_json: bool, limit: int
) -> None:
    """Show the notice × channel matrix and the counts by channel and state.

    --notice takes ID (every version) or ID.vN, as the other commands print it.
    """
    syndicator = _open(ctx, read_only=True)
    status = syndicator.status_matrix(notice=notice_id, channel=channel, limit=limit)
    if as_json:
        text = json.dumps(status.as_dict(), ensure_ascii=False, indent=2)
        sys.stdout.write(json_text(_mask.mask(text)) + "\n")
        return
    for a in status.awaiting:
        since = datetime.fromtimestamp(a.since, DISPLAY_TZ).strftime("%Y-%m-%d %H:%M")
        out.print(
            f"[yellow]awaiting approval:[/] {_escape(a.id)}.v{a.version} {_escape(a.title)} — "
            f"step {_escape(a.step)} ({a.steps.index(a.step) + 1}/{len(a.steps)}) since {since}, "
            f"digest {a.digest}"
        )
    if not status.rows:
        out.print("the ledger holds no deliveries yet")
    else:
        out.print(tables.matrix(status, out.width))
        if status.more:
            out.print("[dim]older notices are not shown (--limit)[/]")
        out.print(tables.counts_table(status))
    for c in status.circuits:
        if c.state == "closed":
            continue
        when = (
            datetime.fromtimestamp(c.reopens_at, DISPLAY_TZ).strftime("%H:%M:%S")
            if c.reopens_at
            else "now"
        )
        out.print(
            f"[bold red]circuit {c.state.replace('_', '-')}:[/] {c.channel} — "
            f"{c.failures} transient failures in a row; next probe at {when}"
        )


# --- approve, reject ----------------------------------------------------------------


def _decision_options(fn: Callable[P, R]) -> Callable[P, R]:
    for option in reversed(
        [
            click.argument("notice_id"),
            click.option("--version", type=click.IntRange(1), required=True, help="The version."),
            click.option("--step", required=True, help="The step decided, e.g. 科室负责人."),
            click.option("--by", "by", required=True, help="Who decides (a name)."),
            click.option(
                "--digest",
                required=True,
                help="The canonical digest of the content the approver saw "
                "(enqueue, status, audit and the dashboard print it).",
            ),
        ]
    ):
        fn = option(fn)
    return fn


def _decided(decided: Decided) -> None:
    a, trail = decided.approval, decided.trail
    what = f"{a.step} {a.decision.value} by {_escape(a.approver)}"
    if decided.channels:
        out.print(f"{what}; approved: delivering to {', '.join(decided.channels)}")
    elif trail.pending_step is not None:
        out.print(f"{what}; awaiting {_escape(trail.pending_step)}")
    else:
        out.print(f"{what}; the version will not be delivered")


@main.command()
@_decision_options
@click.option("--comment", help="A comment kept with the approval.")
@click.pass_context
@friendly
def approve(
    ctx: click.Context,
    notice_id: str,
    version: int,
    step: str,
    by: str,
    digest: str,
    comment: str | None,
) -> None:
    """Approve STEP of NOTICE_ID's version: the last step sends it to its channels.

    --digest must be the digest of the content the approver saw: an approval
    counts only for that content. Steps are decided in order, each once.
    """
    syndicator = _open(ctx, read_only=True)
    _decided(syndicator.approve(notice_id, version, step, by=by, digest=digest, comment=comment))


@main.command()
@_decision_options
@click.option("--reason", required=True, help="Why it is rejected (kept in the ledger).")
@click.pass_context
@friendly
def reject(
    ctx: click.Context,
    notice_id: str,
    version: int,
    step: str,
    by: str,
    digest: str,
    reason: str,
) -> None:
    """Reject NOTICE_ID's version at STEP: it is never delivered (send a new version)."""
    syndicator = _open(ctx, read_only=True)
    _decided(syndicator.reject(notice_id, version, step, by=by, digest=digest, reason=reason))


# --- channels, pause, resume --------------------------------------------------------


@main.command()
@click.option("--json", "as_json", is_flag=True, help="The channels' health as JSON.")
@click.pass_context
@friendly
def channels(ctx: click.Context, as_json: bool) -> None:
    """Show each channel's health: paused or not, circuit, backlog, success rates, last error."""
    syndicator = _open(ctx, read_only=True)
    health = syndicator.channel_health()
    if as_json:
        sys.stdout.write(json.dumps(health.as_dict(), ensure_ascii=False, indent=2) + "\n")
        return
    out.print(tables.health(health))
    for ch in health.channels:
        if ch.last_error is not None:
            e = ch.last_error
            when = datetime.fromtimestamp(e.at, DISPLAY_TZ).strftime("%Y-%m-%d %H:%M:%S")
            out.print(
                f"[dim]{ch.name}: last error {when} {_escape(e.notice_id)}.v{e.version} "
                f"{_escape(e.error_class or '')}: {_escape(e.message or '')}[/]"
            )


@main.command()
@click.argument("channel")
@click.pass_context
@friendly
def pause(ctx: click.Context, channel: str) -> None:
    """Start no new delivery on CHANNEL until it is resumed (attempts in flight finish)."""
    changed = _open(ctx, read_only=True).pause(
        channel, by=f"cli:{os.environ.get('USER', '')}".rstrip(":")
    )
    out.print(f"{channel} paused" if changed else f"{channel} was already paused")


@main.command()
@click.argument("channel")
@click.pass_context
@friendly
def resume(ctx: click.Context, channel: str) -> None:
    """Let CHANNEL take deliveries again."""
    changed = _open(ctx, read_only=True).resume(channel)
    out.print(f"{channel} resumed" if changed else f"{channel} was not paused")


# --- report ----------------------------------------------------------------------


@main.command("report")
@click.option(
    "--year",
    type=click.IntRange(2000, 2200),
    default=lambda: datetime.now(DISPLAY_TZ).year,
    show_default="this year",
    help="The year of publication (Asia/Shanghai).",
)
@click.option("--json", "as_json", is_flag=True, help="The counts as JSON.")
@click.option(
    "--csv",
    "csv_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the disclosure figures to this CSV file.",
)
@click.option(
    "--docx",
    "docx_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write them as a Word document, for the yearly disclosure report.",
)
@click.pass_context
@friendly
def report_(
    ctx: click.Context, year: int, as_json: bool, csv_file: Path | None, docx_file: Path | None
) -> None:
    """Count what was published in a year, by category and channel (for the yearly report).

    A notice counts in the year of its publish_at; a cell counts delivered
    deliveries, and the last column the notices themselves. Then corrections,
    clarifications, terminations, withdrawals and approvals. --csv and --docx
    write the same figures to files, byte for byte the same for the same ledger.
    """
    syndicator = _open(ctx, read_only=True)
    report = syndicator.year_report(year)
    figures = syndicator.disclosure(year)
    for path, data in ((csv_file, figures.to_csv), (docx_file, figures.to_docx)):
        if path is not None:
            write_atomic(path, data())
    if as_json:
        document = {**report.as_dict(), "disclosure": figures.as_dict()}
        text = json.dumps(document, ensure_ascii=False, indent=2)
        sys.stdout.write(json_text(_mask.mask(text)) + "\n")
        return
    out.print(tables.yearly(report))
    out.print(tables.disclosure(figures))
    if report.not_delivered:
        out.print(
            f"[yellow]{report.not_delivered} deliveries of {year}'s notices "
            "have not been delivered[/]"
        )


# --- log -------------------------------------------------------------------------


def _since(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return time.time() - parse_duration(value)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            "give a duration back from now (30m, 2h, 7d) or an ISO date/time", param_hint="--since"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=DISPLAY_TZ)
    return moment.timestamp()


@main.command()
@click.option("--notice", "notice_id", help="Only attempts for this notice id.")
@click.option("--channel", help="Only attempts on this channel.")
@click.option(
    "--status",
    "outcome",
    type=click.Choice([o.value for o in Outcome]),
    help="Only attempts with this outcome.",
)
@click.option("--since", help="Only attempts since: a duration back (2h, 7d) or an ISO time.")
@click.option("--limit", type=int, help="At most this many (the newest).")
@click.option("--json", "as_json", is_flag=True, help="JSON lines, one attempt a line.")
@click.option("--csv", "as_csv", is_flag=True, help="CSV with a header line, for spreadsheets.")
@click.pass_context
@friendly
def log(
    ctx: click.Context,
    notice_id: str | None,
    channel: str | None,
    outcome: str | None,
    since: str | None,
    limit: int | None,
    as_json: bool,
    as_csv: bool,
) -> None:
    """Show the attempt log: every try of every delivery, oldest first.

    Times are shown in Asia/Shanghai; --json and --csv give them in UTC (ISO 8601).
    """
    if as_json and as_csv:
        raise click.UsageError("choose --json or --csv, not both")
    syndicator = _open(ctx, read_only=True)
    ref = syndicator.notice_ref(notice_id) if notice_id else None
    flt = AttemptFilter(
        notice_id=ref.id if ref else None,
        notice_version=ref.version if ref else None,
        channel=channel,
        outcome=Outcome(outcome) if outcome else None,
        since=_since(since),
        limit=limit,
        newest_first=limit is not None,
    )
    entries = syndicator.attempt_export(flt)
    if limit is not None:
        entries = reversed(list(entries))
    writer = csv.DictWriter(sys.stdout, fieldnames=ATTEMPT_FIELDS) if as_csv else None
    if writer is not None:
        writer.writeheader()
    for a in entries:
        if writer is not None:
            writer.writerow({k: csv_cell(_masked(v)) for k, v in a.as_dict().items()})
        elif as_json:
            text = json.dumps(a.as_dict(), ensure_ascii=False)
            sys.stdout.write(json_text(_mask.mask(text)) + "\n")
        else:
            when = datetime.fromtimestamp(a.started_at, DISPLAY_TZ).strftime("%Y-%m-%d %H:%M:%S")
            colour = {"delivered": "green", "transient": "yellow", "permanent": "red"}[a.outcome]
            code = f" [{a.status}]" if a.status else ""
            out.print(
                f"{when} #{a.number} {_escape(a.notice_id)}.v{a.version} → {a.channel} "
                f"[{colour}]{a.outcome.value}[/]{_escape(code)} {_escape(a.detail)}"
            )


def _where(remote_id: str | None, remote_url: str | None) -> str:
    """Where a delivery went: its URL and the id the channel gave it (both, to trace either)."""
    if remote_url and remote_id:
        return f"{remote_url} (id {remote_id})"
    return remote_url or remote_id or ""


# --- metrics ---------------------------------------------------------------------


@main.command()
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file (atomically), e.g. for node_exporter's textfile collector.",
)
@click.pass_context
@friendly
def metrics(ctx: click.Context, output: Path | None) -> None:
    """Print the ledger's state as Prometheus metrics (what GET /metrics reads from the ledger).

    syndicate_deliveries{channel,state}, syndicate_backlog{channel},
    syndicate_circuit_open{channel} and syndicate_circuit_state{channel,state}.
    """
    from .metrics import exposition, ledger_registry

    text = exposition(ledger_registry(_open(ctx, read_only=True))).decode("utf-8")
    if output is None:
        sys.stdout.write(text)
        return
    write_atomic(output, text.encode("utf-8"))  # a scraper never reads half a file


# --- replay ----------------------------------------------------------------------


@main.command()
@click.option("--notice", "notice_id", help="Replay this notice's deliveries.")
@click.option("--channel", help="Replay this channel's deliveries.")
@click.option("--all", "everything", is_flag=True, help="Replay every failed or dead delivery.")
@click.option(
    "--state",
    "states",
    multiple=True,
    type=click.Choice(["failed", "dead"]),
    help="Which end states to replay (default both).",
)
@click.option("--dry-run", is_flag=True, help="Only say how many would be replayed.")
@click.pass_context
@friendly
def replay(
    ctx: click.Context,
    notice_id: str | None,
    channel: str | None,
    everything: bool,
    states: tuple[str, ...],
    dry_run: bool,
) -> None:
    """Put failed or dead deliveries back to pending, with a fresh retry budget.

    History is kept: the earlier attempts stay in the log. Give --notice,
    --channel or --all. Exits 1 when nothing matched.
    """
    if not (notice_id or channel or everything):
        raise click.UsageError("say what to replay: --notice ID, --channel NAME or --all")
    syndicator = _open(ctx)
    chosen = tuple(DeliveryState(s) for s in states) or (DeliveryState.failed, DeliveryState.dead)
    n = syndicator.replay(notice=notice_id, channel=channel, states=chosen, dry_run=dry_run)
    out.print(
        f"{n} deliveries would go back to pending" if dry_run else f"{n} deliveries back to pending"
    )
    if n == 0:
        sys.exit(EXIT_REFUSED)


# --- withdraw ----------------------------------------------------------------------


@main.command()
@click.argument("notice_id")
@click.option("--reason", required=True, help="Why: printed in the withdrawal notice.")
@click.option("--by", "by", help="Who withdraws it, for the ledger.")
@click.pass_context
@friendly
def withdraw(ctx: click.Context, notice_id: str, reason: str, by: str | None) -> None:
    """Withdraw every version of a notice, on every channel.

    Deliveries not yet sent are cancelled; each channel that carries the
    notice gets a withdrawal (a retraction, the item removed, a 撤回公告),
    sent by the worker and retried like any delivery. No version is accepted
    afterwards. A notice withdrawn already is refused and nothing changes.
    """
    done = _open(ctx).withdraw(notice_id, reason, by=by)
    w = done.withdrawal
    out.print(
        f"withdrew {w.notice_id} (up to version {w.version}): "
        f"{done.cancelled} pending deliveries cancelled",
        markup=False,
    )
    if done.channels:
        out.print(f"withdrawal sent to: {', '.join(done.channels)}", markup=False)
    else:
        out.print("no channel carries it: nothing to take down", markup=False)


# --- schema, rules, preview, demo --------------------------------------------------


@main.command()
def schema() -> None:
    """Print the JSON Schema of a notice, for upstream systems."""
    sys.stdout.write(json.dumps(notice_schema(), ensure_ascii=False, indent=2) + "\n")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per rule.")
@click.pass_context
@friendly
def rules(ctx: click.Context, as_json: bool) -> None:
    """List the statutory rules checked at enqueue and the mode --config sets for each."""
    # Like status and log, listing needs no channel secrets.
    config = load_config(ctx.obj["config"], ctx.obj["registry"], read_only=True)
    for row in describe_rules(config.rules):
        if as_json:
            out.print(json.dumps(row, ensure_ascii=False), markup=False, highlight=False)
            continue
        mark = "" if row["verified"] else " (unverified)"
        out.print(
            f"{row['id']:<36} {row['mode']:<8} {row['clock']}  {row['citation']}{mark}",
            markup=False,
            highlight=False,
        )


@main.command()
@click.argument("notice_ref")
@click.option("--channel", "channel_name", required=True, help="The channel to preview for.")
@click.pass_context
@friendly
def preview(ctx: click.Context, notice_ref: str, channel_name: str) -> None:
    """Print exactly what CHANNEL would receive for a notice, sending nothing.

    NOTICE_REF is a notice file, or ID / ID.vN of a notice in the ledger.
    """
    syndicator = _open(ctx)
    path = Path(notice_ref)
    if path.exists():
        notice = Notice.parse(read_notice_file(path), source=str(path))
    else:
        try:
            notice = syndicator.find_notice(notice_ref)
        except QueryError:
            raise click.BadParameter(
                f"{notice_ref}: neither a file nor a notice in the ledger", param_hint="NOTICE"
            ) from None
    try:
        shown = syndicator.preview(notice, channel_name)
    except QueryError as exc:
        raise click.BadParameter(exc.problems[0].message, param_hint="--channel") from None
    sys.stdout.write(terminal_text(_mask.mask(shown.text), keep_lines=True) + "\n")
    sys.stdout.write(f"\npayload sha256: {shown.payload_sha256}\n")


@main.command()
@click.option(
    "--notices",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Folder of notices to publish (default: the bundled examples).",
)
@click.option(
    "--keep", type=click.Path(file_okay=False, path_type=Path), help="Keep the demo's files here."
)
@click.option(
    "--serve",
    "serve_port",
    type=click.IntRange(0, 65535),
    default=None,
    is_flag=False,
    flag_value=8000,
    help="Then serve the HTTP API and the dashboard on 127.0.0.1:PORT (8000 if no PORT) "
    "over the demo's channels, with a token printed for it, until Ctrl-C.",
)
@click.pass_context
@friendly
def demo(
    ctx: click.Context, notices: Path | None, keep: Path | None, serve_port: int | None
) -> None:
    """Publish the example notices through demo channels started on loopback.

    Needs nothing set up: it starts local channels, uses a temporary ledger,
    enqueues the examples, delivers them and shows where each one landed.
    With --serve, `syndicate serve` then runs over the same channels and ledger,
    so the API and the dashboard can be tried without the center's secrets.
    """
    from .demo.runner import run_demo

    code = run_demo(
        ctx.obj["registry"], notices_dir=notices, keep=keep, console=out, serve_port=serve_port
    )
    sys.exit(code)


# --- verify --------------------------------------------------------------------


@main.command()
@click.option(
    "--anchor",
    "anchor_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Check the chain against the heads anchored in FILE, then append this head to it.",
)
@click.option(
    "--archive",
    "archive_files",
    multiple=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Also check the rows of this archive file against the chain (repeatable).",
)
@click.option(
    "--anchor-channel",
    "anchor_channel",
    is_flag=True,
    help="If the ledger holds, send its head through the channel audit.anchor names.",
)
@click.option("--json", "as_json", is_flag=True, help="The result as JSON.")
@click.pass_context
@friendly
def verify(
    ctx: click.Context,
    anchor_file: Path | None,
    archive_files: tuple[Path, ...],
    anchor_channel: bool,
    as_json: bool,
) -> None:
    """Walk the ledger's hash chain: every notice, delivery and attempt against its link.

    Prints `ok` and the head hash, or the first row that was edited,
    inserted or deleted (exit 1). With --anchor, a head anchored earlier that
    the chain no longer matches is refused too, and the file is left as it was.
    With --anchor-channel, the head is sent (e.g. mailed to the disciplinary
    office) and what the channel answered is recorded in the chain.
    """
    from .audit.verify import Anchored

    syndicator = _open(ctx, read_only=not anchor_channel)
    archived = [f for path in archive_files for f in syndicator.check_archive(path)]
    result = syndicator.verify(anchor_file)
    verification = result.verification if isinstance(result, Anchored) else result
    if archived:
        findings = sorted([*verification.findings, *archived], key=lambda f: f.order())
        verification = replace(verification, findings=findings)
        if isinstance(result, Anchored):
            result = replace(result, verification=verification)
        else:
            result = verification
    sent = None
    if anchor_channel and verification.ok:
        sent = syndicator.anchor_to_channel(verification.head)
    if as_json:
        answer = result.as_dict()
        if anchor_channel:
            answer["anchored_through"] = None if sent is None else sent.as_dict()
        sys.stdout.write(json.dumps(answer, ensure_ascii=False, indent=2) + "\n")
    elif verification.ok:
        head = verification.head
        out.print(f"ok — {verification.rows} chain rows, head {head.seq} {head.hash}")
        for path in archive_files:
            out.print(f"archive {_escape(str(path))}: every row matches its chain row")
        if isinstance(result, Anchored) and result.appended is not None:
            out.print(
                f"anchored in {_escape(result.path)} at {result.appended.at} "
                f"({result.checked} earlier anchors match)"
            )
        if sent is not None:
            where = sent.receipt.url or sent.receipt.remote_id or sent.receipt.status or ""
            out.print(f"anchored through channel {sent.channel} {_escape(where)}".rstrip())
    else:
        first, *rest = verification.findings
        err.print(f"[red]tampered:[/] {_escape(first.message)}")
        for finding in rest:
            err.print(f"  also: {_escape(finding.message)}")
        if isinstance(result, Anchored):
            err.print(f"{_escape(result.path)} left unchanged")
        if anchor_channel:
            err.print("no anchor sent")
    if not verification.ok:
        sys.exit(EXIT_REFUSED)


@main.command()
@click.argument("notice_ref")
@click.option("--json", "as_json", is_flag=True, help="The report as JSON.")
@click.pass_context
@friendly
def audit(ctx: click.Context, notice_ref: str, as_json: bool) -> None:
    """Show that every channel carried the same content as the canonical notice.

    NOTICE_REF is ID (its newest version) or ID.vN. For each channel: the
    delivery, the SHA-256 of the payload sent, the receipt, and the key facts
    (title, project code, tenderer, amounts, deadlines, bid-opening place)
    found in its rendering. Exits 1 when a fact is missing or differs.
    """
    syndicator = _open(ctx)
    ref = syndicator.notice_ref(notice_ref)  # as every command reads it: an id may hold ".v"
    report_ = syndicator.audit(ref.id, ref.version)
    if as_json:
        sys.stdout.write(json.dumps(report_.as_dict(), ensure_ascii=False, indent=2) + "\n")
    else:
        out.print(tables.audit_view(report_))
    if not report_.consistent:
        sys.exit(EXIT_REFUSED)


@main.command("archive")
@click.option(
    "--before",
    required=True,
    help="Archive attempts finished before this date (YYYY-MM-DD, Asia/Shanghai) or ISO time.",
)
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
@friendly
def archive_(ctx: click.Context, before: str, file: Path) -> None:
    """Move old attempts of ended deliveries to FILE (gzip JSON lines), chained by hash.

    The archive's SHA-256 is chained into the ledger in the same transaction
    that removes the rows, so `verify` still passes and `verify --archive FILE`
    checks every archived row. FILE must not exist yet.
    """
    try:
        moment = datetime.fromisoformat(before)
    except ValueError:
        raise click.BadParameter(
            "give a date (2025-01-01) or an ISO time", param_hint="--before"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=DISPLAY_TZ)
    if moment.timestamp() > time.time():
        raise click.BadParameter(
            "an archive holds the past: give a date before now", param_hint="--before"
        )
    syndicator = _open(ctx, read_only=True)
    done = syndicator.archive(moment.timestamp(), file)
    if done.head is None:
        out.print(f"nothing to archive: no attempt of an ended delivery finished before {before}")
        return
    out.print(
        f"archived {done.count} attempts to {_escape(done.path)} "
        f"(sha256 {done.file_sha256}), chain row {done.head.seq}"
    )


@main.command("fetch-back")
@click.option("--notice", "notice_id", help="Only this notice's deliveries.")
@click.option("--channel", help="Only this channel's deliveries.")
@click.option(
    "--due",
    is_flag=True,
    help="Only channels with a fetch_back interval, deliveries not checked within it (cron).",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON line per check.")
@click.pass_context
@friendly
def fetch_back_(
    ctx: click.Context, notice_id: str | None, channel: str | None, due: bool, as_json: bool
) -> None:
    """Read back what the channels published and check it is still there and still the same.

    Every delivered delivery on a channel that can be read back is checked: the
    CMS and land-market sites' pages (the receipt's URL) for the key facts, the
    files of an SFTP inbox and the items of LED feeds byte for byte against what
    was sent. Each check is recorded in the ledger's chain: verified, mismatch,
    missing or unreachable. Exits 1 when a publication changed or vanished.
    """
    syndicator = _open(ctx)
    checks = syndicator.fetch_back(notice_id=notice_id, channel=channel, due=due)
    colour = {"verified": "green", "mismatch": "red", "missing": "red", "unreachable": "yellow"}
    for c in checks:
        if as_json:
            sys.stdout.write(json.dumps(c.as_dict(), ensure_ascii=False) + "\n")
            continue
        what = f"{c.notice_id}.v{c.version} → {c.channel}"
        out.print(
            f"[{colour[c.result.value]}]{c.result.value}[/] {_escape(what)} "
            f"{_escape(c.url or '')}  {_escape(c.detail)}"
        )
    alerts = [c for c in checks if c.result.alert]
    for c in alerts:
        err.print(
            f"[red]alert:[/] {_escape(c.notice_id)}.v{c.version} on {c.channel} is "
            f"{c.result.value}: {_escape(c.detail)}"
        )
    if not as_json:
        err.print(f"{len(checks)} checked, {len(alerts)} alerts")
    if alerts:
        sys.exit(EXIT_REFUSED)


# --- migrate -------------------------------------------------------------------


@main.command()
@click.option("--store", "store_url", help="The ledger's URL (default: the config's store).")
@click.pass_context
@friendly
def migrate(ctx: click.Context, store_url: str | None) -> None:
    """Bring the ledger's schema up to this version of syndicate.

    `run` does this too when it starts; a ledger written by a newer syndicate
    is refused (exit 4), never changed.
    """
    from .store import open_store, parse_store_url

    if store_url is None:
        config = load_config(ctx.obj["config"], ctx.obj["registry"])
        url = parse_store_url(config.store_url())
    else:
        url = parse_store_url(store_url, Path.cwd())
    store = open_store(url, notify=False)
    try:
        found, now = store.schema_found, store.schema_version
    finally:
        store.close()
    if found == now:
        out.print(f"{_escape(url.redacted())}: schema version {now}, up to date")
    else:
        out.print(f"{_escape(url.redacted())}: schema version {found} → {now}")


# --- serve, token -------------------------------------------------------------------


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--no-worker", is_flag=True, help="Serve the API only; `syndicate run` delivers.")
@click.option(
    "--workers", default=1, show_default=True, type=click.IntRange(1, 64), help="API processes."
)
@click.option("--ssl-certfile", type=click.Path(dir_okay=False, exists=True), help="TLS cert.")
@click.option("--ssl-keyfile", type=click.Path(dir_okay=False, exists=True), help="TLS key.")
@click.option("--no-access-log", is_flag=True, help="Log no line per request.")
@WAIT_FOR_LEDGER
@click.pass_context
@friendly
def serve(
    ctx: click.Context,
    host: str,
    port: int,
    no_worker: bool,
    workers: int,
    ssl_certfile: str | None,
    ssl_keyfile: str | None,
    no_access_log: bool,
    wait_for_ledger: float,
) -> None:
    """Serve the HTTP API (/v1, /metrics, /docs) and, unless --no-worker, the worker.

    SIGTERM or SIGINT drain both: requests in flight are answered, attempts in
    flight finish within worker.grace. Every request but /healthz needs a
    token: `syndicate token create`. A ledger server that does not answer yet
    is waited for (--wait-for-ledger), then the error is one line, exit 4.
    """
    from .web.server import serve as run_server

    config: Path = ctx.obj["config"]
    load_config(config, ctx.obj["registry"])  # a broken file is one clear error, before binding
    run_server(
        config,
        host=host,
        port=port,
        worker=not no_worker,
        workers=workers,
        ssl_certfile=ssl_certfile,
        ssl_keyfile=ssl_keyfile,
        access_log=not no_access_log,
        wait_for_ledger=wait_for_ledger,
        progress=_say_waiting,
    )


@main.group()
def token() -> None:
    """Bearer tokens of the HTTP API: create, list, revoke."""


@token.command("create")
@click.option("--name", required=True, help="Who uses it (recorded with every write it makes).")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    type=click.Choice(["enqueue", "read", "operate", "admin"]),
    help="What it may do; repeat for several.",
)
@click.pass_context
@friendly
def token_create(ctx: click.Context, name: str, scopes: tuple[str, ...]) -> None:
    """Create a token and print it, this once: only its hash is stored."""
    from .tokens import Scope

    issued = _open(ctx).tokens.create(name, [Scope(s) for s in scopes])
    sys.stdout.write(issued.secret + "\n")
    err.print(
        f"token {_escape(name)} ({', '.join(issued.record.scopes)}): shown once, "
        "keep it in your secret store"
    )


@token.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON line per token.")
@click.pass_context
@friendly
def token_list(ctx: click.Context, as_json: bool) -> None:
    """List tokens: name, scopes, when created and revoked (never the secret)."""
    for t in _open(ctx).tokens.list():
        if as_json:
            row = {
                "name": t.name,
                "id": t.id,
                "scopes": list(t.scopes),
                "created_at": iso(t.created_at),
                "revoked_at": iso(t.revoked_at),
            }
            sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
            continue
        revoked = f" revoked {_local(t.revoked_at)}" if t.revoked_at else ""
        out.print(
            f"{_escape(t.name):<24} {','.join(t.scopes):<24} created {_local(t.created_at)}"
            f"{revoked}"
        )


def _local(ts: float) -> str:
    return datetime.fromtimestamp(ts, DISPLAY_TZ).strftime("%Y-%m-%d %H:%M")


@token.command("revoke")
@click.argument("name")
@click.pass_context
@friendly
def token_revoke(ctx: click.Context, name: str) -> None:
    """Revoke the token called NAME: it is refused from the next request on."""
    if _open(ctx).tokens.revoke(name) == 0:
        _fail(f"no live token called {_escape(name)!r}", EXIT_REFUSED)
    out.print(f"token {_escape(name)} revoked")


# --- ledger copy ---------------------------------------------------------------


@main.group()
def ledger() -> None:
    """Whole-ledger operations."""


@ledger.command("copy")
@click.argument("src")
@click.argument("dst")
@friendly
def ledger_copy(src: str, dst: str) -> None:
    """Copy the whole ledger SRC into the new, empty ledger DST, then verify it.

    SRC and DST are store URLs (sqlite:///path, postgresql://…), e.g. from
    SQLite to PostgreSQL or back. Stop the workers first. The copy is read
    back and compared table by table: counts, every notice digest, the
    attempt history, the yearly tallies; a mismatch is an error (exit 4).
    """
    from .store import open_store, parse_store_url
    from .store.copy import copy_ledger
    from .store.sqlstore import SqlStore

    source_url, target_url = parse_store_url(src, Path.cwd()), parse_store_url(dst, Path.cwd())
    if str(source_url) == str(target_url):
        raise StoreError("SRC and DST are the same ledger")
    source = open_store(source_url, notify=False)
    try:
        target = open_store(target_url, notify=False)
        try:
            if not isinstance(source, SqlStore) or not isinstance(target, SqlStore):
                raise StoreError("only SQL ledgers can be copied")
            checks = copy_ledger(source, target)
        finally:
            target.close()
    finally:
        source.close()
    for c in checks:
        out.print(f"{c.table:<11} {c.rows:>10} rows  sha256 {c.digest[:16]}  same in both")
    out.print(f"copied {_escape(source_url.redacted())} → {_escape(target_url.redacted())}")


def entry() -> None:
    """Console entry point; hides Python's traceback for the errors users cause."""
    if os.environ.get("SYNDICATE_DEBUG"):
        main()
        return
    try:
        main()
    except SyndicateError as exc:  # pragma: no cover - commands handle their own
        _fail(_escape(str(exc), keep_lines=True), 1)

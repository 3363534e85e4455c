"""``syndicate demo``: the example notices through every adapter, on loopback.

It starts an HTTP sink (the trading website, the city portal, the land
market site), an SFTP inbox (the newspapers' file drops) and an SMTP inbox
(the evening paper's mailbox), writes the LED feeds to files, delivers the
notices with a temporary SQLite ledger and shows where each delivery landed.
Everything lives in one folder: ``--keep DIR``, or a temporary one removed at
the end.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import tempfile
import time
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .. import tables
from ..config import Config, parse_config
from ..errors import NoticeError
from ..notice import Notice, loads_notice_json
from ..readmodels import MAX_PAGE
from ..registry import AdapterRegistry
from ..store.base import DeliveryState, Outcome, Purpose
from ..syndicator import Syndicator
from .http_sink import HttpSink, Reply
from .sftp_inbox import SftpInbox, generate_key
from .smtp_inbox import SmtpInbox

DEADLINE = 60.0
SFTP_USER = "hyggzy"
SFTP_KEY = Path("keys/demo_ed25519")  # channels.yaml names the same file


def bundled_notices() -> Path | None:
    """examples/notices from the current folder or from the source checkout."""
    here = Path(__file__).resolve()
    for candidate in (
        Path.cwd() / "examples" / "notices",
        here.parents[3] / "examples" / "notices",
    ):
        if candidate.is_dir():
            return candidate
    return None


def run_demo(
    registry: AdapterRegistry,
    *,
    notices_dir: Path | None = None,
    keep: Path | None = None,
    console: Console | None = None,
    serve_port: int | None = None,
) -> int:
    """Start the demo channels, publish the notices, show the result; the exit code.

    With ``serve_port``, then serve the HTTP API over the same channels and ledger
    until SIGINT or SIGTERM.
    """
    console = console or Console()
    notices_dir = notices_dir or bundled_notices()
    if notices_dir is None:
        console.print("[red]error:[/] no examples/notices folder here; pass --notices DIR")
        return 1
    if keep is not None and keep.is_dir() and any(keep.iterdir()):
        # A ledger from an earlier run would make this one report old deliveries.
        console.print(f"[red]error:[/] --keep {escape(str(keep))}: give a new or empty folder")
        return 1
    with tempfile.TemporaryDirectory(prefix="syndicate-demo-") as tmp:
        workdir = (keep or Path(tmp)).resolve()
        workdir.mkdir(parents=True, exist_ok=True)
        code = _run(
            registry,
            notices_dir.resolve(),
            workdir,
            console,
            kept=keep is not None,
            serve_port=serve_port,
        )
        if keep:
            config = keep / "channels.yaml"
            console.print(
                f"kept in {escape(str(keep))}: the ledger, the inboxes, the mail, the feeds "
                "and the channels.yaml they were made with; read the ledger with, e.g.,\n"
                f"  syndicate -c {escape(str(config))} status"
            )
        return code


@dataclass
class _Peers:
    """The loopback channels the demo started."""

    http: HttpSink
    sftp: SftpInbox
    smtp: SmtpInbox
    env: dict[str, str] = field(default_factory=dict)


def _run(
    registry: AdapterRegistry,
    notices_dir: Path,
    workdir: Path,
    console: Console,
    *,
    kept: bool,
    serve_port: int | None = None,
) -> int:
    with contextlib.ExitStack() as stack:
        peers = _start_peers(workdir, stack)
        peers.env["DEMO_ATTACHMENTS"] = str(attachments_root(notices_dir))
        text = _filled(
            files("syndicate.demo").joinpath("channels.yaml").read_text("utf-8"), peers.env
        )
        path = workdir / "channels.yaml"
        path.write_text(text, "utf-8")
        # Nothing is left to fill from the environment: what runs is the file written.
        config = parse_config(text, str(path), registry, base_dir=workdir, env={})
        _make_inboxes(config, peers.sftp)
        console.print("demo channels on loopback:")
        console.print(f"  HTTP  {peers.http.url}  (trading website, city portal, land market)")
        console.print(f"  SFTP  {peers.sftp.url()}  host key {peers.sftp.host_key_fingerprint}")
        console.print(
            f"  SMTP  smtp://127.0.0.1:{peers.smtp.port}  → {escape(str(peers.smtp.folder))}"
        )
        console.print(f"  LED   feed files in {escape(str(workdir / 'led'))}")
        console.print(f"ledger: {escape(str(workdir / 'ledger.db'))}\n")
        with Syndicator(config, registry) as syndicator:
            notices, refused = _read(notices_dir, console)
            started = time.monotonic()
            # Originals first, then, once they are out, what corrects them: a correction
            # then updates the published page in place, as it would on a real day.
            refused += _enqueue(syndicator, [n for n in notices if n[1].version == 1], console)
            ended = syndicator.drain(timeout=DEADLINE)
            later = [n for n in notices if n[1].version > 1]
            if later:
                refused += _enqueue(syndicator, later, console)
                ended = syndicator.drain(timeout=DEADLINE) and ended
            elapsed = time.monotonic() - started
            status = syndicator.status_matrix(limit=MAX_PAGE)
            rows = list(reversed(syndicator.deliveries(limit=MAX_PAGE).items))
            retried = [a for a in syndicator.attempt_export() if a.outcome is not Outcome.delivered]
        console.print()
        console.print(tables.matrix(status, console.width))
        console.print(tables.landings(rows))
        if kept:
            console.print(_artefacts(config, peers, workdir))
        else:
            # Listing files that are about to vanish would only send people looking for them.
            console.print(
                "[dim]the inboxes, mail and feeds above are in a temporary folder that the "
                "demo removes when it ends; --keep DIR keeps them and lists them[/]"
            )
        expired = [
            r for r in rows if r.purpose is Purpose.expiry and r.state is DeliveryState.delivered
        ]
        if expired:
            # The example notices keep their dates: once those pass, a screen shows each one
            # and takes it down again, and an empty feed file would look like a failure.
            took_down = ", ".join(sorted({r.channel for r in expired}))
            past = len({(r.notice_id, r.version) for r in expired})
            console.print(
                f"[dim]{past} example notices are past their valid_until, so {took_down} "
                "took each one down again right after showing it (the rows marked · expiry)[/]"
            )
        for a in retried:
            console.print(
                f"[yellow]attempt {a.number} of {escape(a.notice_id)}.v{a.version} → "
                f"{a.channel} did not land[/] ({escape(a.error_message or a.outcome.value)}); "
                "the ledger kept it and the worker tried again"
            )
        done = sum(r.state is DeliveryState.delivered for r in rows)
        duplicates = peers.http.duplicates + peers.smtp.duplicates
        console.print(
            f"{done} of {len(rows)} deliveries delivered in {elapsed:.1f}s; "
            f"{duplicates} duplicates seen by the channels; {refused} notices refused"
        )
        if not ended:
            console.print(f"[red]deliveries still open after {DEADLINE:.0f}s[/]")
        ok = ended and rows and done == len(rows) and not refused
        if serve_port is not None:
            _serve(registry, path, console, serve_port)
    return 0 if ok else 1


def _serve(registry: AdapterRegistry, path: Path, console: Console, port: int) -> None:
    """``syndicate serve`` over the demo's channels and ledger, until SIGINT or SIGTERM."""
    from ..tokens import Scope
    from ..web.server import serve

    config = parse_config(
        path.read_text("utf-8"), str(path), registry, base_dir=path.parent, env={}
    )
    with Syndicator(config, registry) as syndicator:
        token = syndicator.tokens.create("demo", [Scope.admin]).secret
    console.print(
        f"\nserving the API and the dashboard on http://127.0.0.1:{port} (Ctrl-C stops it)\n"
        f"  token (admin, for this demo only): {token}\n"
        f"  curl -H 'Authorization: Bearer {token}' http://127.0.0.1:{port}/v1/notices\n"
        f"  dashboard: http://127.0.0.1:{port}/ — sign in with the token"
    )
    serve(path, port=port, access_log=False)


_PLACEHOLDER = re.compile(r"\$\{([A-Z_]+)\}")
_WHOLE_VALUE = re.compile(r"^(\s*[A-Za-z_][\w-]*:\s*)\$\{([A-Z_]+)\}(\s*(?:#.*)?)$")


def _filled(text: str, env: dict[str, str]) -> str:
    """The demo's channels.yaml with this run's addresses and keys in place of its ``${...}``.

    A value that is a whole scalar is quoted (a folder may hold any character); one
    inside a longer value (an address before its path) is plain, as the demo's are.
    """
    header = (
        "# Written by `syndicate demo` with the addresses and keys of its run filled in.\n"
        "# Its channels stopped when it ended: this file is for reading the ledger beside it\n"
        "# (status, log, audit, report, preview), not for sending.\n"
    )
    lines: list[str] = []
    body = text.splitlines()
    while body and body[0].startswith("#"):  # the bundled file's own header: replaced
        body.pop(0)
    for line in body:
        whole = _WHOLE_VALUE.match(line)
        if whole and whole[2] in env:
            line = f"{whole[1]}{json.dumps(env[whole[2]], ensure_ascii=False)}{whole[3]}"
        lines.append(_PLACEHOLDER.sub(lambda m: env.get(m[1], m[0]), line))
    return header + "\n".join(lines) + "\n"


def _start_peers(workdir: Path, stack: contextlib.ExitStack) -> _Peers:
    """Start the HTTP sink, the SFTP and SMTP inboxes; the values channels.yaml needs."""
    http = stack.enter_context(HttpSink())
    # The portal stumbles once, so the demo shows a retry that ends delivered.
    http.script("/city-portal/api/notices", [Reply(503, headers={"Retry-After": "0"})])
    client_key, client_key_text = generate_key()
    key_file = workdir / SFTP_KEY
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key_file.unlink(missing_ok=True)
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(client_key_text)
    sftp = stack.enter_context(
        SftpInbox(workdir / "sftp", username=SFTP_USER, authorized_key=client_key)
    )
    smtp = stack.enter_context(SmtpInbox(workdir / "mail"))
    env = {
        "DEMO_LEDGER": "sqlite:///ledger.db",  # beside channels.yaml: the folder can move
        "DEMO_HTTP_URL": http.url,
        "DEMO_TOKEN": secrets.token_hex(16),
        "DEMO_HMAC_SECRET": secrets.token_hex(16),
        "DEMO_LAND_PASSWORD": secrets.token_hex(12),
        "DEMO_SFTP_PORT": str(sftp.port),
        "DEMO_SFTP_USER": SFTP_USER,
        "DEMO_SFTP_HOST_KEY": sftp.host_key_fingerprint,
        "DEMO_SMTP_PORT": str(smtp.port),
    }
    return _Peers(http, sftp, smtp, env)


def _sftp_dirs(config: Config) -> list[tuple[str, str]]:
    """(channel, remote directory) of every SFTP inbox channel."""
    return [
        (name, str(getattr(ch.options, "directory", "")))
        for name, ch in config.channels.items()
        if ch.settings.adapter == "sftp_inbox"
    ]


def _local_dir(sftp: SftpInbox, remote: str) -> Path:
    return sftp.root / remote.strip("/")


def _make_inboxes(config: Config, sftp: SftpInbox) -> None:
    # A real newspaper's inbox exists before we drop anything; so does the demo's.
    for _, remote in _sftp_dirs(config):
        _local_dir(sftp, remote).mkdir(parents=True, exist_ok=True)


def _feed_files(config: Config) -> list[tuple[str, Path]]:
    """(channel, feed file) of every LED screen."""
    out = []
    for name, ch in config.channels.items():
        if ch.settings.adapter != "led_feed":
            continue
        for screen in getattr(ch.options, "screens", []):
            out += [(name, path) for path in screen.files]
    return out


def _artefacts(config: Config, peers: _Peers, workdir: Path) -> Table:
    """What the demo left on disk: inbox folders, mail files, feed files, the ledger."""
    table = Table(title=f"demo artefacts in {escape(str(workdir))}")
    table.add_column("channel", no_wrap=True)
    table.add_column("what", no_wrap=True)
    table.add_column("path", overflow="fold")

    def rel(path: Path) -> str:
        return escape(str(path.relative_to(workdir)) if path.is_relative_to(workdir) else str(path))

    for name, remote in _sftp_dirs(config):
        folder = _local_dir(peers.sftp, remote)
        names = sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))
        manifests = sum(n.endswith(".manifest.json") for n in names)
        what = f"SFTP inbox: {len(names)} files, {manifests} manifests"
        table.add_row(name, what, rel(folder) + "/")
    mail_channels = [n for n, ch in config.channels.items() if ch.settings.adapter == "email_inbox"]
    for mail in peers.smtp.received:
        table.add_row(", ".join(mail_channels), "e-mail", rel(mail.path))
    for name, path in _feed_files(config):
        what = "LED feed" if path.exists() else "LED feed (not written)"
        table.add_row(name, what, rel(path))
    table.add_row("", "ledger", rel(workdir / "ledger.db"))
    return table


def _refuse(console: Console, path: Path, exc: NoticeError | UnicodeDecodeError) -> None:
    problems = exc.problems if isinstance(exc, NoticeError) else [f"not UTF-8: {exc}"]
    for problem in problems:
        console.print(f"[red]refused:[/] {escape(path.name)}: {escape(str(problem))}")


def _read(folder: Path, console: Console) -> tuple[list[tuple[Path, Notice]], int]:
    """The folder's notices in the order upstream sends them, and how many were refused."""
    refused = 0
    paths = sorted(folder.glob("*.json"))
    if not paths:
        console.print(f"[red]error:[/] no notices (*.json) in {escape(str(folder))}")
    parsed: list[tuple[Path, Notice]] = []
    for path in paths:
        try:
            data = loads_notice_json(path.read_text(encoding="utf-8"), source=path.name)
            parsed.append((path, Notice.parse(data, source=path.name)))
        except (NoticeError, UnicodeDecodeError) as exc:
            refused += 1
            _refuse(console, path, exc)
    # File names sort a correction (…-correction.json) before the notice it corrects.
    parsed.sort(key=lambda item: (item[1].id, item[1].version, item[0].name))
    return parsed, refused


def _enqueue(syndicator: Syndicator, notices: list[tuple[Path, Notice]], console: Console) -> int:
    refused = 0
    for path, notice in notices:
        try:
            accepted = syndicator.enqueue(notice)
        except NoticeError as exc:
            refused += 1
            _refuse(console, path, exc)
            continue
        console.print(
            f"{accepted.status} {escape(accepted.notice_id)}.v{accepted.version} → "
            f"{', '.join(accepted.channels)}"
        )
    return refused


def attachments_root(folder: Path) -> Path:
    """The folder the notices' attachment paths are relative to.

    The examples name their files relative to the project's root
    (``examples/attachments/...``): the first of the current folder, the
    notice folder and each folder above it that holds them.
    """
    wanted = []
    for path in sorted(folder.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError, OSError):
            continue
        for att in data.get("attachments", []) if isinstance(data, dict) else []:
            if isinstance(att, dict) and isinstance(att.get("path"), str):
                wanted.append(att["path"])
    for base in [Path.cwd(), folder, *folder.parents]:
        if all((base / p).is_file() for p in wanted):
            return base
    return folder

"""E-mail submission inboxes: a notice as one MIME message sent over SMTP.

Newspapers such as 河源晚报 take notices by e-mail. Each delivery is one
message with a text and an HTML alternative and the notice's local attachment
files; its Message-ID is the delivery's idempotency key, and the message is
rendered deterministically (fixed Date, boundaries derived from the content),
so a retry sends byte-identical mail that a receiver can recognise.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import re
import smtplib
import ssl
import threading
from datetime import datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage, MIMEPart
from email.utils import format_datetime
from typing import Annotated, Any, ClassVar, Literal, Self
from urllib.parse import quote

from pydantic import (
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    SecretStr,
    StringConstraints,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from syndicate.adapter import (
    BlockingAdapter,
    ConfigFile,
    DeliveryContext,
    Options,
    Payload,
    Receipt,
)
from syndicate.config import Duration
from syndicate.errors import PermanentDeliveryError, TransientDeliveryError
from syndicate.labels import NATURE_LABELS, category_label
from syndicate.notice import Notice
from syndicate.rendering import DISPLAY_TZ, Template, template_validator
from syndicate.store.base import Purpose, idempotency_key
from syndicate.text import html_to_text, notice_text, withdrawal_text

from ._bounded import Sockets, smtp_class

# ASCII only: the message is generated for 7-bit transport (no SMTPUTF8 needed).
EmailAddress = Annotated[
    str,
    StringConstraints(
        pattern=r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$"
    ),
]
_DOT_ATOM = r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$"


def _source(template: Template) -> str:
    return template.source


TextTemplate = Annotated[
    Template,
    BeforeValidator(template_validator(html=False)),
    PlainSerializer(_source, return_type=str),
    WithJsonSchema({"type": "string"}),
]
HtmlTemplate = Annotated[
    Template,
    BeforeValidator(template_validator(html=True)),
    PlainSerializer(_source, return_type=str),
    WithJsonSchema({"type": "string"}),
]

DEFAULT_SUBJECT = (
    "【{{ category_label }}{% if nature_label %}·{{ nature_label }}{% endif %}】{{ notice.title }}"
)
# The same text, byte for byte, as every other text channel prints (syndicate.text).
DEFAULT_TEXT = "{{ notice_text }}"
# body_html is the publisher's own, already-approved HTML (the same text the
# website carries); everything else is escaped by autoescaping.
DEFAULT_HTML = """\
<!DOCTYPE html>
<html lang="zh-CN">
<head><meta charset="utf-8"><title>{{ notice.title }}</title></head>
<body>
<h1>{{ notice.title }}</h1>
<p>{% if notice.project_code %}项目编号：{{ notice.project_code }}<br>
{% endif %}发布单位：{{ notice.publisher.name }}<br>
发布时间：{{ notice.publish_at | local_time }}{% if notice.valid_until %}<br>
公示截止：{{ notice.valid_until | local_time }}{% endif %}</p>
<div class="notice-body">
{{ notice.body_html | safe }}
</div>
{% if notice.attachments %}<p>附件：</p>
<ul>
{% for a in notice.attachments %}<li>{% if a.url %}<a href="{{ a.url }}">{{ a.name }}</a>\
{% else %}{{ a.name }}{% endif %}</li>
{% endfor %}</ul>
{% endif %}<p><small>公告标识 {{ notice.id }}，版本 {{ notice.version }}</small></p>
</body>
</html>
"""
_DEFAULTS = {
    "subject": Template(DEFAULT_SUBJECT, html=False),
    "text": Template(DEFAULT_TEXT, html=False),
    "html": Template(DEFAULT_HTML, html=True),
}
_POLICY = policy.SMTP.clone(cte_type="7bit")


class EmailInboxOptions(Options):
    """Where and how to mail notices: the SMTP server, the addresses, the templates."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    host: str = Field(min_length=1, max_length=253)
    port: int | None = Field(default=None, ge=1, le=65535, description="587, 465 or 25 by default")
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: str | None = None
    password: SecretStr | None = None
    verify: bool = Field(default=True, description="verify the server's TLS certificate")
    ca_file: ConfigFile | None = Field(default=None, description="trust only this CA bundle")
    tls_server_name: (
        Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$")] | None
    ) = Field(
        default=None,
        description="the name the server's certificate carries, when host is an address "
        "(or another name) the certificate does not name; also sent as SNI",
    )
    helo_name: str | None = Field(default=None, description="EHLO name; the host's FQDN if unset")
    from_address: EmailAddress
    from_name: str | None = Field(default=None, max_length=100)
    reply_to: EmailAddress | None = None
    to: list[EmailAddress] = Field(min_length=1, max_length=50)
    cc: list[EmailAddress] = Field(default_factory=list, max_length=50)
    subject: TextTemplate | None = None
    text: TextTemplate | None = None
    html: HtmlTemplate | None = None
    attach: bool = Field(default=True, description="attach the notice's local files")
    message_id_domain: Annotated[str, StringConstraints(pattern=_DOT_ATOM)] = "syndicate"
    # ``timeout`` is the engine's limit for a whole delivery; this one bounds each socket
    # operation so a worker thread never hangs on a silent server.
    socket_timeout: Duration = Field(default=30.0, gt=0, le=600)

    @field_validator("username", "password")
    @classmethod
    def _ascii(cls, value: str | SecretStr | None) -> str | SecretStr | None:
        # smtplib encodes AUTH PLAIN/LOGIN as ASCII; refuse now rather than on every send.
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        if text is not None and not text.isascii():
            raise ValueError("must be ASCII (SMTP AUTH here sends credentials as ASCII)")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if (self.username is None) != (self.password is None):
            raise ValueError("give both username and password, or neither")
        if self.password is not None and self.security == "none":
            raise ValueError("refusing to send a password unencrypted; use starttls or ssl")
        if self.security == "none" and (
            self.ca_file is not None or not self.verify or self.tls_server_name is not None
        ):
            raise ValueError("ca_file, verify and tls_server_name apply only to starttls or ssl")
        if self.tls_server_name is not None and not self.verify:
            raise ValueError("tls_server_name is given but verify is false; choose one")
        if self.ca_file is not None and not self.verify:
            raise ValueError("ca_file is given but verify is false")
        return self

    @property
    def effective_port(self) -> int:
        if self.port is not None:
            return self.port
        return {"starttls": 587, "ssl": 465, "none": 25}[self.security]


class EmailInboxAdapter(BlockingAdapter[EmailInboxOptions]):
    """Mails each notice to a newspaper's submission inbox over SMTP."""

    kind: ClassVar[str] = "email_inbox"
    Options: ClassVar[type[EmailInboxOptions]] = EmailInboxOptions
    # A withdrawal is mailed as a short 撤回公告 answering the notice's own message.
    purposes: ClassVar[frozenset[Purpose]] = frozenset({Purpose.publish, Purpose.withdrawal})

    def __init__(self, channel: str, options: EmailInboxOptions, **setup: Any) -> None:
        super().__init__(channel, options, **setup)
        self._idle: list[smtplib.SMTP] = []
        self._lock = threading.Lock()
        self._sockets = Sockets()

    def describe(self) -> str:
        o = self.options
        scheme = "smtps" if o.security == "ssl" else "smtp"
        return f"{scheme}://{o.host}:{o.effective_port} → {', '.join(o.to)}"

    def _read_attachments(self, notice: Notice) -> list[tuple[str, str, bytes]]:
        """The notice's local attachment files, each checked against its pinned SHA-256."""
        return [
            (a.name, a.media_type, self.attachments.read(a))
            for a in notice.attachments
            if a.path is not None
        ]

    def check(self, notice: Notice) -> list[str]:
        if not self.options.attach:
            return []
        return self.attachments.missing(notice)

    # --- render -----------------------------------------------------------------

    def render(self, notice: Notice, ctx: DeliveryContext) -> Payload:
        if ctx.purpose is Purpose.withdrawal:
            return self._withdrawal(notice, ctx)
        o = self.options
        extra = {
            "category_label": category_label(notice.category.value),
            "nature_label": NATURE_LABELS.get(notice.nature.value, ""),
            "body_text": html_to_text(notice.body_html),
            "notice_text": notice_text(notice),
        }
        subject = " ".join((o.subject or _DEFAULTS["subject"]).render(notice, **extra).split())
        message_id = f"<{_dot_atom(ctx.idempotency_key)}@{o.message_id_domain}>"

        msg = _addressed(o, subject)
        msg["Date"] = format_datetime(notice.publish_at.astimezone(DISPLAY_TZ))
        msg["Message-ID"] = message_id
        msg["Auto-Submitted"] = "auto-generated"
        msg["X-Syndicate-Notice"] = f"{notice.id}; version={notice.version}"
        msg.set_content((o.text or _DEFAULTS["text"]).render(notice, **extra))
        msg.add_alternative((o.html or _DEFAULTS["html"]).render(notice, **extra), subtype="html")
        if o.attach:
            for name, media_type, content in self._read_attachments(notice):
                maintype, _, subtype = media_type.partition("/")
                msg.add_attachment(content, maintype=maintype, subtype=subtype, filename=name)
                attached = list(msg.iter_attachments())[-1]
                if not name.isascii() and isinstance(attached, MIMEPart):
                    _name_both_ways(attached, media_type, name)
        # Random boundaries would change the bytes (and the digest) on every attempt.
        seed = hashlib.sha256(f"{notice.digest()}\0{ctx.idempotency_key}".encode()).hexdigest()
        for i, part in enumerate(p for p in msg.walk() if p.is_multipart()):
            part.set_boundary(f"=_syndicate_{seed[:24]}_{i}")
        for body_part in msg.walk():
            if body_part is not msg:
                del body_part["MIME-Version"]  # add_alternative leaves one on a body part

        recipients = [*o.to, *o.cc]
        headers = {"Message-ID": message_id, "Subject": subject, "To": msg["To"]}
        if o.cc:
            headers["Cc"] = msg["Cc"]
        return Payload(
            media_type="message/rfc822",
            parts={"message.eml": msg.as_bytes(policy=_POLICY)},
            headers=headers,
            target=self.describe(),
            data={"from": o.from_address, "recipients": recipients, "message_id": message_id},
        )

    def _withdrawal(self, notice: Notice, ctx: DeliveryContext) -> Payload:
        """A 撤回公告 in reply to the message that carried the notice."""
        o = self.options
        withdrawal = ctx.withdrawal
        if withdrawal is None or ctx.previous is None:
            raise PermanentDeliveryError("a withdrawal needs its reason and what it takes back")
        text = withdrawal_text(notice, withdrawal.reason, withdrawal.at)
        subject = " ".join(f"撤回公告：{notice.title}".split())
        message_id = f"<{_dot_atom(ctx.idempotency_key)}@{o.message_id_domain}>"
        carried = idempotency_key(notice.id, ctx.previous.version, ctx.channel)
        original = f"<{_dot_atom(carried)}@{o.message_id_domain}>"
        msg = _addressed(o, subject)
        msg["Date"] = format_datetime(
            datetime.fromtimestamp(withdrawal.at, DISPLAY_TZ).replace(microsecond=0)
        )
        msg["Message-ID"] = message_id
        msg["In-Reply-To"] = original
        msg["References"] = original
        msg["Auto-Submitted"] = "auto-generated"
        msg["X-Syndicate-Notice"] = f"{notice.id}; version={notice.version}; withdrawn"
        msg.set_content(text)
        recipients = [*o.to, *o.cc]
        headers = {"Message-ID": message_id, "Subject": subject, "To": msg["To"]}
        return Payload(
            media_type="message/rfc822",
            parts={"message.eml": msg.as_bytes(policy=_POLICY)},
            headers=headers,
            target=self.describe(),
            data={"from": o.from_address, "recipients": recipients, "message_id": message_id},
        )

    # --- send -------------------------------------------------------------------

    def send_blocking(self, payload: Payload, ctx: DeliveryContext) -> Receipt:
        message_id = str(payload.data["message_id"])
        with self._sockets.sending(ctx.idempotency_key):
            return self._send(payload, message_id)

    def interrupt_blocking(self, ctx: DeliveryContext) -> None:
        self._sockets.interrupt(ctx.idempotency_key)

    def _send(self, payload: Payload, message_id: str) -> Receipt:
        try:
            conn = self._acquire()
            self._sockets.add(conn.sock)
            try:
                detail = _transact(
                    conn,
                    str(payload.data["from"]),
                    list(payload.data["recipients"]),
                    payload.parts["message.eml"],
                )
            except BaseException:
                _close_quietly(conn)
                raise
            self._release(conn)
        except Exception as exc:
            raise self._classify(exc) from None
        # The whole acceptance line: Postfix's says "queued as <id>", what its log is searched by.
        return Receipt(remote_id=message_id, status=f"250 {detail}"[:200], detail=detail)

    def close_blocking(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                conn.quit()
            _close_quietly(conn)

    def _acquire(self) -> smtplib.SMTP:
        """An idle connection that still answers NOOP, or a new one."""
        while True:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                return self._connect()
            try:
                if conn.noop()[0] == 250:
                    return conn
            except (smtplib.SMTPException, OSError):
                pass
            _close_quietly(conn)

    def _release(self, conn: smtplib.SMTP) -> None:
        with self._lock:
            self._idle.append(conn)

    def _connect(self) -> smtplib.SMTP:
        o = self.options
        port = o.effective_port
        conn: smtplib.SMTP
        if o.security == "ssl":
            conn = smtp_class(self._sockets, ssl=True)(
                o.host,
                port,
                o.helo_name,
                timeout=o.socket_timeout,
                context=self._tls_context(),  # type: ignore[call-arg]
            )
        else:
            conn = smtp_class(self._sockets, ssl=False)(
                o.host, port, o.helo_name, timeout=o.socket_timeout
            )
        try:
            _hello(conn)
            if o.security == "starttls":
                conn.starttls(context=self._tls_context())
                self._sockets.add(conn.sock)  # the TLS socket took over the connection
                _hello(conn)
            if o.username is not None and o.password is not None:
                conn.login(o.username, o.password.get_secret_value())
        except BaseException:
            _close_quietly(conn)
            raise
        return conn

    def _tls_context(self) -> ssl.SSLContext:
        o = self.options
        if not o.verify:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            return ctx
        cafile = str(o.ca_file) if o.ca_file else None
        if o.tls_server_name is None:
            return ssl.create_default_context(cafile=cafile)
        named = _NamedServerContext(ssl.PROTOCOL_TLS_CLIENT)
        named.server_name = o.tls_server_name
        if cafile is not None:
            named.load_verify_locations(cafile=cafile)
        else:
            named.load_default_certs()
        return named

    def _classify(self, exc: Exception) -> TransientDeliveryError | PermanentDeliveryError:
        """The delivery outcome for an SMTP, TLS or socket failure; never names the secret."""
        o = self.options
        where = f"{o.host}:{o.effective_port}"
        error: TransientDeliveryError | PermanentDeliveryError
        if isinstance(exc, PermanentDeliveryError | TransientDeliveryError):
            return exc
        if isinstance(exc, smtplib.SMTPRecipientsRefused):
            error = _refused(exc.recipients)
        elif isinstance(exc, smtplib.SMTPAuthenticationError) and exc.smtp_code >= 500:
            error = PermanentDeliveryError(
                f"{where} refused the credentials for user {o.username!r}: "
                f"{exc.smtp_code} {_text(exc.smtp_error)}",
                status=str(exc.smtp_code),
            )
        elif isinstance(exc, smtplib.SMTPResponseException):
            code, text = exc.smtp_code, _text(exc.smtp_error)
            cls = PermanentDeliveryError if 500 <= code <= 599 else TransientDeliveryError
            status = str(code) if code > 0 else None
            error = cls(f"{where} answered {code} {text}".strip(), status=status)
        elif isinstance(exc, smtplib.SMTPServerDisconnected):
            error = TransientDeliveryError(
                f"{where} closed the connection ({exc}); the receiver may already have the "
                "message and can recognise the retry by its Message-ID"
            )
        elif isinstance(exc, smtplib.SMTPException):
            # STARTTLS or AUTH not offered, no usable AUTH mechanism: configuration.
            error = PermanentDeliveryError(f"{where}: {exc}")
        elif isinstance(exc, ssl.SSLCertVerificationError):
            hint = "" if o.ca_file else "; set ca_file to the CA that signed it"
            error = PermanentDeliveryError(
                f"{where}: TLS certificate not trusted: {exc.verify_message}{hint}"
            )
        elif isinstance(exc, ssl.SSLEOFError):
            error = TransientDeliveryError(f"{where}: connection closed during TLS: {exc}")
        elif isinstance(exc, ssl.SSLError):
            error = PermanentDeliveryError(f"{where}: TLS failed: {exc.reason or exc}")
        elif isinstance(exc, TimeoutError):
            error = TransientDeliveryError(f"{where}: timed out after {o.socket_timeout:g}s")
        elif isinstance(exc, OSError):
            error = TransientDeliveryError(f"{where}: {exc.strerror or exc}")
        else:
            error = TransientDeliveryError(f"{where}: {type(exc).__name__}: {exc}")
        return _scrub(error, o.password)


# --- helpers --------------------------------------------------------------------


class _NamedServerContext(ssl.SSLContext):
    """Verifies (and asks by SNI for) one configured name, whatever host smtplib dialled."""

    server_name: str = ""

    def wrap_socket(self, sock: Any, *args: Any, **kwargs: Any) -> Any:
        kwargs["server_hostname"] = self.server_name
        return super().wrap_socket(sock, *args, **kwargs)


def _name_both_ways(part: MIMEPart, media_type: str, name: str) -> None:
    """Name an attachment as RFC 2231 says (``filename*``) and as common clients read it.

    Outlook, Foxmail and the webmail of Chinese providers show RFC 2047
    encoded words inside the quoted ``name`` and ``filename`` (not standard, but
    what they send and expect); standard clients take ``filename*`` first.
    The headers are written folded to lines the policy keeps as they are (39
    bytes a word: ``filename="`` and the word stay within 78 characters).
    """
    words = _encoded_words(name)
    quoted = '"' + "\n ".join(words) + '"'
    continued = _rfc2231_sections("filename", name)
    del part["Content-Type"]
    del part["Content-Disposition"]
    # A long media type (a spreadsheet's) starts on a line of its own.
    head = media_type if len(media_type) <= 60 else f"\n {media_type}"
    part.set_raw("Content-Type", f"{head};\n name={quoted}")
    part.set_raw("Content-Disposition", f"attachment;\n filename={quoted};\n {continued}")


def _encoded_words(text: str, limit: int = 39) -> list[str]:
    """``text`` as RFC 2047 base64 words of at most ``limit`` bytes, never splitting a character."""
    chunks: list[bytes] = [b""]
    for ch in text:
        encoded = ch.encode("utf-8")
        if len(chunks[-1]) + len(encoded) > limit:
            chunks.append(b"")
        chunks[-1] += encoded
    return [f"=?utf-8?b?{base64.b64encode(c).decode('ascii')}?=" for c in chunks]


def _rfc2231_sections(param: str, text: str, width: int = 54) -> str:
    """``param*0*=utf-8''…; param*1*=…``: percent-encoded UTF-8 in sections that fit a line."""
    encoded = quote(text, safe="")
    sections: list[str] = []
    while encoded:
        cut = min(width, len(encoded))
        while 0 < cut < len(encoded) and "%" in encoded[cut - 2 : cut]:
            cut -= 1  # never split a %XX escape
        sections.append(encoded[:cut])
        encoded = encoded[cut:]
    first = f"{param}*0*=utf-8''{sections[0]}"
    rest = [f"{param}*{i}*={s}" for i, s in enumerate(sections[1:], start=1)]
    return ";\n ".join([first, *rest])


def _hello(conn: smtplib.SMTP) -> None:
    """EHLO, falling back to HELO only when EHLO is not understood (5xx); 4xx means later."""
    code, resp = conn.ehlo()
    if 200 <= code <= 299:
        return
    if 400 <= code <= 499:
        raise smtplib.SMTPHeloError(code, resp)
    code, resp = conn.helo()
    if not 200 <= code <= 299:
        raise smtplib.SMTPHeloError(code, resp)


def _transact(conn: smtplib.SMTP, sender: str, recipients: list[str], message: bytes) -> str:
    """MAIL, RCPT, DATA; returns the server's DATA answer (its queue id) for the receipt.

    Unlike ``sendmail`` this keeps the final reply text, and it refuses a partial
    delivery: a refused recipient is a misaddressed channel the operator must see.
    """
    options = [f"SIZE={len(message)}"] if conn.has_extn("size") else []
    code, resp = conn.mail(sender, options)
    if code != 250:
        raise smtplib.SMTPSenderRefused(code, resp, sender)
    refused: dict[str, tuple[int, bytes]] = {}
    for rcpt in recipients:
        code, resp = conn.rcpt(rcpt)
        if code not in (250, 251):
            refused[rcpt] = (code, resp)
        if code == 421:
            raise smtplib.SMTPResponseException(code, resp)
    if refused:
        raise smtplib.SMTPRecipientsRefused(refused)
    code, resp = conn.data(message)
    if code != 250:
        raise smtplib.SMTPDataError(code, resp)
    return _text(resp)


def _refused(
    recipients: dict[str, tuple[int, bytes]],
) -> TransientDeliveryError | PermanentDeliveryError:
    listed = "; ".join(f"{r}: {c} {_text(m)}" for r, (c, m) in recipients.items())
    codes = sorted(c for c, _ in recipients.values())
    # One recipient refused "for now" makes the whole delivery worth retrying.
    temporary = [c for c in codes if 400 <= c <= 499]
    if temporary:
        return TransientDeliveryError(
            f"recipients refused for now: {listed}", status=str(temporary[0])
        )
    return PermanentDeliveryError(f"recipients refused: {listed}", status=str(codes[-1]))


def _scrub(
    error: TransientDeliveryError | PermanentDeliveryError, password: SecretStr | None
) -> TransientDeliveryError | PermanentDeliveryError:
    """The same error with the password masked, should a server ever echo it."""
    secret = password.get_secret_value() if password is not None else ""
    if secret and secret in error.message:
        return type(error)(error.message.replace(secret, "***"), status=error.status)
    return error


def _text(value: bytes | str) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return " ".join(value.split())


def _close_quietly(conn: smtplib.SMTP) -> None:
    with contextlib.suppress(OSError):
        conn.close()


def _dot_atom(key: str) -> str:
    """The key as an RFC 5322 dot-atom: a leading, trailing or doubled dot becomes %2E.

    Keys never contain '%', so the mapping stays one-to-one.
    """
    atoms = key.split(".")
    if all(atoms):
        return key
    return re.sub(r"(?:^\.)|(?:\.$)|(?<=\.)\.", "%2E", key)


def _addressed(o: EmailInboxOptions, subject: str) -> EmailMessage:
    """A message with the channel's addresses and ``subject``: every mail it sends starts so."""
    msg = EmailMessage(policy=_POLICY)
    msg["Subject"] = subject
    msg["From"] = Address(display_name=o.from_name or "", addr_spec=o.from_address)
    msg["To"] = ", ".join(o.to)
    if o.cc:
        msg["Cc"] = ", ".join(o.cc)
    if o.reply_to:
        msg["Reply-To"] = o.reply_to
    return msg

"""Newspaper submission inboxes reached over SFTP (南方日报, 河源日报, …).

Each delivery drops, into the inbox directory, the notice as one file (plain
text, HTML or DOCX), the notice's local attachments (each checked against its
SHA-256) and, last, ``<id>.v<version>.manifest.json`` listing every file with
its size and SHA-256: when the manifest is there, the submission is complete.
Every file is uploaded under a temporary name and renamed into place, and file
names are stable per notice version, so a retried delivery replaces, never
duplicates.
"""

from __future__ import annotations

import hashlib
import html
import importlib.util
import io
import json
import posixpath
import re
import zipfile
from datetime import UTC, datetime
from typing import Any, Literal, Self

from pydantic import ConfigDict, Field, ValidationInfo, field_validator, model_validator

from syndicate.adapter import (
    BlockingAdapter,
    DeliveryContext,
    HeldPart,
    Landed,
    Payload,
    ReadBack,
    Receipt,
)
from syndicate.attachments import MAX_ATTACHMENT_BYTES
from syndicate.errors import PermanentDeliveryError
from syndicate.notice import Notice
from syndicate.rendering import Template, local_time
from syndicate.store.base import Purpose
from syndicate.text import (
    html_paragraphs,
    key_fields,
    notice_text,
    withdrawal_fields,
    withdrawal_text,
)

from ._sftp import SftpConnection, SftpSettings

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
_SUFFIX = {"text": "txt", "html": "html", "docx": "docx"}
_MEDIA = {"text": "text/plain", "html": "text/html"}


class SftpInboxOptions(SftpSettings):
    """An SFTP inbox: the connection, the remote directory and the file format."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    directory: str = Field(min_length=1, max_length=1000, pattern=r"^[^\x00-\x1f]+$")
    format: Literal["text", "html", "docx"] = "text"
    template: Template | None = Field(
        default=None, description="Jinja2 template for the notice file (the body for docx)"
    )
    encoding: Literal["utf-8", "gb18030"] = "utf-8"

    @field_validator("template", mode="before")
    @classmethod
    def _compile(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None or isinstance(value, Template):
            return value
        if not isinstance(value, str):
            raise ValueError("a template must be text")
        return Template(value, html=info.data.get("format") == "html")

    @model_validator(mode="after")
    def _encoding_fits(self) -> Self:
        if self.format == "docx" and importlib.util.find_spec("docx") is None:
            raise ValueError("format docx needs the python-docx package (pip install python-docx)")
        if self.format == "docx" and self.encoding != "utf-8":
            raise ValueError("encoding applies to text and html files; a docx file is always UTF-8")
        if self.template is not None and self.template.html != (self.format == "html"):
            raise ValueError("the template was compiled for another format")
        return self


class SftpInboxAdapter(BlockingAdapter[SftpInboxOptions]):
    """Drops each notice, its attachments and a manifest into an SFTP inbox."""

    kind = "sftp_inbox"
    Options = SftpInboxOptions
    # A withdrawal is dropped as a short 撤回公告 beside the notice's own files.
    purposes = frozenset({Purpose.publish, Purpose.withdrawal})

    def __init__(self, channel: str, options: SftpInboxOptions, **setup: Any) -> None:
        super().__init__(channel, options, **setup)
        self._connection = SftpConnection(options)

    def describe(self) -> str:
        return self.options.url(self.options.directory, user=True)

    def file_names(self, notice: Notice) -> list[str]:
        """The files a delivery of ``notice`` drops: the notice, its local attachments, manifest."""
        base = safe_name(f"{notice.id}.v{notice.version}")
        names = [f"{base}.{_SUFFIX[self.options.format]}"]
        for index, att in enumerate(notice.attachments, 1):
            if att.path is not None:
                names.append(f"{base}.a{index}.{safe_name(att.name, 120)}")
        return [*names, f"{base}.manifest.json"]

    def render(self, notice: Notice, ctx: DeliveryContext) -> Payload:
        if ctx.purpose is Purpose.withdrawal:
            return self._withdrawal(notice, ctx)
        o = self.options
        main, *attached, manifest = self.file_names(notice)
        media_type = _DOCX if o.format == "docx" else f"{_MEDIA[o.format]}; charset={o.encoding}"
        parts: dict[str, bytes] = {main: self._notice_file(notice)}
        files = [_entry(main, parts[main], "notice", media_type)]
        links = []
        local = iter(attached)
        for att in notice.attachments:
            if att.path is None:
                links.append({"name": att.name, "url": str(att.url), "sha256": att.sha256})
                continue
            name = next(local)
            parts[name] = self.attachments.read(att)
            files.append(_entry(name, parts[name], "attachment", att.media_type, att.name))
        doc = {
            "notice": {
                "id": notice.id,
                "version": notice.version,
                "nature": notice.nature.value,
                "category": notice.category.value,
                "notice_type": notice.notice_type.value,
                "title": notice.title,
                "digest": ctx.notice_digest or notice.digest(),
            },
            "channel": ctx.channel,
            "idempotency_key": ctx.idempotency_key,
            "format": o.format,
            "encoding": o.encoding,
            "files": files,
            "links": links,
        }
        text = json.dumps(doc, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
        parts[manifest] = text.encode("utf-8")  # last: its presence means the drop is complete
        return Payload(
            media_type=media_type,
            parts=parts,
            target=self.describe(),
            data={"main": main, "manifest": manifest},
        )

    def _withdrawal(self, notice: Notice, ctx: DeliveryContext) -> Payload:
        """A 撤回公告 and its manifest, named after the notice: the editor sees both."""
        o = self.options
        withdrawal = ctx.withdrawal
        if withdrawal is None or ctx.previous is None:
            raise PermanentDeliveryError("a withdrawal needs its reason and what it takes back")
        base = safe_name(f"{notice.id}.withdrawal")
        fields = withdrawal_fields(notice, withdrawal.reason, withdrawal.at)
        text = withdrawal_text(notice, withdrawal.reason, withdrawal.at)
        if o.format == "docx":
            main, content = f"{base}.docx", withdrawal_docx(notice, fields)
            media_type = _DOCX
        else:  # a few lines of plain text: every editor reads them, whatever the format
            main, content = f"{base}.txt", text.encode(o.encoding, errors="replace")
            media_type = f"text/plain; charset={o.encoding}"
        manifest = f"{base}.manifest.json"
        doc = {
            "withdrawal": {
                "id": notice.id,
                "title": notice.title,
                "versions_up_to": notice.version,
                "carried_version": ctx.previous.version,
                "reason": withdrawal.reason,
                "at": local_time(datetime.fromtimestamp(withdrawal.at, UTC)),
            },
            "channel": ctx.channel,
            "idempotency_key": ctx.idempotency_key,
            "files": [_entry(main, content, "withdrawal", media_type)],
        }
        body = json.dumps(doc, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
        return Payload(
            media_type=media_type,
            parts={main: content, manifest: body.encode("utf-8")},
            target=self.describe(),
            data={"main": main, "manifest": manifest},
        )

    def send_blocking(self, payload: Payload, ctx: DeliveryContext) -> Receipt:
        manifest = payload.data["manifest"]
        ordered = {n: c for n, c in payload.parts.items() if n != manifest}
        ordered[manifest] = payload.parts[manifest]
        paths = self._connection.upload_atomic(self.options.directory, ordered)
        main = posixpath.join(self.options.directory, payload.data["main"])
        return Receipt(
            remote_id=payload.data["main"],
            url=self.options.url(main),
            status="uploaded",
            detail=f"{len(paths)} files, manifest {manifest}",
        )

    async def read_back(self, notice: Notice, ctx: DeliveryContext, landed: Landed) -> ReadBack:
        """Every file of the drop still in the inbox, stat'ed and read back (none: gone)."""
        return await self.in_thread(ctx, self._read_back, notice)

    def _read_back(self, notice: Notice) -> list[HeldPart]:
        directory = self.options.directory
        found = self._connection.read_files(
            directory, self.file_names(notice), MAX_ATTACHMENT_BYTES
        )
        return [
            HeldPart(name, self.options.url(posixpath.join(directory, name)), size, content)
            for name, (size, content) in found.items()
        ]

    def interrupt_blocking(self, ctx: DeliveryContext) -> None:
        self._connection.interrupt()

    def close_blocking(self) -> None:
        self._connection.close()

    # --- the notice file -------------------------------------------------------

    def _notice_file(self, notice: Notice) -> bytes:
        o = self.options
        fields = key_fields(notice)
        paragraphs = html_paragraphs(notice.body_html)
        extra = {"fields": fields, "body_text": "\n".join(paragraphs)}
        if o.format == "docx":
            if o.template is not None:
                paragraphs = o.template.render(notice, **extra).splitlines()
            return docx_bytes(notice, fields, paragraphs)
        if o.template is not None:
            text = o.template.render(notice, **extra)
        elif o.format == "html":
            text = default_html(notice, fields, o.encoding)
        else:
            text = notice_text(notice)
        return text.encode(o.encoding)


def safe_name(text: str, limit: int = 160) -> str:
    """A file name made of [A-Za-z0-9._-] only, never hidden, never a path."""
    name = re.sub(r"\.{2,}", ".", _UNSAFE.sub("_", text)).lstrip("._-")
    if len(name) > limit:
        stem, dot, ext = name.rpartition(".")
        name = stem[: limit - len(ext) - 1] + dot + ext if dot and len(ext) < 16 else name[:limit]
    return name or "notice"


def _entry(
    name: str, content: bytes, role: str, media_type: str, original: str | None = None
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": name,
        "role": role,
        "media_type": media_type,
        "size": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
    }
    if original is not None:
        entry["original_name"] = original
    return entry


def default_html(notice: Notice, fields: list[tuple[str, str]], encoding: str) -> str:
    e = html.escape
    rows = "\n".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in fields)
    files = "".join(f"<li>{e(a.name)}</li>" for a in notice.attachments)
    return (
        f'<!DOCTYPE html>\n<html lang="zh-CN">\n<head>\n<meta charset="{encoding}">\n'
        f"<title>{e(notice.title)}</title>\n</head>\n<body>\n<h1>{e(notice.title)}</h1>\n"
        f"<table>\n{rows}\n</table>\n<div>\n{notice.body_html}\n</div>\n"
        + (f"<h2>附件</h2>\n<ol>{files}</ol>\n" if files else "")
        + "</body>\n</html>\n"
    )


def docx_bytes(notice: Notice, fields: list[tuple[str, str]], paragraphs: list[str]) -> bytes:
    """A Word document of the notice, byte-for-byte the same for the same notice."""
    # Imported here: only DOCX channels need python-docx loaded.
    import docx
    from docx.oxml.ns import qn

    document = docx.Document()
    normal = document.styles["Normal"]
    normal.font.name = "SimSun"
    normal.element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), "宋体")
    document.add_heading(notice.title, level=1)
    table = document.add_table(rows=0, cols=2)
    table.style = "Table Grid"
    for label, value in fields:
        cells = table.add_row().cells
        cells[0].text, cells[1].text = label, value
    for text in paragraphs:
        document.add_paragraph(text)
    if notice.attachments:
        document.add_paragraph("附件：")
        for i, att in enumerate(notice.attachments, 1):
            document.add_paragraph(f"{i}. {att.name}")
    props = document.core_properties
    stamp = notice.publish_at.astimezone(UTC).replace(tzinfo=None)
    props.title = notice.title[:255]
    props.subject = notice.project_code or ""
    props.author = props.last_modified_by = notice.publisher.name[:255]
    props.identifier = notice.key
    props.comments = ""
    props.created = props.modified = props.last_printed = stamp
    props.revision = notice.version
    buffer = io.BytesIO()
    document.save(buffer)
    return _fixed_zip(buffer.getvalue())


def withdrawal_docx(notice: Notice, fields: list[tuple[str, str]]) -> bytes:
    """The 撤回公告 as a Word document: the notice's heading, then the withdrawal's facts."""
    titled = notice.model_copy(update={"title": f"撤回公告：{notice.title}", "attachments": []})
    return docx_bytes(titled, fields, [f"《{notice.title}》现予撤回，此前发布的各版本均不再有效。"])


def _fixed_zip(data: bytes) -> bytes:
    # python-docx stamps every zip member with the current time; pin them.
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=_ZIP_EPOCH)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o644 << 16
            dst.writestr(fixed, src.read(info.filename))
    return out.getvalue()

"""The canonical notice: one item a trading center publishes, in one version.

Field names are ours; the Chinese labels in the descriptions are what
operators call them. The JSON Schema exported for upstream systems is
``Notice.model_json_schema()`` (``syndicate schema``).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import PurePosixPath, PureWindowsPath
from typing import Annotated, Any, Literal, Self
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    Strict,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from .errors import NoticeError, Problem
from .sanitize import markup_problem

LOCAL_TZ = ZoneInfo("Asia/Shanghai")
"""The trading center's time: display, and the day a notice counts in."""

MAX_BODY_CHARS = 2_000_000
"""A notice body larger than this is refused: no channel takes a 2 MB notice."""

MAX_NOTICE_BYTES = 16 << 20
"""Refused before parsing (or reading whole): room for a longest body written as \\uXXXX escapes."""

MAX_DEPTH = 32
"""The deepest nesting of objects and arrays a notice's JSON may have (a notice needs 5)."""


class Category(StrEnum):
    """业务类别: the five rows of a trading center's yearly table."""

    construction = "construction"
    procurement = "procurement"
    land_mineral = "land_mineral"
    state_property = "state_property"
    work_news = "work_news"


class NoticeType(StrEnum):
    """公告类型."""

    tender = "tender"  # 招标公告
    prequalification = "prequalification"  # 资格预审公告
    candidates = "candidates"  # 中标候选人公示
    result = "result"  # 中标/成交结果公告
    pre_notice = "pre_notice"  # 采购意向/预公告
    single_source = "single_source"  # 单一来源公示
    contract = "contract"  # 合同公告
    transfer = "transfer"  # 出让/转让公告
    deal = "deal"  # 成交公示
    news = "news"  # 工作动态


ALLOWED_TYPES: dict[Category, frozenset[NoticeType]] = {
    Category.construction: frozenset(
        {
            NoticeType.tender,
            NoticeType.prequalification,
            NoticeType.candidates,
            NoticeType.result,
            NoticeType.contract,
            NoticeType.pre_notice,
        }
    ),
    Category.procurement: frozenset(
        {
            NoticeType.tender,
            NoticeType.pre_notice,
            NoticeType.single_source,
            NoticeType.candidates,
            NoticeType.result,
            NoticeType.contract,
        }
    ),
    Category.land_mineral: frozenset({NoticeType.transfer, NoticeType.result, NoticeType.deal}),
    Category.state_property: frozenset({NoticeType.transfer, NoticeType.result, NoticeType.deal}),
    Category.work_news: frozenset({NoticeType.news}),
}


class Nature(StrEnum):
    """公告性质: a correction, clarification or termination is a new version."""

    original = "original"
    correction = "correction"
    clarification = "clarification"
    termination = "termination"


NoticeId = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"),
    Field(
        description="公告标识: stable upstream id; letters, digits, '.', '_' and '-', "
        "starting with a letter or digit, at most 128 characters",
    ),
]
RegionCode = Annotated[
    str,
    StringConstraints(pattern=r"^[1-9][0-9]{5}$"),
    Field(description="行政区划代码: six digits, e.g. 441600 for 河源市"),
]
CreditCode = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}$"),
    Field(description="统一社会信用代码: 18 characters"),
]


def _displayable(value: datetime) -> datetime:
    # Every renderer shows times in Asia/Shanghai; a time that cannot be converted is refused here.
    try:
        year = value.astimezone(UTC).year
    except OverflowError:
        raise ValueError("time out of range") from None
    if not 2000 <= year <= 2200:
        raise ValueError("time out of range (years 2000 to 2200)")
    return value


Timestamp = Annotated[AwareDatetime, AfterValidator(_displayable)]
Count = Annotated[int, Strict()]
Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Text = Annotated[str, StringConstraints(max_length=2000)]


_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\u202a-\u202e\u2066-\u2069]")


def _no_control_chars(value: str) -> str:
    # C0 and C1 controls act on terminals; bidi overrides make text read other than it is.
    found = _CONTROL.search(value)
    if found is not None:
        raise ValueError(f"control character U+{ord(found.group()):04X} is not allowed")
    return value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @field_validator("*", mode="after")
    @classmethod
    def _clean_text(cls, value: Any) -> Any:
        if isinstance(value, str):
            return _no_control_chars(value)
        return value


class Amount(_Model):
    """An amount of money: a Decimal and its unit, never a float."""

    value: Decimal = Field(ge=0, max_digits=20, decimal_places=4, description="金额")
    unit: Literal["元", "万元"] = Field(default="元", description="单位: 元 or 万元")

    @field_validator("value", mode="before")
    @classmethod
    def _no_float(cls, value: Any) -> Any:
        # A float has already lost cents (0.1 + 0.2); amounts come as strings or integers.
        if isinstance(value, float):
            if not math.isfinite(value):
                raise ValueError("must be a finite amount")
            raise ValueError("give amounts as a string or an integer, not a float")
        return value

    def in_yuan(self) -> Decimal:
        return self.value * 10_000 if self.unit == "万元" else self.value

    def __str__(self) -> str:
        return f"{self.value} {self.unit}"


class Contact(_Model):
    person: ShortText | None = Field(default=None, description="联系人")
    phone: Annotated[str, StringConstraints(pattern=r"^[0-9+() -]{3,40}$")] | None = Field(
        default=None, description="联系电话"
    )
    email: Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")] | None = None
    address: Text | None = Field(default=None, description="地址")


class Party(_Model):
    """A publisher, tenderer, agency, bidder or buyer."""

    name: ShortText = Field(description="名称")
    credit_code: CreditCode | None = None
    contact: Contact | None = None


class Deadlines(_Model):
    """文件获取期 / 投标截止 / 开标."""

    doc_sale_start: Timestamp | None = Field(default=None, description="文件获取开始")
    doc_sale_end: Timestamp | None = Field(default=None, description="文件获取截止")
    submission_deadline: Timestamp | None = Field(default=None, description="投标截止")
    bid_opening_at: Timestamp | None = Field(default=None, description="开标时间")
    bid_opening_place: Text | None = Field(default=None, description="开标地点")
    evaluation_report_at: Timestamp | None = Field(
        default=None, description="收到评标报告: candidates are published within 3 days of it"
    )
    award_decided_at: Timestamp | None = Field(
        default=None,
        description="确定中标、成交供应商: a procurement result follows within 2 工作日",
    )

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.doc_sale_start and self.doc_sale_end and self.doc_sale_end < self.doc_sale_start:
            raise ValueError("doc_sale_end is before doc_sale_start")
        if (
            self.doc_sale_start
            and self.submission_deadline
            and self.submission_deadline < self.doc_sale_start
        ):
            raise ValueError("submission_deadline is before doc_sale_start")
        if (
            self.submission_deadline
            and self.bid_opening_at
            and self.bid_opening_at < self.submission_deadline
        ):
            raise ValueError("bid_opening_at is before submission_deadline")
        return self


class Attachment(_Model):
    """附件: a file that goes with the notice, pinned by its SHA-256."""

    name: Annotated[str, StringConstraints(pattern=r"^[^/\\\x00]{1,200}$")] = Field(
        description="file name, no directory part"
    )
    sha256: Sha256
    media_type: Annotated[str, StringConstraints(pattern=r"^[\w.+-]+/[\w.+-]+$")] = (
        "application/octet-stream"
    )
    size: Count | None = Field(default=None, ge=0)
    url: HttpUrl | None = None
    path: Annotated[str, StringConstraints(min_length=1, max_length=1000)] | None = Field(
        default=None, description="relative to the attachments folder of the channels file"
    )

    @field_validator("name")
    @classmethod
    def _not_dots(cls, value: str) -> str:
        if value in {".", ".."}:
            raise ValueError("not a file name")
        return value

    @field_validator("path")
    @classmethod
    def _inside(cls, value: str | None) -> str | None:
        # The worker reads this file from its own disk: nothing absolute, nothing above.
        if value is None:
            return value
        posix, windows = PurePosixPath(value), PureWindowsPath(value)
        if windows.drive or windows.root or posix.is_absolute() or ".." in windows.parts:
            raise ValueError("a relative path inside the attachments folder, without '..'")
        return value

    @model_validator(mode="after")
    def _located(self) -> Self:
        if self.url is None and self.path is None:
            raise ValueError("an attachment needs a url or a path")
        return self


# --- extension blocks ------------------------------------------------------


class Candidate(_Model):
    """中标候选人."""

    rank: Count = Field(ge=1, le=20, description="排名")
    name: ShortText = Field(description="候选人名称")
    credit_code: CreditCode | None = None
    bid_price: Amount | None = Field(default=None, description="投标报价")
    duration_days: Count | None = Field(default=None, ge=1, description="工期(日历天)")
    project_manager: ShortText | None = Field(default=None, description="项目经理")


class ConstructionBlock(_Model):
    """工程建设: maximum price, candidates, winner."""

    max_price: Amount | None = Field(default=None, description="最高投标限价")
    candidates: list[Candidate] = Field(default_factory=list, max_length=20)
    winner: ShortText | None = Field(default=None, description="中标人")
    award_price: Amount | None = Field(default=None, description="中标价")

    @model_validator(mode="after")
    def _ranks_unique(self) -> Self:
        ranks = [c.rank for c in self.candidates]
        if len(ranks) != len(set(ranks)):
            raise ValueError("candidate ranks must be unique")
        return self


class ProcurementMethod(StrEnum):
    open_tender = "open_tender"  # 公开招标
    invited_tender = "invited_tender"  # 邀请招标
    competitive_negotiation = "competitive_negotiation"  # 竞争性谈判
    competitive_consultation = "competitive_consultation"  # 竞争性磋商
    inquiry = "inquiry"  # 询价
    single_source = "single_source"  # 单一来源


class ProcurementPackage(_Model):
    """采购包."""

    number: Annotated[str, StringConstraints(min_length=1, max_length=20)] = Field(
        description="包号"
    )
    name: ShortText = Field(description="包名称")
    budget: Amount | None = Field(default=None, description="预算金额")
    quantity: Text | None = Field(default=None, description="数量")


class Award(_Model):
    """成交结果."""

    package: Annotated[str, StringConstraints(min_length=1, max_length=20)] = Field(
        description="包号"
    )
    supplier: ShortText = Field(description="成交供应商")
    credit_code: CreditCode | None = None
    amount: Amount = Field(description="成交金额")


class ProcurementBlock(_Model):
    """政府采购: method, budget, packages, award."""

    method: ProcurementMethod = Field(description="采购方式")
    budget: Amount | None = Field(default=None, description="预算金额")
    packages: list[ProcurementPackage] = Field(default_factory=list, max_length=100)
    award: list[Award] = Field(default_factory=list, max_length=100)


class Parcel(_Model):
    """宗地: one parcel of land or one mining right."""

    parcel_no: ShortText = Field(description="宗地编号")
    location: Text = Field(min_length=1, description="坐落")
    area_m2: Decimal = Field(gt=0, max_digits=16, decimal_places=4, description="面积(平方米)")
    use: ShortText = Field(description="用途")
    term_years: Count = Field(ge=1, le=70, description="出让年限")
    plot_ratio: Annotated[str, StringConstraints(max_length=40)] | None = Field(
        default=None, description="容积率, e.g. '1.0≤容积率≤2.5'"
    )
    start_price: Amount = Field(description="起始价")
    increment: Amount = Field(description="加价幅度")
    deposit: Amount = Field(description="保证金")
    winner: ShortText | None = Field(default=None, description="竞得人")
    deal_price: Amount | None = Field(default=None, description="成交价")

    @field_validator("area_m2", mode="before")
    @classmethod
    def _no_float(cls, value: Any) -> Any:
        if isinstance(value, float):
            raise ValueError("give the area as a string or an integer, not a float")
        return value


class LandMethod(StrEnum):
    auction = "auction"  # 拍卖
    listing = "listing"  # 挂牌
    tender = "tender"  # 招标


class LandMineralBlock(_Model):
    """土地矿产: parcels, method, listing window."""

    method: LandMethod = Field(description="出让方式")
    parcels: list[Parcel] = Field(min_length=1, max_length=100)
    listing_start: Timestamp | None = Field(default=None, description="挂牌起始时间")
    listing_end: Timestamp | None = Field(default=None, description="挂牌截止时间")
    auction_at: Timestamp | None = Field(
        default=None, description="拍卖会或开标时间 (auction, tender)"
    )

    @model_validator(mode="after")
    def _window(self) -> Self:
        if self.listing_start and self.listing_end and self.listing_end <= self.listing_start:
            raise ValueError("listing_end must be after listing_start")
        numbers = [p.parcel_no for p in self.parcels]
        if len(numbers) != len(set(numbers)):
            raise ValueError("parcel numbers must be unique")
        return self


class StatePropertyBlock(_Model):
    """国有产权: appraisal, reserve price, disclosure period, deal."""

    appraisal: Amount | None = Field(default=None, description="评估值")
    reserve_price: Amount | None = Field(default=None, description="转让底价")
    disclosure_start: Timestamp | None = Field(default=None, description="披露开始")
    disclosure_end: Timestamp | None = Field(default=None, description="披露截止")
    transferor: ShortText | None = Field(default=None, description="转让方")
    transferee: ShortText | None = Field(default=None, description="受让方")
    deal_price: Amount | None = Field(default=None, description="成交价")

    @model_validator(mode="after")
    def _window(self) -> Self:
        if (
            self.disclosure_start
            and self.disclosure_end
            and self.disclosure_end <= self.disclosure_start
        ):
            raise ValueError("disclosure_end must be after disclosure_start")
        return self


_BLOCK_FOR: dict[str, Category] = {
    "construction": Category.construction,
    "procurement": Category.procurement,
    "land_mineral": Category.land_mineral,
    "state_property": Category.state_property,
}


class Notice(_Model):
    """One canonical notice in one version; (id, version) is its idempotency key."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        allow_inf_nan=False,
        title="Notice",
        json_schema_extra={"$id": "https://syndicate.invalid/schema/notice.json"},
    )

    id: NoticeId
    version: Count = Field(default=1, ge=1, le=10_000, description="版本")
    nature: Nature = Field(default=Nature.original, description="公告性质")
    category: Category = Field(description="业务类别")
    notice_type: NoticeType = Field(description="公告类型")
    project_code: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][\w.()（）-]{0,63}$")] | (
        None
    ) = Field(default=None, description="项目编号; required except for work news")
    title: Annotated[str, StringConstraints(min_length=1, max_length=300)] = Field(
        description="标题"
    )
    body_html: Annotated[str, StringConstraints(min_length=1, max_length=MAX_BODY_CHARS)] = Field(
        description="正文 (HTML)"
    )
    summary: Annotated[str, StringConstraints(max_length=500)] | None = Field(
        default=None, description="摘要: feeds short channels such as LED screens"
    )
    region_code: RegionCode
    publisher: Party = Field(description="发布单位")
    tenderer: Party | None = Field(default=None, description="招标人/采购人/出让人")
    agency: Party | None = Field(default=None, description="代理机构")
    publish_at: Timestamp = Field(description="发布时间: not published before this")
    valid_until: Timestamp | None = Field(default=None, description="公示截止")
    deadlines: Deadlines | None = None
    attachments: list[Attachment] = Field(default_factory=list, max_length=50)
    channels: (
        list[Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]] | None
    ) = Field(
        default=None,
        description="explicit channel list; when given, routes are not consulted",
        max_length=50,
    )
    construction: ConstructionBlock | None = None
    procurement: ProcurementBlock | None = None
    land_mineral: LandMineralBlock | None = None
    state_property: StatePropertyBlock | None = None

    @field_validator("body_html")
    @classmethod
    def _parsable(cls, value: str) -> str:
        # Refused here, in one linear pass, rather than left to stall every channel's parser.
        problem = markup_problem(value)
        if problem is not None:
            raise ValueError(f"HTML refused: {problem}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        allowed = ALLOWED_TYPES[self.category]
        if self.notice_type not in allowed:
            names = ", ".join(sorted(allowed))
            raise ValueError(
                f"notice_type {self.notice_type.value!r} does not belong to category "
                f"{self.category.value!r} (allowed: {names})"
            )
        if self.category is not Category.work_news and self.project_code is None:
            raise ValueError("project_code is required except for work news")
        if self.valid_until is not None and self.valid_until <= self.publish_at:
            raise ValueError("valid_until must be after publish_at")
        for block, category in _BLOCK_FOR.items():
            if getattr(self, block) is not None and self.category is not category:
                raise ValueError(
                    f"the {block} block belongs to category {category.value!r}, "
                    f"not {self.category.value!r}"
                )
        files = [a.name for a in self.attachments]
        if len(files) != len(set(files)):
            raise ValueError("attachment names must be unique")
        return self

    # --- identity ----------------------------------------------------------

    @property
    def key(self) -> str:
        """``id`` and ``version`` as one string, e.g. ``HYZB-2016-001.v2``."""
        return f"{self.id}.v{self.version}"

    def canonical_json(self) -> str:
        """The notice as canonical JSON: sorted keys, no insignificant whitespace."""
        data = self.model_dump(mode="json", exclude_none=True)
        return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))

    def digest(self) -> str:
        """SHA-256 of the canonical JSON; equal content gives an equal digest."""
        return digest_of(self.canonical_json())

    def is_expired(self, now: datetime) -> bool:
        return self.valid_until is not None and self.valid_until <= now

    # --- parsing -------------------------------------------------------------

    @classmethod
    def parse(cls, data: Any, *, source: str | None = None) -> Notice:
        """Validate ``data`` (a dict, JSON text or bytes); refuse with every problem named."""
        if isinstance(data, str | bytes) and len(data) > MAX_NOTICE_BYTES:
            raise NoticeError([_too_large(len(data), source)])
        if isinstance(data, bytes):
            try:
                data = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise NoticeError(
                    [Problem("", f"not valid UTF-8 at byte {exc.start}", source=source)]
                ) from None
        if isinstance(data, str):
            data = loads_notice_json(data, source=source)
        if not isinstance(data, dict):
            raise NoticeError([Problem("", "a notice must be a JSON object", source=source)])
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise NoticeError(problems_from_validation(exc, source=source)) from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Two values for one field: other parsers on the way may read the other one.
    data: dict[str, Any] = {}
    for key, value in pairs:
        if key in data:
            raise ValueError(f"duplicate key {key!r}")
        data[key] = value
    return data


def _too_large(size: int, source: str | None) -> Problem:
    return Problem(
        "",
        f"too large for a notice ({size:,} bytes; at most {MAX_NOTICE_BYTES >> 20} MB)",
        source=source,
    )


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"?')
_BRACKET = re.compile(r"[\[\]{}]")


def json_depth(text: str) -> int:
    """The deepest nesting of ``text``'s arrays and objects, counted without parsing (linear)."""
    depth = deepest = 0
    for m in _BRACKET.finditer(_STRING.sub("", text)):
        if m.group() in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def digest_of(canonical_json: str) -> str:
    """``Notice.digest`` from the canonical JSON a caller already holds (it is not cheap)."""
    return hashlib.sha256(canonical_json.encode("utf-8")).hexdigest()


def loads_notice_json(text: str, *, source: str | None = None, max_depth: int = MAX_DEPTH) -> Any:
    """Parse JSON the strict way: no NaN or Infinity, decimals kept as Decimal, no duplicate keys.

    Nesting deeper than ``max_depth`` is refused before parsing starts.
    """
    # Fewer brackets in all than the limit (strings included) cannot nest deeper: the
    # common case, counted in C, with no need to find where each string ends.
    if text.count("{") + text.count("[") > max_depth and json_depth(text) > max_depth:
        raise NoticeError(
            [Problem("", f"JSON nested too deeply (more than {max_depth} levels)", source=source)]
        )
    try:
        return json.loads(
            text,
            parse_float=Decimal,
            parse_constant=_reject_constant,
            object_pairs_hook=_no_duplicate_keys,
        )
    except RecursionError:
        raise NoticeError([Problem("", "JSON nested too deeply", source=source)]) from None
    except ValueError as exc:
        line = getattr(exc, "lineno", None)
        msg = getattr(exc, "msg", str(exc))
        column = getattr(exc, "colno", None)
        if column is not None:
            msg = f"{msg} at column {column}"
        raise NoticeError(
            [Problem("", f"not valid JSON: {msg}", source=source, line=line)]
        ) from None


_PATTERN_MEANS = {
    r"^[1-9][0-9]{5}$": "must be a six-digit region code (行政区划代码), e.g. 441600",
    r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$": (
        "must be 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit"
    ),
    r"^[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}$": (
        "must be an 18-character unified social credit code (统一社会信用代码)"
    ),
    r"^[0-9a-f]{64}$": "must be a SHA-256 digest: 64 lowercase hexadecimal digits",
    r"^[a-z0-9][a-z0-9_-]{0,63}$": (
        "must be 1-64 lowercase letters, digits, '_' or '-', starting with a letter or digit"
    ),
}


def problems_from_validation(exc: ValidationError, *, source: str | None = None) -> list[Problem]:
    """Turn pydantic's errors into Problems that name the field, never echo the value."""
    problems = []
    for err in exc.errors(include_url=False, include_input=False):
        path = ".".join(str(part) for part in err["loc"])
        message = err["msg"]
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        if err["type"] == "extra_forbidden":
            message = "unknown field"
        elif err["type"] == "string_pattern_mismatch":
            message = _PATTERN_MEANS.get(str(err.get("ctx", {}).get("pattern")), message)
        problems.append(Problem(path, message, source=source))
    return problems


def notice_schema() -> dict[str, Any]:
    """The JSON Schema of a notice, as published for upstream systems."""
    schema = Notice.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema

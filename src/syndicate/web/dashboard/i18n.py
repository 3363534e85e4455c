"""The dashboard's words in Chinese (the default) and English, and which one a request gets.

One catalogue: a key per phrase, its zh-CN and en text side by side, so a
missing translation shows up as a one-sided entry in review, not as a blank
on screen. Category and notice-type labels come from ``syndicate.labels``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ...labels import CATEGORY_LABELS, TYPE_LABELS

LANGUAGES = ("zh", "en")
DEFAULT = "zh"
HTML_LANG = {"zh": "zh-CN", "en": "en"}

# key: (zh-CN, en)
MESSAGES: dict[str, tuple[str, str]] = {
    "app": ("信息发布同步台", "Syndicate"),
    "app.tagline": ("公共资源交易信息多渠道发布", "Multi-channel publishing of trading notices"),
    "nav": ("主导航", "Main navigation"),
    "nav.overview": ("总览", "Overview"),
    "nav.notices": ("公告", "Notices"),
    "nav.attempts": ("发送记录", "Attempt log"),
    "nav.failures": ("失败处理", "Failures"),
    "nav.report": ("年度报告", "Yearly report"),
    "nav.language": ("语言", "Language"),
    "nav.skip": ("跳到正文", "Skip to content"),
    "signin": ("登录", "Sign in"),
    "signin.title": ("使用 API 令牌登录", "Sign in with an API token"),
    "signin.token": ("API 令牌", "API token"),
    "signin.hint": (
        "令牌由 syndicate token create 生成；read 权限可查看，operate 权限可重发和暂停渠道。",
        "Tokens come from syndicate token create; read scope to look, "
        "operate scope to replay or pause channels.",
    ),
    "signin.bad": ("令牌无效或已吊销。", "The token is unknown or revoked."),
    "signin.scope": (
        "此令牌没有 read 权限，不能查看台账。",
        "This token lacks the read scope and cannot look at the ledger.",
    ),
    "signout": ("退出", "Sign out"),
    "signed_in_as": ("当前令牌", "Signed in as"),
    "csrf.bad": (
        "表单已过期或来源不明，请刷新页面后重试。",
        "The form expired or did not come from this page; reload and try again.",
    ),
    "forbidden.operate": (
        "此令牌没有 operate 权限，不能执行此操作。",
        "This token lacks the operate scope needed for this.",
    ),
    "not_found": ("未找到", "Not found"),
    "bad_query": ("查询条件有误", "The query is wrong"),
    "times_note": ("时间均为北京时间（Asia/Shanghai）", "Times are Asia/Shanghai"),
    # states
    "state.pending": ("待发送", "pending"),
    "state.in_flight": ("发送中", "in flight"),
    "state.delivered": ("已送达", "delivered"),
    "state.failed": ("失败", "failed"),
    "state.dead": ("已放弃", "dead"),
    "state.superseded": ("已被新版本取代", "superseded"),
    "purpose.withdrawal": ("撤回", "withdrawal"),
    "purpose.expiry": ("到期撤下", "expiry"),
    "withdrawal.done": ("本公告已撤回", "This notice was withdrawn"),
    "withdrawal.title": ("撤回公告", "Withdraw this notice"),
    "withdrawal.explain": (
        "撤回本公告的所有版本：尚未发出的投递不再发出，已发布的渠道将收到撤回。撤回后不能再接收新版本。",
        "Withdraws every version: deliveries not yet sent are cancelled, and every channel "
        "that carries it is sent a withdrawal. No version is accepted after it.",
    ),
    "withdrawal.reason": ("撤回原因", "Reason"),
    "withdrawal.confirm": ("确认撤回本公告", "I confirm the withdrawal"),
    "withdrawal.submit": ("撤回", "Withdraw"),
    "withdrawal.recorded": (
        "已撤回；撤回正在送往各渠道。",
        "Withdrawn; the channels are being told.",
    ),
    "withdrawal.unconfirmed": (
        "撤回未执行：请勾选确认。",
        "Nothing was withdrawn: tick the box to confirm.",
    ),
    "state.cancelled": ("已撤销", "cancelled"),
    "state.none": ("未路由", "not routed"),
    "nstate.awaiting_approval": ("待审批", "awaiting approval"),
    "nstate.rejected": ("审批未通过", "rejected"),
    "nstate.publishing": ("发布中", "publishing"),
    "nstate.published": ("已全部发布", "published"),
    "nstate.partly_published": ("部分发布", "partly published"),
    "nstate.superseded": ("已被新版本取代", "superseded"),
    "nstate.withdrawn": ("已撤回", "withdrawn"),
    "outcome.delivered": ("送达", "delivered"),
    "outcome.transient": ("暂时失败", "transient"),
    "outcome.permanent": ("永久失败", "permanent"),
    "outcome.in_doubt": ("结果不明", "in doubt"),
    "circuit.closed": ("正常", "closed"),
    "circuit.open": ("熔断中", "circuit open"),
    "circuit.half_open": ("试探恢复", "half open"),
    "channel.enabled": ("启用", "enabled"),
    "channel.disabled": ("停用", "disabled"),
    "channel.paused": ("已暂停", "paused"),
    "channel.running": ("运行中", "running"),
    # overview
    "overview.title": ("渠道总览", "Channel overview"),
    "overview.today": ("今日", "Today"),
    "overview.today.notices": ("今日受理公告", "Notices accepted today"),
    "overview.today.delivered": ("今日送达", "Delivered today"),
    "overview.today.failed": ("今日失败", "Failed attempts today"),
    "overview.incidents": ("未结事件", "Open incidents"),
    "overview.no_incidents": ("没有未结事件。", "No open incidents."),
    "overview.refreshed": ("更新于", "Updated"),
    "card.backlog": ("积压", "Backlog"),
    "card.oldest": ("最早待发", "Oldest pending"),
    "card.rate_1h": ("1 小时成功率", "Success 1 h"),
    "card.rate_24h": ("24 小时成功率", "Success 24 h"),
    "card.last_error": ("最近错误", "Last error"),
    "card.no_error": ("无", "none"),
    "card.no_attempts": ("无尝试", "no attempts"),
    "incident.circuit": ("渠道熔断", "Circuit open"),
    "incident.paused": ("渠道已暂停", "Channel paused"),
    "incident.dead": ("有放弃的投递", "Dead deliveries"),
    "incident.failed": ("有失败的投递", "Failed deliveries"),
    "incident.stale": ("积压等待过久", "Backlog waiting long"),
    # notices
    "notices.title": ("公告发布矩阵", "Notices by channel"),
    "notices.filters": ("筛选", "Filters"),
    "notices.search": ("标题或项目编号", "Title or project code"),
    "notices.apply": ("筛选", "Apply"),
    "notices.reset": ("清除", "Reset"),
    "notices.none": ("没有符合条件的公告。", "No notice matches."),
    "notices.more": ("下一页（更早）", "Next page (older)"),
    "notices.first": ("第一页", "First page"),
    "field.category": ("业务类别", "Category"),
    "field.type": ("公告类型", "Notice type"),
    "field.region": ("行政区划代码", "Region code"),
    "field.state": ("状态", "State"),
    "field.since": ("受理起", "Accepted from"),
    "field.until": ("受理止", "Accepted until"),
    "field.any": ("全部", "any"),
    "field.notice": ("公告", "Notice"),
    "field.id": ("公告标识", "Notice id"),
    "field.version": ("版本", "Version"),
    "field.title": ("标题", "Title"),
    "field.project_code": ("项目编号", "Project code"),
    "field.accepted_at": ("受理时间", "Accepted"),
    "field.publish_at": ("发布时间", "Publish at"),
    "field.channel": ("渠道", "Channel"),
    "field.outcome": ("结果", "Outcome"),
    "field.error_class": ("错误类型", "Error class"),
    "field.time": ("时间", "Time"),
    "field.attempt": ("次数", "Attempt"),
    "field.worker": ("执行进程", "Worker"),
    "field.detail": ("详情", "Detail"),
    "field.digest": ("内容摘要 SHA-256", "Content SHA-256"),
    "field.count": ("数量", "Count"),
    "field.year": ("年度", "Year"),
    # detail
    "detail.versions": ("版本", "Versions"),
    "approval.title": ("审批", "Approval"),
    "approval.steps": ("审批环节", "Steps"),
    "approval.pending": ("待审批环节", "Awaiting"),
    "approval.none": ("尚无审批记录", "No decision yet"),
    "approval.by": ("审批人", "Approver"),
    "approval.comment": ("意见", "Comment"),
    "approval.via": ("经由", "via"),
    "approval.digest_seen": ("审批所见内容摘要", "Digest seen"),
    "approval.other_digest": ("与本版本内容摘要不符", "not this version's digest"),
    "approval.decision.approved": ("同意", "approved"),
    "approval.decision.rejected": ("不同意", "rejected"),
    "approval.approve": ("同意发布", "Approve"),
    "approval.reject": ("不同意（须填写理由）", "Reject (give the reason)"),
    "approval.form": (
        "审批本版本（内容摘要 {digest}）的“{step}”环节",
        "Decide step “{step}” of this version (content digest {digest})",
    ),
    "approval.done.approved": ("已记录同意", "Approval recorded"),
    "approval.done.rejected": (
        "已记录不同意；本版本不会发布",
        "Rejection recorded; this version will not be published",
    ),
    "detail.nature.original": ("原公告", "original"),
    "detail.deliveries": ("各渠道投递", "Delivery per channel"),
    "detail.receipt": ("回执", "Receipt"),
    "detail.remote_id": ("远端编号", "Remote id"),
    "detail.remote_url": ("远端地址", "Remote URL"),
    "detail.key": ("幂等键", "Idempotency key"),
    "detail.timeline": ("尝试记录", "Attempt timeline"),
    "detail.payload_sha": ("已发送内容 SHA-256", "SHA-256 of what was sent"),
    "detail.preview": ("发送内容预览", "Preview of what the channel received"),
    "detail.preview.matches": (
        "与记录的摘要一致：这正是渠道收到的内容。",
        "Matches the recorded digest: this is exactly what the channel received.",
    ),
    "detail.preview.attempted": (
        "与最近一次尝试发送的内容摘要一致（渠道未确认收到）。",
        "Matches the digest of what the latest attempt sent (the channel did not confirm it).",
    ),
    "detail.preview.differs": (
        "与记录的摘要不一致：渠道配置或模板在发送后已改变，以下为按当前配置生成的内容。",
        "Differs from the recorded digest: the channel's settings or template changed "
        "since; this is what it would receive now.",
    ),
    "detail.preview.unsent": (
        "尚未发送：以下为渠道将收到的内容。",
        "Not sent yet: this is what the channel will receive.",
    ),
    "detail.preview.unavailable": ("无法生成预览", "No preview"),
    "detail.preview.binary": ("二进制内容，未显示", "binary content, not shown"),
    "detail.no_attempts": ("尚无尝试。", "No attempt yet."),
    "detail.next_attempt": ("下次尝试", "Next attempt"),
    # attempts
    "attempts.title": ("发送记录", "Attempt log"),
    "attempts.csv": ("下载 CSV", "Download CSV"),
    "attempts.none": ("没有符合条件的记录。", "No attempt matches."),
    "attempts.from": ("开始时间起", "Started from"),
    "attempts.to": ("开始时间止", "Started until"),
    # failures
    "failures.title": ("失败与放弃的投递", "Failed and dead deliveries"),
    "failures.none": ("没有失败或放弃的投递。", "No failed or dead delivery."),
    "failures.group": ("按渠道和错误分组", "Grouped by channel and error"),
    "failures.latest": ("最近一次", "Latest"),
    "failures.replay": ("重发", "Replay"),
    "failures.replay.title": ("按条件重发", "Replay by filter"),
    "failures.replay.count": (
        "将重发 {n} 个投递。确认？",
        "{n} deliveries will be replayed. Confirm?",
    ),
    "failures.replay.nothing": (
        "没有符合条件的投递可重发。",
        "No delivery matches; nothing to replay.",
    ),
    "failures.replay.confirm": ("确认重发", "Confirm replay"),
    "failures.replay.cancel": ("取消", "Cancel"),
    "failures.replay.check": ("预览数量", "Count first"),
    "failures.replay.done": ("已重发 {n} 个投递。", "{n} deliveries replayed."),
    "failures.channels": ("渠道暂停与恢复", "Pause and resume channels"),
    "channel.pause": ("暂停", "Pause"),
    "channel.resume": ("恢复", "Resume"),
    "channel.paused_by": ("暂停人", "Paused by"),
    "channel.paused_done": ("渠道 {name} 已暂停。", "Channel {name} paused."),
    "channel.resumed_done": ("渠道 {name} 已恢复。", "Channel {name} resumed."),
    # report
    "report.title": ("年度信息发布统计", "Yearly publication report"),
    "report.notices": ("公告数", "Notices"),
    "report.total": ("合计", "Total"),
    "report.show": ("查看", "Show"),
    "report.csv": ("下载 CSV", "Download CSV"),
    "report.chart": ("各业务类别公告数", "Notices by category"),
    "report.not_delivered": ("未送达投递", "Deliveries not delivered"),
    "report.caption": (
        "{year} 年发布的公告（按发布时间），各渠道为已送达的投递数。",
        "Notices published in {year} (by publish time); per channel, deliveries delivered.",
    ),
    "ago.s": ("{n} 秒", "{n} s"),
    "ago.m": ("{n} 分钟", "{n} min"),
    "ago.h": ("{n} 小时", "{n} h"),
    "ago.d": ("{n} 天", "{n} d"),
}

_ENGLISH_CATEGORIES = {
    "construction": "Construction",
    "procurement": "Procurement",
    "land_mineral": "Land and minerals",
    "state_property": "State property",
    "work_news": "Work news",
}


@dataclass(frozen=True)
class Translator:
    """The words of one language; ``t(key, **values)`` fills ``{name}`` placeholders."""

    lang: str

    @property
    def html_lang(self) -> str:
        return HTML_LANG[self.lang]

    def t(self, key: str, **values: object) -> str:
        pair = MESSAGES.get(key)
        if pair is None:
            return key
        text = pair[LANGUAGES.index(self.lang)]
        return text.format(**values) if values else text

    def category(self, category: str) -> str:
        if self.lang == "en":
            return _ENGLISH_CATEGORIES.get(category, category)
        return CATEGORY_LABELS.get(category, category)

    def notice_type(self, notice_type: str) -> str:
        if self.lang == "en":
            return notice_type.replace("_", " ")
        return TYPE_LABELS.get(notice_type, notice_type)

    @property
    def categories(self) -> Mapping[str, str]:
        return {c: self.category(c) for c in CATEGORY_LABELS}

    @property
    def notice_types(self) -> Mapping[str, str]:
        return {t: self.notice_type(t) for t in TYPE_LABELS}


def negotiate(asked: str | None, remembered: str | None, accept_language: str | None) -> str:
    """``?lang=`` first, then the remembered choice, then the browser's preference, else zh."""
    for choice in (asked, remembered):
        if choice in LANGUAGES:
            return choice
    return _from_header(accept_language or "")


def _from_header(header: str) -> str:
    ranked: list[tuple[float, int, str]] = []
    for i, item in enumerate(header.split(",")):
        tag, _, params = item.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGUAGES and quality > 0:
            ranked.append((-quality, i, primary))
    return min(ranked)[2] if ranked else DEFAULT

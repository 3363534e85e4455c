"""syndicate: one canonical notice, pushed to every channel that must carry it, with a ledger."""

from .adapter import Adapter, BlockingAdapter, DeliveryContext, Options, Payload, Receipt
from .errors import (
    ConfigError,
    DeliveryError,
    LedgerVersionError,
    NoticeConflict,
    NoticeError,
    PermanentDeliveryError,
    StoreError,
    SyndicateError,
    TransientDeliveryError,
    UnroutableNotice,
)
from .notice import Category, Nature, Notice, NoticeType
from .registry import AdapterRegistry
from .syndicator import Accepted, Syndicator

__version__ = "0.1.0"

__all__ = [
    "Accepted",
    "Adapter",
    "AdapterRegistry",
    "BlockingAdapter",
    "Category",
    "ConfigError",
    "DeliveryContext",
    "DeliveryError",
    "LedgerVersionError",
    "Nature",
    "Notice",
    "NoticeConflict",
    "NoticeError",
    "NoticeType",
    "Options",
    "Payload",
    "PermanentDeliveryError",
    "Receipt",
    "StoreError",
    "SyndicateError",
    "Syndicator",
    "TransientDeliveryError",
    "UnroutableNotice",
]

"""syndicate: one canonical notice, pushed to every channel that must carry it, with a ledger."""

from .__version__ import __version__
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
    "__version__",
]

"""The store URL, parsed in one place: which backend, and where."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from ..errors import StoreError

SCHEMES = ("sqlite", "postgresql")


@dataclass(frozen=True)
class StoreUrl:
    """``sqlite:///path`` (a file) or ``postgresql://user@host:port/db`` (a server)."""

    scheme: str
    path: str = ""  # sqlite: the file (or ":memory:")
    dsn: str = ""  # postgresql: the URL as libpq takes it

    def __str__(self) -> str:
        return f"sqlite:///{self.path}" if self.scheme == "sqlite" else self.dsn

    def redacted(self) -> str:
        """The URL fit for a log line or an error message: no password."""
        if self.scheme == "sqlite":
            return str(self)
        parts = urlsplit(self.dsn)
        if parts.password is None:
            return self.dsn
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return parts._replace(netloc=netloc).geturl()


def parse_store_url(url: str, base_dir: Path | None = None) -> StoreUrl:
    """Parse ``url``; a relative SQLite path (or a bare path) is taken against ``base_dir``."""
    url = url.strip()
    if "://" not in url:
        path = url
    elif url.startswith("sqlite:///"):
        path = url[len("sqlite:///") :]
    elif url.startswith(("postgresql://", "postgres://")):
        parts = urlsplit(url)
        if not parts.hostname and not parts.path.strip("/"):
            raise StoreError(f"store URL {url!r} names neither a host nor a database")
        return StoreUrl("postgresql", dsn=url)
    else:
        scheme = url.split("://", 1)[0]
        raise StoreError(
            f"unsupported store URL scheme {scheme!r} "
            "(use sqlite:///path or postgresql://user@host/database)"
        )
    if not path:
        raise StoreError(f"store URL {url!r} has no file path")
    if base_dir is not None and path != ":memory:" and not Path(path).is_absolute():
        path = str(base_dir / path)
    return StoreUrl("sqlite", path=path)

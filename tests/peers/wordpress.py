"""A real CMS: Debian's WordPress 6.1 served by PHP's built-in server on loopback.

Each run gets a database of its own in the MariaDB on 127.0.0.1:3306 (root,
no password) and a loopback address of its own (127.0.0.N): Debian's
wp-config.php picks /etc/wordpress/config-<host>.php by the request's host,
so runs side by side never share a config;
pretty permalinks (``/<slug>/``), an installed site with an administrator and
an application password for the REST API. ``stop`` ends the server and drops
the database. scripts/test installs the packages; a missing piece is a test
failure that says what to install, never a skip.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

DOCROOT = Path("/usr/share/wordpress")
CONFIG_DIR = Path("/etc/wordpress")
CONTENT_DIR = Path("/var/lib/wordpress/wp-content")
SOCKET = Path("/run/mysqld/mysqld.sock")
PACKAGES = "wordpress php8.2-cli php8.2-mysql (and a MariaDB or MySQL server on 127.0.0.1:3306)"
ADMIN = "admin"
SALTS = [
    f"{what}_{kind}"
    for kind in ("KEY", "SALT")
    for what in ("AUTH", "SECURE_AUTH", "LOGGED_IN", "NONCE")
]


class PeerSetupError(RuntimeError):
    """A real peer could not be installed, configured or started."""


def mysql(sql: str, database: str | None = None) -> str:
    """Run SQL as MariaDB's root; the tab-separated output."""
    args = ["mariadb", "-uroot", "--batch", "--skip-column-names"]
    if not SOCKET.exists():  # root by the server's socket where there is one, else over TCP
        args += ["-h127.0.0.1", "-P3306"]
    if database:
        args.append(database)
    try:
        done = subprocess.run(args, input=sql, capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        raise PeerSetupError(f"WordPress peer: no mariadb client; install {PACKAGES}") from None
    if done.returncode != 0:
        raise PeerSetupError(f"WordPress peer: MariaDB refused {sql[:80]!r}: {done.stderr.strip()}")
    return done.stdout


@dataclass
class WordPress:
    """One running WordPress site; ``api(route)`` is a REST URL that needs no permalinks."""

    root: Path
    host: str = ""
    port: int = 0
    name: str = field(default_factory=lambda: f"syndicate{secrets.token_hex(4)}")
    app_password: str = ""
    admin_password: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def config_file(self) -> Path:
        return CONFIG_DIR / f"config-{self.host}.php"

    def api(self, route: str, **query: str) -> str:
        params = urllib.parse.urlencode({"rest_route": route, **query})
        return f"{self.url}/?{params}"

    # --- life cycle -----------------------------------------------------------

    def start(self) -> None:
        for tool in ("php", "mariadb"):
            if shutil.which(tool) is None:
                raise PeerSetupError(f"WordPress peer: {tool} not found; install {PACKAGES}")
        if not (DOCROOT / "wp-settings.php").is_file():
            raise PeerSetupError(f"WordPress peer: {DOCROOT} is missing; install {PACKAGES}")
        self.root.mkdir(parents=True, exist_ok=True)
        self._database()
        self._config()
        self._serve()
        self._install()
        self.app_password = self._application_password()

    def stop(self) -> None:
        if self.process is not None:
            group = self.process.pid  # the leader of its own session
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)  # a worker that outlived its parent
            self.process = None
        if self.host:
            with contextlib.suppress(OSError):
                self.config_file.unlink()
        with contextlib.suppress(PeerSetupError):
            mysql(f"DROP DATABASE IF EXISTS {self.name}; DROP USER IF EXISTS '{self.name}'@'%';")

    def _database(self) -> None:
        mysql(
            f"CREATE DATABASE {self.name} CHARACTER SET utf8mb4; "
            f"CREATE USER '{self.name}'@'%' IDENTIFIED BY '{self.name}'; "
            f"GRANT ALL ON {self.name}.* TO '{self.name}'@'%';"
        )

    def _config(self) -> None:
        salts = "\n".join(f"define('{k}', '{secrets.token_hex(32)}');" for k in SALTS)
        self._claim_host()
        self.config_file.write_text(
            f"""<?php
define('DB_NAME', '{self.name}');
define('DB_USER', '{self.name}');
define('DB_PASSWORD', '{self.name}');
define('DB_HOST', '127.0.0.1:3306');
define('DB_CHARSET', 'utf8mb4');
define('WP_CONTENT_DIR', '{CONTENT_DIR}');
define('WP_ENVIRONMENT_TYPE', 'local');
define('WP_HOME', '{self.url}');
define('WP_SITEURL', '{self.url}');
define('DISABLE_WP_CRON', true);
define('AUTOMATIC_UPDATER_DISABLED', true);
{salts}
$table_prefix = 'wp_';
""",
            encoding="utf-8",
        )

    def _claim_host(self) -> None:
        """A loopback address no other run uses: its config file is created exclusively."""
        CONFIG_DIR.mkdir(parents=True, exist_ok=True)
        for _ in range(50):
            host = f"127.0.0.{secrets.randbelow(250) + 3}"
            try:
                (CONFIG_DIR / f"config-{host}.php").open("x").close()
            except FileExistsError:
                continue
            self.host = host
            with socket.socket() as s:
                s.bind((host, 0))
                self.port = int(s.getsockname()[1])
            return
        raise PeerSetupError(f"WordPress peer: no free 127.0.0.N config name in {CONFIG_DIR}")

    def _serve(self) -> None:
        log = (self.root / "php-server.log").open("ab")
        env = {**os.environ, "PHP_CLI_SERVER_WORKERS": "4"}
        self.process = subprocess.Popen(
            ["php", "-S", f"{self.host}:{self.port}", "-t", str(DOCROOT)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            env=env,
            cwd=DOCROOT,
            # PHP_CLI_SERVER_WORKERS forks workers: a group of their own, stopped together.
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + 20
        while True:
            if self.process.poll() is not None:
                raise PeerSetupError(f"WordPress peer: php -S exited:\n{self.log()}")
            with contextlib.suppress(OSError):
                socket.create_connection((self.host, self.port), timeout=1).close()
                return
            if time.monotonic() > deadline:
                raise PeerSetupError(f"WordPress peer: php -S did not listen:\n{self.log()}")
            time.sleep(0.05)

    def _install(self) -> None:
        form = {
            "weblog_title": "河源市公共资源交易中心",
            "user_name": ADMIN,
            "admin_password": self.admin_password,
            "admin_password2": self.admin_password,
            "pw_weak": "1",
            "admin_email": "admin@example.test",
            "blog_public": "0",
        }
        status, body = self._request(
            f"{self.url}/wp-admin/install.php?step=2", urllib.parse.urlencode(form).encode()
        )
        if status != 200 or "wp-login.php" not in body:
            raise PeerSetupError(f"WordPress peer: install failed (HTTP {status}): {body[:500]}")
        # Links by slug (/<slug>/), as a real site publishes them.
        mysql(
            "UPDATE wp_options SET option_value = '/%postname%/' "
            "WHERE option_name = 'permalink_structure'; "
            "DELETE FROM wp_options WHERE option_name = 'rewrite_rules'; "
            # Only what the tests publish: not the sample post and page.
            "DELETE FROM wp_posts; DELETE FROM wp_postmeta; DELETE FROM wp_comments;",
            self.name,
        )

    def _application_password(self) -> str:
        """Log in as a browser would, then ask the REST API for an application password."""
        login = urllib.parse.urlencode(
            {"log": ADMIN, "pwd": self.admin_password, "testcookie": "1"}
        )
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        try:
            conn.request(
                "POST",
                "/wp-login.php",
                login,
                {
                    "Content-Type": "application/x-www-form-urlencoded",
                    "Cookie": "wordpress_test_cookie=WP%20Cookie%20check",
                },
            )
            answer = conn.getresponse()
            answer.read()
            cookies = "; ".join(
                v.split(";", 1)[0]
                for k, v in answer.getheaders()
                if k.lower() == "set-cookie" and ("_logged_in_" in v or "path=/wp-admin" in v)
            )
            conn.request(
                "GET", "/wp-admin/admin-ajax.php?action=rest-nonce", None, {"Cookie": cookies}
            )
            answer = conn.getresponse()
            nonce = answer.read().decode("utf-8", "replace").strip()
            if not re.fullmatch(r"[0-9a-f]{10}", nonce):
                raise PeerSetupError(
                    f"WordPress peer: login failed, no REST nonce ({nonce[:200]!r})"
                )
            route = urllib.parse.urlencode({"rest_route": "/wp/v2/users/me/application-passwords"})
            conn.request(
                "POST",
                f"/?{route}",
                urllib.parse.urlencode({"name": "syndicate"}),
                {
                    "Content-Type": "application/x-www-form-urlencoded",
                    "Cookie": cookies,
                    "X-WP-Nonce": nonce,
                },
            )
            answer = conn.getresponse()
            body = answer.read().decode("utf-8", "replace")
        finally:
            conn.close()
        try:
            password = str(json.loads(body).get("password", ""))
        except (ValueError, AttributeError):
            password = ""
        if not password:
            raise PeerSetupError(
                f"WordPress peer: no application password (HTTP {answer.status}): {body[:300]}"
            )
        return password

    # --- reading the site -----------------------------------------------------

    def _request(
        self, url: str, data: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, str]:
        with httpx.Client(timeout=60, trust_env=False) as client:
            answer = client.request(
                "GET" if data is None else "POST",
                url,
                content=data,
                headers={
                    **(
                        {}
                        if data is None
                        else {"Content-Type": "application/x-www-form-urlencoded"}
                    ),
                    **(headers or {}),
                },
            )
            return answer.status_code, answer.text

    @property
    def authorization(self) -> str:
        pair = f"{ADMIN}:{self.app_password}".encode()
        return "Basic " + base64.b64encode(pair).decode("ascii")

    def get_json(self, url: str) -> Any:
        status, body = self._request(url, headers={"Authorization": self.authorization})
        if status != 200:
            raise AssertionError(f"GET {url}: HTTP {status}: {body[:300]}")
        return json.loads(body)

    def posts(self) -> list[dict[str, Any]]:
        """Every post on the site in any status, as the REST API's edit context shows it."""
        found: list[dict[str, Any]] = []
        page, pages = 1, 1
        with httpx.Client(timeout=60, trust_env=False) as client:
            while page <= pages:
                query = {"status": "any", "context": "edit", "per_page": "100"}
                answer = client.get(
                    self.api("/wp/v2/posts", page=str(page), orderby="id", order="asc", **query),
                    headers={"Authorization": self.authorization},
                )
                if answer.status_code != 200:
                    raise AssertionError(
                        f"listing posts: HTTP {answer.status_code}: {answer.text[:300]}"
                    )
                found += answer.json()
                pages = int(answer.headers.get("X-WP-TotalPages", "1"))
                page += 1
        return found

    def page(self, url: str) -> tuple[int, str]:
        """What a reader's browser gets at ``url`` (no credentials)."""
        return self._request(url)

    def log(self) -> str:
        path = self.root / "php-server.log"
        return path.read_text(encoding="utf-8", errors="replace")[-3000:] if path.exists() else ""


@contextlib.contextmanager
def running_wordpress(root: Path) -> Iterator[WordPress]:
    """A WordPress site, started and stopped around the block."""
    site = WordPress(root)
    try:
        site.start()
        yield site
    finally:
        site.stop()


@pytest.fixture(scope="session")
def wordpress(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WordPress]:
    """One WordPress site for the whole run; tests tell their posts apart by notice id."""
    try:
        context = running_wordpress(tmp_path_factory.mktemp("wordpress"))
        site = context.__enter__()
    except PeerSetupError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield site
    finally:
        context.__exit__(None, None, None)

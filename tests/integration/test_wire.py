"""The lean HTTP/1.1 transport (adapters/_wire.py) against real servers on loopback.

The adapters' classification of these failures is covered end to end by
test_fault_matrix.py and test_cms_http.py; here is what the transport itself
promises: which connection a request goes on, how an answer is framed, where
it is cut, and whether a failure may have sent the request.
"""

from __future__ import annotations

import asyncio
import gzip
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import pytest
from syndicate_adapters._wire import (
    CONNECT_TIMED_OUT,
    PROBE_IDLE,
    Answer,
    CertificateRejected,
    MaybeSent,
    NotSent,
    Pool,
)

from syndicate.demo.http_sink import HttpSink, Reply
from tests.conftest import closed_port
from tests.peers.hostile import HostilePeer

if TYPE_CHECKING:
    from tests.peers.http import TlsFiles

pytestmark = pytest.mark.integration

T = TypeVar("T")
JSON = {"Content-Type": "application/json"}


@pytest.fixture(autouse=True, params=["asyncio", "uvloop"])
def event_loop_kind(request: pytest.FixtureRequest) -> Iterator[str]:
    """Each test on asyncio's loop and on uvloop's (``syndicate serve`` runs on uvloop)."""
    if request.param == "asyncio":
        yield "asyncio"
        return
    import uvloop  # a test dependency: installed with syndicate[test]

    before = asyncio.get_event_loop_policy()
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    try:
        yield "uvloop"
    finally:
        asyncio.set_event_loop_policy(before)


def run(body: Callable[[Pool], Awaitable[T]], **changes: Any) -> T:
    """Run ``body`` with a fresh pool on a new event loop, and close the pool after it."""
    settings: dict[str, Any] = {
        "limit": 4,
        "tls": ssl.create_default_context,
        "connect": 1.0,
        "read": 2.0,
        "write": 2.0,
        "wait": 1.0,
        "user_agent": "syndicate/test",
        "max_body": 1 << 20,
    }

    async def main() -> T:
        pool = Pool(**(settings | changes))
        try:
            return await body(pool)
        finally:
            await pool.close()

    return asyncio.run(main())


def posts(url: str, count: int, **changes: Any) -> list[tuple[Answer, bytes]]:
    """``count`` POSTs one after the other on one pool."""

    async def body(pool: Pool) -> list[tuple[Answer, bytes]]:
        return [await pool.request("POST", url, b"{}", JSON) for _ in range(count)]

    return run(body, **changes)


def test_requests_share_one_keep_alive_connection(sink: HttpSink) -> None:
    answers = posts(f"{sink.url}/n", 3)
    assert [a.status_code for a, _ in answers] == [200, 200, 200]
    assert len(sink.requests) == 3
    assert sink.connections == 1


def test_a_request_carries_our_headers_and_the_payloads_only(sink: HttpSink) -> None:
    async def body(pool: Pool) -> None:
        await pool.request("POST", f"{sink.url}/n", b"x", {"Idempotency-Key": "k-1"})
        await pool.request("GET", f"{sink.url}/g", b"", {"user-agent": "theirs"})

    run(body)
    post, get = (r.headers for r in sink.requests)
    host = sink.url.removeprefix("http://")
    assert post == {
        "host": host,
        "idempotency-key": "k-1",
        "user-agent": "syndicate/test",
        "accept": "*/*",
        "content-length": "1",
    }
    assert get == {"host": host, "user-agent": "theirs", "accept": "*/*"}


def test_a_header_with_a_line_break_is_refused_before_anything_is_sent(sink: HttpSink) -> None:
    async def body(pool: Pool) -> None:
        await pool.request("POST", f"{sink.url}/n", b"", {"X-A": "1\r\nX-B: 2"})

    with pytest.raises(ValueError, match="line break"):
        run(body)
    assert sink.connections == 0


def test_a_url_with_spaces_and_chinese_is_percent_encoded(sink: HttpSink) -> None:
    posts(f"{sink.url}/公告 1?q=a b#part", 1)
    assert sink.requests[0].path == "/%E5%85%AC%E5%91%8A%201"


def test_a_chunked_answer_is_joined_and_its_connection_kept(sink: HttpSink) -> None:
    chunked = (
        b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\nRetry-After: 3\r\n\r\n"
        b'5\r\n{"id"\r\n5\r\n:"7"}\r\n0\r\n\r\n'
    )
    sink.script("/n", [Reply(raw=chunked)])
    (first, body), (second, _) = posts(f"{sink.url}/n", 2)
    assert (first.status_code, first.reason_phrase, body) == (201, "Created", b'{"id":"7"}')
    assert first.headers.get("retry-after") == first.headers["Retry-After"] == "3"
    assert second.status_code == 200
    assert sink.connections == 1


def test_an_answer_ended_by_closing_the_connection(sink: HttpSink) -> None:
    text = "招标公告".encode("gbk")
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=gbk\r\n\r\n"
    sink.script("/n", [Reply(raw=head + text, close=True)])
    (first, body), (second, _) = posts(f"{sink.url}/n", 2)
    assert body == text
    assert first.encoding == "gbk"
    assert second.status_code == 200
    assert sink.connections == 2


def test_connection_close_is_honoured(sink: HttpSink) -> None:
    sink.script("/n", [Reply(200, headers={"Connection": "close"})])
    answers = posts(f"{sink.url}/n", 2)
    assert [a.status_code for a, _ in answers] == [200, 200]
    assert sink.connections == 2


def test_an_interim_answer_is_passed_over(sink: HttpSink) -> None:
    raw = b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    sink.script("/n", [Reply(raw=raw)])
    (answer, body), _ = posts(f"{sink.url}/n", 2)
    assert (answer.status_code, body, "link" in answer.headers) == (200, b"ok", False)
    assert sink.connections == 1


def test_a_gzip_answer_is_decoded(sink: HttpSink) -> None:
    packed = gzip.compress(b'{"id": "9"}')
    head = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(packed)
    sink.script("/n", [Reply(raw=head + packed)])
    ((_, body),) = posts(f"{sink.url}/n", 1)
    assert body == b'{"id": "9"}'


def test_an_idle_connection_the_server_closed_is_not_used(sink: HttpSink) -> None:
    sink.script("/n", [Reply(200, close=True)])

    async def body(pool: Pool) -> Answer:
        await pool.request("POST", f"{sink.url}/n", b"{}", JSON)
        await asyncio.sleep(0.2)  # the loop reads the server's FIN meanwhile
        answer, _ = await pool.request("POST", f"{sink.url}/n", b"{}", JSON)
        return answer

    assert run(body).status_code == 200
    assert (len(sink.requests), sink.connections) == (2, 2)


def test_a_close_the_loop_has_not_read_yet_is_seen_before_writing(sink: HttpSink) -> None:
    # A POST written to a connection the server has already closed would be in doubt.
    sink.script("/n", [Reply(200, close=True)])

    async def body(pool: Pool) -> Answer:
        await pool.request("POST", f"{sink.url}/n", b"{}", JSON)
        (conn,) = pool._open
        deadline = time.monotonic() + 5
        # Blocking the loop, so it cannot read the FIN first: only the kernel knows.
        while time.monotonic() < deadline:
            state = conn.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0]
            if state != 1:  # no longer ESTABLISHED: the FIN is in
                break
            time.sleep(0.01)
        time.sleep(PROBE_IDLE)  # only a connection idle this long is probed
        assert not conn.lost
        answer, _ = await pool.request("POST", f"{sink.url}/n", b"{}", JSON)
        return answer

    assert run(body).status_code == 200
    assert (len(sink.requests), sink.connections) == (2, 2)


def test_a_reset_mid_answer_is_in_doubt(sink: HttpSink) -> None:
    sink.script("/n", [Reply(reset="mid")])
    with pytest.raises(MaybeSent, match="connection broken before a complete answer"):
        posts(f"{sink.url}/n", 1)


def test_a_post_the_server_took_and_closed_on_is_in_doubt_and_not_sent_again(
    sink: HttpSink,
) -> None:
    sink.script("/n", [Reply(raw=b"", close=True)])
    with pytest.raises(MaybeSent, match="Server disconnected"):
        posts(f"{sink.url}/n", 1)
    assert len(sink.requests) == 1


def test_a_put_broken_before_its_answer_goes_again_once_on_a_new_connection(
    sink: HttpSink,
) -> None:
    sink.script("/once", [Reply(reset="before")])
    sink.script("/twice", [Reply(raw=b"", close=True), Reply(raw=b"", close=True)])

    async def put(pool: Pool, path: str) -> Answer:
        answer, _ = await pool.request("PUT", f"{sink.url}{path}", b"{}", JSON)
        return answer

    assert run(lambda pool: put(pool, "/once")).status_code == 200
    assert (len(sink.requests), sink.connections) == (2, 2)
    with pytest.raises(MaybeSent):
        run(lambda pool: put(pool, "/twice"))
    assert len(sink.requests) == 4  # two for each: never a third


def test_an_answer_over_the_limit_is_cut_and_its_connection_closed() -> None:
    with HostilePeer("flood_http") as peer:
        ((answer, body),) = posts(f"http://127.0.0.1:{peer.port}/n", 1, max_body=100_000)
        deadline = time.monotonic() + 5
        while not peer.closed_at and time.monotonic() < deadline:
            time.sleep(0.05)
        assert peer.closed_at  # we hung up rather than read on
    assert answer.status_code == 200
    assert body == b"x" * 100_000


def test_a_head_over_the_limit_is_refused(sink: HttpSink) -> None:
    raw = b"HTTP/1.1 200 OK\r\nX-Pad: " + b"a" * 70_000 + b"\r\nContent-Length: 0\r\n\r\n"
    sink.script("/n", [Reply(raw=raw)])
    with pytest.raises(MaybeSent, match="head is longer"):
        posts(f"{sink.url}/n", 1)


def test_a_slow_answer_hits_the_read_timeout_and_its_connection_is_dropped(
    sink: HttpSink,
) -> None:
    sink.script("/slow", [Reply(delay=5.0)])

    async def body(pool: Pool) -> Answer:
        with pytest.raises(MaybeSent, match=r"timed out \(read\)"):
            await pool.request("POST", f"{sink.url}/slow", b"{}", JSON)
        answer, _ = await pool.request("POST", f"{sink.url}/n", b"{}", JSON)
        return answer

    assert run(body, read=0.2).status_code == 200
    assert sink.connections == 2


def test_no_free_connection_in_time_is_not_sent(sink: HttpSink) -> None:
    sink.script("/n", [Reply(delay=0.5)])

    async def body(pool: Pool) -> list[object]:
        slow = asyncio.create_task(pool.request("POST", f"{sink.url}/n", b"{}", JSON))
        await asyncio.sleep(0.1)  # the slow request holds the only connection
        waiting = pool.request("POST", f"{sink.url}/n", b"{}", JSON)
        return list(await asyncio.gather(slow, waiting, return_exceptions=True))

    slow, waiting = run(body, limit=1, wait=0.2)
    assert isinstance(slow, tuple)
    assert isinstance(waiting, NotSent)
    assert not isinstance(waiting, MaybeSent)
    assert str(waiting) == CONNECT_TIMED_OUT
    assert len(sink.requests) == 1


def test_a_refused_connection_is_not_sent() -> None:
    port = closed_port()
    with pytest.raises(NotSent, match=f"cannot connect to 127.0.0.1:{port}: "):
        posts(f"http://127.0.0.1:{port}/n", 1)


def test_https_keeps_its_connection_and_verifies_the_certificate(
    https_sink: HttpSink, tls_files: TlsFiles
) -> None:
    def trusted() -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(tls_files.ca_file))

    answers = posts(f"{https_sink.url}/n", 2, tls=trusted)
    assert [a.status_code for a, _ in answers] == [200, 200]
    assert https_sink.connections == 1
    with pytest.raises(CertificateRejected, match="certificate verification failed"):
        posts(f"{https_sink.url}/n", 1)
    assert len(https_sink.requests) == 2

"""Fetching and parsing feeds, against a real HTTP server on loopback addresses."""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
import threading
import time
import tracemalloc
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from feedserver import FeedServer, Reply, feed, http_date, redirect

from monitor.errors import FeedError
from monitor.fetch import (
    Fetched,
    Fetcher,
    FetchFailed,
    FetchPolicy,
    FetchResult,
    NotModified,
    ParsedFeed,
    parse_feed,
    read_entries,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DATA = Path(__file__).parent / "data" / "feeds"
FAST = FetchPolicy(connect_timeout=2.0, total_timeout=5.0, per_host_interval=0.0)


def rss(*items: tuple[str, str], channel: str = "") -> bytes:
    """An RSS 2.0 document with (guid, title) items."""
    body = "".join(
        f"<item><guid>{guid}</guid><title>{title}</title>"
        f"<link>https://news.example.org/{guid}</link></item>"
        for guid, title in items
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Test channel</title>{channel}{body}</channel></rss>"
    ).encode()


FEED = rss(("a1", "Kremlin reshuffles the security council"), ("a2", "Ruble weakens again"))


def fetch(url: str, policy: FetchPolicy = FAST, **validators: str | None) -> FetchResult:
    async def go() -> FetchResult:
        async with Fetcher(policy) as fetcher:
            return await fetcher.fetch(
                url,
                source="test",
                etag=validators.get("etag"),
                last_modified=validators.get("last_modified"),
                now=NOW,
            )

    return asyncio.run(go())


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as running:
        yield running


def titles(result: FetchResult) -> list[str]:
    assert isinstance(result, Fetched), result
    return [entry.title for entry in result.parsed.entries]


# --- conditional GET ---------------------------------------------------------------------------


def test_etag_is_sent_back_and_a_304_is_not_modified(server: FeedServer) -> None:
    server.route("/feed.xml", feed(FEED, etag='"v1"'))
    first = fetch(server.url("/feed.xml"))
    assert titles(first) == ["Kremlin reshuffles the security council", "Ruble weakens again"]
    assert isinstance(first, Fetched) and first.etag == '"v1"' and first.status == 200

    second = fetch(server.url("/feed.xml"), etag=first.etag)
    assert second == NotModified(etag='"v1"', last_modified=None, not_before=None)
    assert server.requests_to("/feed.xml")[1].headers["if-none-match"] == '"v1"'


def test_last_modified_is_sent_back_and_a_304_is_not_modified(server: FeedServer) -> None:
    stamp = http_date(NOW.timestamp() - 3600)
    server.route("/feed.xml", feed(FEED, last_modified=stamp))
    first = fetch(server.url("/feed.xml"))
    assert isinstance(first, Fetched) and first.last_modified == stamp

    second = fetch(server.url("/feed.xml"), last_modified=stamp)
    assert second == NotModified(etag=None, last_modified=stamp, not_before=None)
    assert server.requests_to("/feed.xml")[1].headers["if-modified-since"] == stamp


def test_a_200_with_the_etag_we_sent_is_not_modified(server: FeedServer) -> None:
    # A server that ignores If-None-Match but still reports the same ETag.
    server.route("/feed.xml", Reply(200, {"ETag": '"same"'}, FEED))
    assert fetch(server.url("/feed.xml"), etag='"same"') == NotModified(
        etag='"same"', last_modified=None, not_before=None
    )


def test_the_user_agent_names_the_monitor(server: FeedServer) -> None:
    server.route("/feed.xml", feed(FEED))
    fetch(server.url("/feed.xml"))
    agent = server.requests_to("/feed.xml")[0].headers["user-agent"]
    assert agent.startswith("monitor/") and "early-warning" in agent


# --- HTTP errors and Retry-After ----------------------------------------------------------------


@pytest.mark.parametrize("status", [404, 500])
def test_an_http_error_is_a_value_naming_status_and_url(server: FeedServer, status: int) -> None:
    server.route("/feed.xml", Reply(status, body=b"nope"))
    url = server.url("/feed.xml")
    assert fetch(url) == FetchFailed(f"HTTP {status} from {url}", "http", None, status)


def test_retry_after_in_seconds_becomes_a_time(server: FeedServer) -> None:
    server.route("/feed.xml", Reply(429, {"Retry-After": "120"}))
    result = fetch(server.url("/feed.xml"))
    assert isinstance(result, FetchFailed)
    assert (result.kind, result.status, result.retry_after) == (
        "http",
        429,
        NOW + timedelta(seconds=120),
    )


def test_retry_after_as_an_http_date_becomes_that_time(server: FeedServer) -> None:
    later = NOW + timedelta(hours=2)
    server.route("/feed.xml", Reply(503, {"Retry-After": http_date(later.timestamp())}))
    result = fetch(server.url("/feed.xml"))
    assert isinstance(result, FetchFailed) and result.retry_after == later


def test_an_absurd_retry_after_is_capped(server: FeedServer) -> None:
    server.route("/feed.xml", Reply(429, {"Retry-After": str(90 * 86400)}))
    result = fetch(server.url("/feed.xml"))
    assert isinstance(result, FetchFailed) and result.retry_after == NOW + timedelta(days=1)


def test_ttl_and_max_age_set_a_floor_on_success(server: FeedServer) -> None:
    server.route("/ttl.xml", feed(rss(("x", "X"), channel="<ttl>30</ttl>")))
    server.route(
        "/cached.xml",
        feed(rss(("x", "X"), channel="<ttl>30</ttl>"), headers={"Cache-Control": "max-age=3600"}),
    )
    ttl = fetch(server.url("/ttl.xml"))
    assert isinstance(ttl, Fetched)
    assert (ttl.parsed.ttl_seconds, ttl.retry_after) == (1800, NOW + timedelta(minutes=30))
    cached = fetch(server.url("/cached.xml"))
    assert isinstance(cached, Fetched) and cached.retry_after == NOW + timedelta(hours=1)


# --- limits: time, size, redirects ---------------------------------------------------------------


def test_a_body_trickling_past_the_total_timeout_is_a_timeout(server: FeedServer) -> None:
    # Every single read is quick, so only a deadline over the whole request catches this.
    server.route("/slow.xml", Reply(200, {}, (b"<" for _ in range(100)), pause=0.1))
    policy = FetchPolicy(connect_timeout=1.0, total_timeout=1.0, per_host_interval=0.0)
    started = time.monotonic()
    result = fetch(server.url("/slow.xml"), policy)
    assert isinstance(result, FetchFailed) and result.kind == "timeout"
    assert result.error == f"{server.url('/slow.xml')} did not finish within 1 s"
    assert time.monotonic() - started < 2.0


def endless() -> Iterator[bytes]:
    chunk = b"<item><title>more</title></item>" * 2000
    while True:
        yield chunk


def test_an_endless_body_stops_at_the_cap(server: FeedServer) -> None:
    server.route("/endless.xml", Reply(200, {}, endless()))
    policy = FetchPolicy(max_bytes=1024 * 1024, per_host_interval=0.0)
    result = fetch(server.url("/endless.xml"), policy)
    assert result == FetchFailed(
        f"{server.url('/endless.xml')} sent more than 1 MB; stopped reading", "too-large"
    )


def test_a_gzip_bomb_stops_at_the_cap_without_inflating_the_rest(server: FeedServer) -> None:
    def bomb() -> Iterator[bytes]:  # 1 GiB of zeros, compressed as it is sent (about 1 MB)
        packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        zeros = bytes(1024 * 1024)
        for _ in range(1024):
            yield packer.compress(zeros)
        yield packer.flush()

    server.route("/bomb.xml", Reply(200, {"Content-Encoding": "gzip"}, bomb()))
    policy = FetchPolicy(max_bytes=1024 * 1024, per_host_interval=0.0)
    tracemalloc.start()
    try:
        result = fetch(server.url("/bomb.xml"), policy)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result == FetchFailed(
        f"{server.url('/bomb.xml')} sent more than 1 MB; stopped reading", "too-large"
    )
    # Inflated a step at a time: memory stays near the cap (the server's 1 MB of zeros
    # included), where inflating whole network reads would have reached tens of megabytes.
    assert peak < 8 * 1024 * 1024


def test_a_gzipped_feed_is_decoded(server: FeedServer) -> None:
    server.route("/feed.xml", Reply(200, {"Content-Encoding": "gzip"}, gzip.compress(FEED)))
    assert titles(fetch(server.url("/feed.xml"))) == [
        "Kremlin reshuffles the security council",
        "Ruble weakens again",
    ]


def test_a_redirect_loop_fails(server: FeedServer) -> None:
    server.route("/a", redirect("/b"))
    server.route("/b", redirect("/a"))
    result = fetch(server.url("/a"))
    assert result == FetchFailed(
        f"redirect loop: {server.url('/b')} leads back to {server.url('/a')}",
        "redirects",
        None,
        302,
    )


def test_more_than_five_redirects_fail(server: FeedServer) -> None:
    for hop in range(7):
        server.route(f"/r{hop}", redirect(f"/r{hop + 1}"))
    result = fetch(server.url("/r0"))
    assert isinstance(result, FetchFailed) and result.kind == "redirects"
    assert result.error == f"{server.url('/r0')} redirects more than 5 times"
    assert len(server.requests) == 6


def test_a_redirect_into_the_file_system_is_refused(server: FeedServer, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("the secret marker 7f3a")
    server.route("/passwd", redirect("file:///etc/passwd"))
    server.route("/secret", redirect(secret.as_uri()))
    passwd = fetch(server.url("/passwd"))
    assert passwd == FetchFailed(
        f"{server.url('/passwd')} redirects to file:///etc/passwd, which is not an http or "
        "https URL; refused",
        "redirects",
        None,
        302,
    )
    marker = fetch(server.url("/secret"))
    assert isinstance(marker, FetchFailed) and marker.kind == "redirects"
    assert "7f3a" not in repr(marker)


def test_a_non_http_url_is_never_fetched(tmp_path: Path) -> None:
    result = fetch((tmp_path / "x.xml").as_uri())
    assert isinstance(result, FetchFailed) and result.kind == "http"


def test_a_permanent_redirect_is_reported(server: FeedServer) -> None:
    server.route("/old.xml", redirect("/new.xml", status=301))
    server.route("/moved.xml", redirect("/new.xml", status=308))
    server.route("/temp.xml", redirect("/new.xml", status=302))
    server.route("/mixed.xml", redirect("/temp.xml", status=301))
    server.route("/new.xml", feed(FEED))
    new = server.url("/new.xml")
    for path, permanent in [
        ("/old.xml", new),
        ("/moved.xml", new),
        ("/temp.xml", None),
        ("/mixed.xml", server.url("/temp.xml")),  # only the permanent part of the chain counts
    ]:
        result = fetch(server.url(path))
        assert isinstance(result, Fetched)
        assert (result.url, result.permanent_redirect) == (new, permanent), path


# --- pages that are not feeds ---------------------------------------------------------------------

HTML = b"<!DOCTYPE html><html><head><title>Home</title></head><body><p>Hello</p></body></html>"
CHALLENGE = (
    b"<!DOCTYPE html><html><head><title>Just a moment...</title></head><body>"
    b'<script src="/cdn-cgi/challenge-platform/h/g/orchestrate/jsch/v1"></script></body></html>'
)


def test_an_html_page_is_not_a_feed(server: FeedServer) -> None:
    server.route("/", Reply(200, {"Content-Type": "text/html; charset=utf-8"}, HTML))
    url = server.url("/")
    assert fetch(url) == FetchFailed(
        f"feed test ({url}) is an HTML page, not a feed", "not-a-feed", None, 200
    )


def test_a_challenge_page_is_reported_as_such(server: FeedServer) -> None:
    html = {"Content-Type": "text/html"}
    server.route("/mitigated", Reply(503, {**html, "cf-mitigated": "challenge"}, CHALLENGE))
    server.route("/cloudflare", Reply(403, {**html, "Server": "cloudflare"}, CHALLENGE))
    server.route("/forbidden", Reply(403, html, b"<html><body>Forbidden</body></html>"))
    mitigated = fetch(server.url("/mitigated"))
    assert mitigated == FetchFailed(
        f"{server.url('/mitigated')} answered with a bot-challenge page (HTTP 503) instead of "
        "the feed",
        "challenge",
        None,
        503,
    )
    cloudflare = fetch(server.url("/cloudflare"))
    assert isinstance(cloudflare, FetchFailed) and cloudflare.kind == "challenge"
    forbidden = fetch(server.url("/forbidden"))
    assert isinstance(forbidden, FetchFailed) and forbidden.kind == "http"


def test_a_refused_connection_is_a_network_failure() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago and has no listener
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = fetch(f"http://127.0.0.1:{port}/feed.xml")
    assert isinstance(result, FetchFailed) and result.kind == "network"
    assert result.error.startswith(f"network error fetching http://127.0.0.1:{port}/feed.xml")


# --- the wire: framings and answers the feed server does not send --------------------------------


@contextmanager
def raw_server(answer: bytes) -> Iterator[tuple[str, list[bytes]]]:
    """A server on 127.0.0.1 that reads each request's head, sends `answer` as it is and closes
    the connection; yields its base URL and the request heads it got."""
    heads: list[bytes] = []
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    done = threading.Event()

    def serve() -> None:
        while not done.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                head = b""
                while b"\r\n\r\n" not in head and (data := conn.recv(4096)):
                    head += data
                heads.append(head)
                conn.sendall(answer)

    worker = threading.Thread(target=serve, daemon=True)
    worker.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", heads
    finally:
        done.set()
        worker.join()
        listener.close()


def chunked(body: bytes, size: int) -> bytes:
    parts = [body[i:i + size] for i in range(0, len(body), size)]
    return b"".join(b"%x;ext=1\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\nX-T: 1\r\n\r\n"


def test_a_chunked_body_after_an_informational_answer_is_read() -> None:
    answer = (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: application/rss+xml"
              b"\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(FEED, 100))
    with raw_server(answer) as (base, heads):
        result = fetch(f"{base}/feed.xml", etag='"v0"')
    assert titles(result) == ["Kremlin reshuffles the security council", "Ruble weakens again"]
    head = heads[0].decode()
    assert head.startswith("GET /feed.xml HTTP/1.1\r\n")
    assert 'If-None-Match: "v0"' in head and "User-Agent: monitor/" in head


@pytest.mark.parametrize("answer", [
    b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + FEED,  # cut short
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",  # no chunk size
    b"HTCPCP/1.0 418 I'm a teapot\r\n\r\n",  # not HTTP
    b"",  # nothing at all
])
def test_a_broken_answer_is_a_network_failure(answer: bytes) -> None:
    with raw_server(answer) as (base, _):
        result = fetch(f"{base}/feed.xml")
    assert isinstance(result, FetchFailed) and result.kind == "network"
    assert result.error.startswith(f"network error fetching {base}/feed.xml: ")


def test_a_proxy_from_the_environment_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    with raw_server(b"HTTP/1.1 304 Not Modified\r\n\r\n") as (proxy, heads):
        monkeypatch.setenv("HTTP_PROXY", proxy)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        result = fetch("http://feeds.example.org/feed.xml", etag='"v1"')
    assert result == NotModified(etag='"v1"', last_modified=None, not_before=None)
    assert heads[0].startswith(b"GET http://feeds.example.org/feed.xml HTTP/1.1\r\n")


# --- charsets -------------------------------------------------------------------------------------

CYRILLIC_TITLES = ["Губернатор области подал в отставку", "Центробанк сохранил ключевую ставку"]


def test_utf8_bytes_win_over_a_wrong_charset_header(server: FeedServer) -> None:
    body = rss(("r1", "Министр обороны снят с должности"), ("r2", "Café au lait, s'il vous plaît"))
    server.route("/feed.xml", Reply(200, {"Content-Type": "text/xml; charset=iso-8859-1"}, body))
    result = fetch(server.url("/feed.xml"))
    assert titles(result) == ["Министр обороны снят с должности", "Café au lait, s'il vous plaît"]
    assert isinstance(result, Fetched)
    assert result.parsed.problem == (
        f"feed test ({server.url('/feed.xml')}): it declares charset iso-8859-1 but the bytes "
        "are UTF-8; 2 entries kept."
    )


def test_windows_1251_with_a_correct_header(server: FeedServer) -> None:
    # Without its XML declaration, so only the header says what the bytes are.
    body = (DATA / "cyrillic-1251.xml").read_bytes().split(b"\n", 1)[1]
    server.route(
        "/feed.xml", Reply(200, {"Content-Type": "application/rss+xml; charset=windows-1251"}, body)
    )
    result = fetch(server.url("/feed.xml"))
    assert titles(result) == CYRILLIC_TITLES
    assert isinstance(result, Fetched)
    assert result.parsed.problem is None and result.parsed.title == "Тестовая лента"
    assert {e.language for e in result.parsed.entries} == {"ru"}


def test_windows_1251_without_a_header_uses_the_declaration(server: FeedServer) -> None:
    server.route("/feed.xml", Reply(200, {}, (DATA / "cyrillic-1251.xml").read_bytes()))
    assert titles(fetch(server.url("/feed.xml"))) == CYRILLIC_TITLES


def test_undeclared_windows_1251_and_koi8_r_are_recognised() -> None:
    text = (DATA / "cyrillic-1251.xml").read_text(encoding="cp1251").split("\n", 1)[1]
    for charset in ("cp1251", "koi8_r"):
        parsed = parse_feed(text.encode(charset), now=NOW)
        assert [e.title for e in parsed.entries] == CYRILLIC_TITLES, charset


# --- XML attacks ----------------------------------------------------------------------------------


def test_billion_laughs_is_refused_without_expanding(server: FeedServer) -> None:
    body = (DATA / "billion-laughs.xml").read_bytes()
    server.route("/laughs.xml", Reply(200, {"Content-Type": "application/rss+xml"}, body))
    started = time.monotonic()
    result = fetch(server.url("/laughs.xml"))
    assert result == FetchFailed(
        f"feed test ({server.url('/laughs.xml')}) declares XML entities that could expand or "
        "read files; refused",
        "not-a-feed",
        None,
        200,
    )
    assert time.monotonic() - started < 2.0


def xxe_feed(target: Path) -> bytes:
    return (
        '<?xml version="1.0"?>\n'
        f'<!DOCTYPE rss [<!ENTITY leak SYSTEM "{target.as_uri()}">]>\n'
        '<rss version="2.0"><channel><title>t</title>'
        "<item><title>Leak: &leak;</title><description>&leak;</description></item>"
        "</channel></rss>"
    ).encode()


def test_external_entities_never_read_a_file(server: FeedServer, tmp_path: Path) -> None:
    marker = tmp_path / "marker.txt"
    marker.write_text("MARKER-CONTENT-91c2")
    server.route("/xxe.xml", Reply(200, {"Content-Type": "application/rss+xml"}, xxe_feed(marker)))
    result = fetch(server.url("/xxe.xml"))
    assert isinstance(result, FetchFailed) and result.kind == "not-a-feed"
    assert "refused" in result.error and "MARKER-CONTENT" not in repr(result)
    with pytest.raises(FeedError, match="declares XML entities"):
        parse_feed(xxe_feed(marker), now=NOW)


@pytest.mark.parametrize(
    "doctype",
    [
        '<!DOCTYPE rss [<!ENTITY % remote SYSTEM "http://127.0.0.1:9/x.dtd"> %remote;]>',
        '<!DOCTYPE rss [<!ENTITY a "<b>markup</b>">]>',
        '<!DOCTYPE rss [\n<!ENTITY big "' + "x" * 1000 + '">\n]>',  # with 100 uses: too much
    ],
    ids=["parameter-entity", "markup-value", "quadratic-blowup"],
)
def test_other_entity_tricks_are_refused(doctype: str) -> None:
    uses = "&big;" * 100 if "big" in doctype else ""
    body = (
        f'<?xml version="1.0"?>\n{doctype}\n<rss version="2.0"><channel><item>'
        f"<title>t{uses}</title></item></channel></rss>"
    )
    with pytest.raises(FeedError, match="refused"):
        parse_feed(body.encode(), now=NOW)


def test_an_external_dtd_is_never_fetched(server: FeedServer) -> None:
    server.route("/evil.dtd", Reply(200, {}, b'<!ENTITY title "replaced">'))
    body = (
        f'<?xml version="1.0"?>\n<!DOCTYPE rss SYSTEM "{server.url("/evil.dtd")}">\n'
        '<rss version="2.0"><channel><item><title>Plain</title></item></channel></rss>'
    )
    parsed = parse_feed(body.encode(), now=NOW)
    assert [e.title for e in parsed.entries] == ["Plain"]
    assert server.requests_to("/evil.dtd") == []


def test_a_short_literal_entity_is_still_allowed() -> None:
    body = (
        b'<!DOCTYPE rss [\n  <!ENTITY base "tag:example.org,">\n]>\n'
        b'<rss version="2.0"><channel><item><guid isPermaLink="false">&base;2026:1</guid>'
        b"<title>Entity</title></item></channel></rss>"
    )
    assert [e.id for e in parse_feed(body, now=NOW).entries] == ["tag:example.org,2026:1"]


# --- politeness, concurrency, batches -------------------------------------------------------------


async def fetch_all(urls: list[str], policy: FetchPolicy) -> list[FetchResult]:
    async with Fetcher(policy) as fetcher:
        return await asyncio.gather(
            *(fetcher.fetch(u, source="t", etag=None, last_modified=None, now=NOW) for u in urls)
        )


def test_requests_to_one_host_are_spaced_and_to_two_hosts_are_not() -> None:
    policy = FetchPolicy(per_host_interval=0.5, total_timeout=5.0)
    with FeedServer("127.0.0.1") as one, FeedServer("127.0.0.2") as two:
        for running in (one, two):
            running.route("/a.xml", feed(FEED))
            running.route("/b.xml", feed(FEED))

        results = asyncio.run(fetch_all([one.url("/a.xml"), one.url("/b.xml")], policy))
        assert all(isinstance(r, Fetched) for r in results)
        first, second = sorted(r.arrived for r in one.requests)
        # Spacing is enforced when requests start at the client; allow the server a few ms
        # of difference in connection set-up between the two.
        assert second - first >= 0.5 - 0.03

        results = asyncio.run(fetch_all([one.url("/b.xml"), two.url("/b.xml")], policy))
        assert all(isinstance(r, Fetched) for r in results)
        assert abs(one.requests[-1].arrived - two.requests[-1].arrived) < 0.25


def test_a_batch_with_broken_feeds_yields_the_good_ones(server: FeedServer) -> None:
    for n in range(3):
        server.route(f"/good{n}.xml", feed(rss((f"g{n}", f"Good {n}"))))
    server.route("/html", Reply(200, {"Content-Type": "text/html"}, HTML))
    urls = [server.url(f"/good{n}.xml") for n in range(3)]
    urls += [server.url("/missing.xml"), server.url("/html")]
    results = asyncio.run(fetch_all(urls, FAST))
    assert [type(r).__name__ for r in results] == ["Fetched"] * 3 + ["FetchFailed"] * 2
    assert [r.kind for r in results if isinstance(r, FetchFailed)] == ["http", "not-a-feed"]


def test_concurrency_is_limited(server: FeedServer) -> None:
    server.route("/slow.xml", lambda _request: Reply(200, {}, iter([FEED]), pause=0.3))
    policy = FetchPolicy(concurrency=2, per_host_interval=0.0)
    started = time.monotonic()
    results = asyncio.run(fetch_all([server.url("/slow.xml")] * 4, policy))
    assert all(isinstance(r, Fetched) for r in results)
    assert time.monotonic() - started >= 0.6  # two rounds of two


# --- local files ----------------------------------------------------------------------------------


def test_fetch_path_reads_a_local_feed_and_reports_problems(tmp_path: Path) -> None:
    async def go(path: Path) -> FetchResult:
        async with Fetcher(FAST) as fetcher:
            return await fetcher.fetch_path(path, source="local", now=NOW)

    result = asyncio.run(go(DATA / "cyrillic-1251.xml"))
    assert isinstance(result, Fetched) and titles(result) == CYRILLIC_TITLES
    assert {e.source for e in result.parsed.entries} == {"local"}
    missing = asyncio.run(go(tmp_path / "missing.xml"))
    assert isinstance(missing, FetchFailed) and missing.kind == "local"
    assert missing.error.startswith(f"cannot read {tmp_path / 'missing.xml'}")
    (tmp_path / "page.xml").write_bytes(HTML)
    page = asyncio.run(go(tmp_path / "page.xml"))
    assert isinstance(page, FetchFailed) and page.kind == "not-a-feed"


def test_the_parser_gives_the_near_duplicate_keys_the_store_would_compute(
    server: FeedServer,
) -> None:
    from monitor import clusters
    from monitor.model import storable

    body = rss(("n1", "Kremlin\x00 reshuffles the security council again"),
               ("n2", "Ruble weakens again"))
    server.route("/keys", feed(body))
    result = fetch(server.url("/keys"))
    assert isinstance(result, Fetched)
    assert result.parsed.keys == {
        e.id: clusters.simhash(storable(e.title), storable(e.summary))
        for e in result.parsed.entries
    }
    assert len(result.parsed.keys) == 2


def test_a_parser_process_that_dies_fails_one_feed_and_the_next_is_parsed(
    server: FeedServer,
) -> None:
    import os
    import signal

    server.route("/feed", feed(FEED))

    async def go() -> tuple[FetchResult, FetchResult, FetchResult]:
        async with Fetcher(FAST) as fetcher:
            first = await fetcher.fetch(server.url("/feed"), source="t", etag=None,
                                        last_modified=None, now=NOW)
            # What the OOM killer would do to a parser in the middle of a huge feed.
            for pid in list(fetcher._pool._processes):  # type: ignore[attr-defined]
                os.kill(pid, signal.SIGKILL)
            await asyncio.sleep(0.5)
            crashed = await fetcher.fetch(server.url("/feed"), source="t", etag=None,
                                          last_modified=None, now=NOW)
            after = await fetcher.fetch(server.url("/feed"), source="t", etag=None,
                                        last_modified=None, now=NOW)
            return first, crashed, after

    first, crashed, after = asyncio.run(go())
    assert titles(first) == titles(after) == ["Kremlin reshuffles the security council",
                                               "Ruble weakens again"]
    assert isinstance(crashed, FetchFailed) and crashed.kind == "parse"
    assert crashed.error == f"the parser stopped while reading {server.url('/feed')}"


# --- parsing --------------------------------------------------------------------------------------


def test_ids_fall_back_from_guid_to_link_to_content_hash() -> None:
    body = b"""<rss version="2.0"><channel>
    <item><guid>dup</guid><link>https://x.example/1</link><title>One</title></item>
    <item><guid>dup</guid><link>https://x.example/2</link><title>Two</title></item>
    <item><link>https://x.example/3</link><title>Three</title></item>
    <item><title>Four</title><description>no guid, no link</description></item>
    <item><guid>unique</guid><title>Five</title></item>
    </channel></rss>"""
    entries = parse_feed(body, now=NOW).entries
    assert [e.id for e in entries[:3]] == [
        "https://x.example/1",
        "https://x.example/2",
        "https://x.example/3",
    ]
    assert entries[3].id.startswith("sha256:") and len(entries[3].id) == 7 + 64
    assert (entries[4].id, entries[0].guid) == ("unique", "dup")


def test_repeated_entries_keep_unique_ids_and_lose_nothing() -> None:
    same = "<item><title>Same</title><description>Same text</description></item>"
    later = (
        "<item><title>Same</title><description>Same text</description>"
        "<pubDate>Sun, 01 Mar 2026 10:00:00 GMT</pubDate></item>"
    )
    body = f'<rss version="2.0"><channel>{same}{same}{later}</channel></rss>'.encode()
    entries = parse_feed(body, now=NOW).entries
    # An exact repeat is the same entry, kept once; a look-alike that differs gets its own id.
    assert len(entries) == 2
    assert entries[1].id == entries[0].id + "#2"
    assert entries[1].published == datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def test_titles_summaries_links_dates_and_language() -> None:
    body = b"""<?xml version="1.0" encoding="utf-8"?>
    <rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>
    <language>ru-RU</language>
    <item><guid>1</guid><title>Short &amp;amp; sweet</title>
      <description>&lt;p&gt;Teaser&lt;/p&gt;</description>
      <content:encoded><![CDATA[<p>The <b>full</b> text of the story.</p>
        <script>x()</script>]]></content:encoded>
      <link>/news/1</link><pubDate>Sun, 01 Mar 2026 09:00:00 +0300</pubDate></item>
    <item><guid>2</guid><description>Only a description here, which is long enough to give
      the entry a title of its first twelve words and then some more.</description>
      <link>javascript:alert(1)</link><pubDate>Mon, 02 Mar 2026 12:00:00 GMT</pubDate></item>
    <item><guid>3</guid><pubDate>not a date</pubDate></item>
    </channel></rss>"""
    entries = parse_feed(body, now=NOW, url="https://site.example/rss").entries
    first, second, third = entries
    assert first.title == "Short & sweet"
    assert first.summary == "The full text of the story."
    assert first.link == "https://site.example/news/1"
    assert first.published == datetime(2026, 3, 1, 6, 0, tzinfo=UTC)
    assert first.language == "ru"
    assert second.title == "Only a description here, which is long enough to give the entry…"
    assert second.link is None
    assert second.published is None  # a day after `now`: not believed
    assert (third.title, third.summary, third.published) == ("(untitled)", "", None)


def test_sy_update_period_gives_the_ttl() -> None:
    body = b"""<rss version="2.0" xmlns:sy="http://purl.org/rss/1.0/modules/syndication/">
    <channel><sy:updatePeriod>hourly</sy:updatePeriod><sy:updateFrequency>4</sy:updateFrequency>
    <item><title>x</title></item></channel></rss>"""
    assert parse_feed(body, now=NOW).ttl_seconds == 900


def test_a_doubled_xml_declaration_is_repaired() -> None:
    parsed = read_entries(DATA / "doubled-declaration.xml", source="notes", now=NOW)
    assert [e.title for e in parsed.entries] == ["First note", "Second note"]
    assert parsed.title == "Notebook"
    assert parsed.entries[1].published == datetime(2026, 1, 8, 8, 0, tzinfo=UTC)
    assert parsed.problem is not None and "repaired" in parsed.problem


def test_a_json_feed_is_read() -> None:
    parsed = read_entries(DATA / "json-feed.json", now=NOW)
    assert parsed == ParsedFeed(
        entries=parsed.entries, title="Sample JSON Feed", problem=None, ttl_seconds=None
    )
    first, second, third = parsed.entries
    assert (first.id, first.title, first.summary) == (
        "j-1",
        "Ruble slides past 100 per dollar",
        "The currency weakened for a third day.",
    )
    assert first.published == datetime(2026, 2, 3, 7, 0, tzinfo=UTC)
    assert (first.link, first.language) == ("https://json.example.org/1", "en")
    assert second.title == "An item without a title still counts as news for the monitor."
    assert second.link is None  # relative, and a local file has no base URL
    assert third.id == "3"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "the feed is empty, not a feed"),
        (b"  \n ", "the feed is empty, not a feed"),
        (HTML, "the feed is an HTML page, not a feed"),
        (CHALLENGE, "the feed is a bot-challenge page (Cloudflare-style), not a feed"),
        (b'{"hello": "world"}', "the feed is JSON but not a JSON Feed"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "the feed holds no RSS, Atom or RDF feed"),
    ],
)
def test_bytes_that_are_not_a_feed_raise_feed_error(body: bytes, message: str) -> None:
    with pytest.raises(FeedError) as caught:
        parse_feed(body, now=NOW)
    assert str(caught.value).startswith(message)


def test_a_salvaged_broken_feed_names_its_problem() -> None:
    body = b'<rss version="2.0"><channel><item><title>Kept & lost</title></item></channel></rss>'
    parsed = parse_feed(body, source="broken", now=NOW)
    assert [e.title for e in parsed.entries] == ["Kept & lost"]
    assert parsed.problem is not None
    assert parsed.problem == (
        "feed broken: it is not well-formed XML (line 1, column 48: not well-formed "
        "(invalid token)); 1 entry kept."
    )


# --- JSON lines -----------------------------------------------------------------------------------


def test_read_entries_reads_json_lines() -> None:
    parsed = read_entries(DATA / "entries.jsonl", source="dev", now=NOW)
    assert [(e.id, e.title) for e in parsed.entries] == [
        ("n-1", "Defence minister replaced"),
        ("n-2", "Key rate held at 16%"),
        ("n-3", "A headline-less item keeps its first words as a title"),
    ]
    first = parsed.entries[0]
    assert first.summary == "The president moved the minister to another post."
    assert first.published == datetime(2026, 1, 10, 9, 0, tzinfo=UTC)
    assert parsed.entries[1].published == datetime(2026, 1, 11, 9, 0, tzinfo=UTC)
    assert {e.source for e in parsed.entries} == {"dev"}


def test_a_bad_json_line_names_file_and_line(tmp_path: Path) -> None:
    with pytest.raises(FeedError) as caught:
        read_entries(DATA / "bad-line.jsonl", now=NOW)
    assert str(caught.value).startswith(f"{DATA / 'bad-line.jsonl'}:3: not a JSON object")
    bad_date = tmp_path / "dates.jsonl"
    bad_date.write_text(json.dumps({"id": "x", "title": "t", "published": "yesterday"}) + "\n")
    with pytest.raises(FeedError, match=r"dates\.jsonl:1: 'published' is not an ISO 8601 date"):
        read_entries(bad_date, now=NOW)
    repeated = tmp_path / "repeated.jsonl"
    repeated.write_text('{"id": 7, "title": "a"}\n\n{"id": "7", "title": "b"}\n')
    with pytest.raises(FeedError) as caught:
        read_entries(repeated, now=NOW)
    assert str(caught.value) == f"{repeated}:3: id '7' is already used on line 1"

"""Getting entries out of feeds: the only module that imports httpx and feedparser.

It owns two jobs. Reading: `parse_feed` turns the bytes of an RSS, Atom, RDF or JSON Feed
document into `Entry` values (`read_entries` does the same for a local file or a `.jsonl` of
entries), repairing what real feeds get wrong (charsets that lie, a doubled XML declaration,
missing titles, repeated guids) and refusing XML that declares dangerous entities. Fetching:
`Fetcher` gets a feed over HTTP politely and defensively (conditional GET, a total timeout, a
body cap enforced while streaming, redirects followed by hand and only to http/https, a per-host
interval, a global concurrency limit) and reports every outcome as a value, never an exception.

The clock is always an argument (`now`), so parsing is a pure function of its inputs.
"""

from __future__ import annotations

import asyncio
import calendar
import codecs
import dataclasses
import hashlib
import html
import io
import ipaddress
import json
import math
import multiprocessing
import multiprocessing.forkserver
import os
import re
import socket
import ssl
import threading
import time
import urllib.request
import zlib
from collections import Counter
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator, Mapping
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser
import h11
import httpx

from monitor import __version__, clusters
from monitor.errors import FeedError
from monitor.model import Entry, storable
from monitor.text import plain_text

# ---------------------------------------------------------------------------------------------
# Reading feeds
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParsedFeed:
    """What one feed document holds."""

    entries: list[Entry]
    """The entries in document order; title and summary are plain text; ids unique."""
    title: str | None
    """The feed's own title as plain text, if it has one."""
    problem: str | None
    """One sentence when the document was broken or mislabelled but entries were salvaged;
    None when it parsed cleanly."""
    ttl_seconds: int | None
    """How often the publisher asks to be polled: RSS `<ttl>` (minutes) or sy:updatePeriod /
    sy:updateFrequency, in seconds; None when it does not say."""
    keys: Mapping[str, int] = field(default_factory=dict)
    """Near-duplicate keys (`monitor.clusters.simhash` of the text as stored) by entry id, when
    the Fetcher computed them beside the parse; empty from `parse_feed` itself."""
    prepared: Any = None
    """What the Fetcher's caller asked to have computed from the entries where the parse ran
    (the poller: the rules' hits), or None."""


FUTURE_SLACK = timedelta(hours=1)
"""A published time further ahead of `now` than this is not believed (clock skew allowance)."""
MAX_ENTITY_EXPANSION = 64 * 1024
"""Characters that declared internal entities may add to a document before it is refused."""
_SAFE_LINK_SCHEMES = ("http", "https")
_UNTITLED = "(untitled)"
_TITLE_WORDS = 12


def parse_feed(
    data: bytes,
    *,
    source: str = "",
    now: datetime,
    content_type: str | None = None,
    url: str | None = None,
) -> ParsedFeed:
    """Parse the bytes of a feed document into entries.

    `content_type` is the HTTP Content-Type (its charset is honoured unless the bytes are valid
    UTF-8, which then wins); `url` is where the bytes came from, used to resolve relative links
    and to say where a problem is. Raises FeedError (one sentence) when the bytes hold no feed:
    empty, an HTML or challenge page, JSON that is not a JSON Feed, unparseable garbage, or XML
    that declares external or expanding entities.
    """
    return _parse_document(
        data, where=_where(source, url), source=source, now=now, content_type=content_type, url=url
    )


def _parse_document(
    data: bytes,
    *,
    where: str,
    source: str,
    now: datetime,
    content_type: str | None,
    url: str | None,
) -> ParsedFeed:
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head:
        raise FeedError(f"{where} is empty, not a feed")
    declared_json = "json" in (content_type or "").lower() and not head.startswith(b"<")
    if head.startswith(b"{") or declared_json:
        return _parse_json_feed(data, where=where, source=source, now=now, url=url)
    _refuse_entities(data, where)
    data, content_type, charset_note = _settle_charset(data, content_type)
    result, parsed_bytes = _run_feedparser(data, content_type, where), data
    notes: list[str] = []
    if charset_note:
        notes.append(charset_note)
    if not result.entries and result.bozo:
        repaired = _repair(data)
        if repaired is not None:
            retry = _run_feedparser(repaired, content_type, where)
            if retry.entries:
                result, parsed_bytes = retry, repaired
                notes.append("its broken XML prolog was repaired")
    if not result.entries and not result.get("version") and not _has_feed_root(parsed_bytes):
        raise FeedError(_not_a_feed(where, head, result, parsed_bytes))
    feed = result.feed
    language = feed.get("language") or None
    raws = [_raw_from_feedparser(item, url, language) for item in result.entries]
    entries = _identify(raws, source=source, now=now)
    if result.bozo:
        notes.append(_bozo_sentence(result.get("bozo_exception"), parsed_bytes))
    problem = None
    if notes:
        kept = f"{len(entries)} {'entry' if len(entries) == 1 else 'entries'} kept"
        problem = f"{where}: {'; '.join(notes)}; {kept}."
    return ParsedFeed(
        entries=entries,
        title=_text(feed.get("title")) or None,
        problem=problem,
        ttl_seconds=_ttl_seconds(feed),
    )


def read_entries(path: Path, *, source: str = "", now: datetime) -> ParsedFeed:
    """Read a local feed: an RSS/Atom/RDF/JSON Feed file, or a `.jsonl` file with one
    `{"id", "title", "summary", "published"}` object per line (summary may be HTML; other keys
    are ignored). Raises FeedError naming the file (and line, for JSON lines) on any problem."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise _UnreadableFile(f"cannot read {path}: {exc.strerror or exc}") from exc
    if path.suffix.lower() == ".jsonl":
        return _parse_jsonl(data, path=path, source=source, now=now)
    where = f"{path} (feed {source})" if source else str(path)
    return _parse_document(data, where=where, source=source, now=now, content_type=None, url=None)


class _UnreadableFile(FeedError):
    """The file itself could not be read (as opposed to holding no feed)."""


@dataclass(frozen=True, slots=True)
class _Raw:
    """An entry as found, before identities are assigned."""

    guid: str | None
    link: str | None
    title: str
    summary: str
    published: datetime | None
    language: str | None


def _where(source: str, url: str | None) -> str:
    if source and url:
        return f"feed {source} ({url})"
    if source:
        return f"feed {source}"
    return url or "the feed"


# --- charset -----------------------------------------------------------------------------------

_CHARSET_PARAM = re.compile(r"""charset\s*=\s*["']?\s*([^"';\s]+)""", re.IGNORECASE)
_XML_DECL_ENCODING = re.compile(
    rb"""\A(\xef\xbb\xbf)?(\s*<\?xml[^>]*?encoding\s*=\s*["'])([^"']*)(["'])"""
)

_XML_DECL_VERSION = re.compile(rb"""\A\s*<\?xml\s+version\s*=\s*["'][^"']*["']""")


def _canonical_charset(name: str) -> str:
    try:
        return codecs.lookup(name).name
    except LookupError:
        return name.lower()


def _settle_charset(data: bytes, content_type: str | None) -> tuple[bytes, str | None, str | None]:
    """Decide the charset where declarations are known to mislead, and relabel to match.

    Valid UTF-8 wins: servers and generators often declare latin-1 or windows-1252 for what is
    really UTF-8, and read with the declared charset every non-ASCII letter turns to mojibake
    without any error, while bytes in a legacy 8-bit charset (windows-1251, koi8-r) almost never
    form valid UTF-8. And when nothing declares a charset at all, Russian text in windows-1251
    or koi8-r is recognised rather than read as windows-1252. Returns the possibly relabelled
    bytes and content type, and a note saying what was decided (None when nothing was).
    """
    # ASCII reads the same in every candidate charset; NUL bytes mean UTF-16/32, which can also
    # be "valid UTF-8" byte-wise and must be left to the BOM and the declaration.
    if data.isascii() or b"\x00" in data:
        return data, content_type, None
    header = _CHARSET_PARAM.search(content_type or "")
    decl = _XML_DECL_ENCODING.match(data)
    declared = [m.group(1) for m in (header,) if m] + [
        m.group(3).decode("ascii", "replace") for m in (decl,) if m
    ]
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        sniffed = None if declared else _sniff_cyrillic(data)
        if sniffed is None:
            return data, content_type, None
        charset = sniffed
        note: str | None = f"it declares no charset; its bytes read as {sniffed}"
    else:
        charset = "utf-8"
        wrong = [name for name in declared if _canonical_charset(name) != "utf-8"]
        note = f"it declares charset {wrong[0]} but the bytes are UTF-8" if wrong else None
    if content_type:
        content_type = f"{content_type.split(';', 1)[0].strip()}; charset={charset}"
    label = charset.encode("ascii")
    if decl:
        data = data[: decl.start(3)] + label + data[decl.end(3) :]
    elif version := _XML_DECL_VERSION.match(data):
        data = data[: version.end()] + b' encoding="' + label + b'"' + data[version.end() :]
    elif charset != "utf-8" and not data.lstrip().startswith(b"<?xml"):
        data = b'<?xml version="1.0" encoding="' + label + b'"?>\n' + data
    return data, content_type, note


_HIGH_BYTES = bytes(range(0x80, 0x100))
_LETTER_BYTES = bytes(range(0xC0, 0x100))
_HIGH_RUN = re.compile(rb"[\xc0-\xff]{3,}")
_CYRILLIC = re.compile(r"[а-яёіїєґА-ЯЁІЇЄҐ]")
_COMMON_RUSSIAN = "оеаинтсрвлі"  # the most frequent lower-case letters of Russian and Ukrainian


def _sniff_cyrillic(data: bytes) -> str | None:
    """windows-1251 or koi8-r when undeclared bytes look like Russian text, else None.

    Both charsets put the Cyrillic letters in 0xC0-0xFF, and Russian words are runs of them,
    where Western accented letters stand alone between ASCII ones. Of the two readings, the
    right one turns most letters into the commonest lower-case Cyrillic letters; the wrong one
    (or another script, such as Hebrew in windows-1255) does not.
    """
    high = len(data) - len(data.translate(None, _HIGH_BYTES))
    letters = len(data) - len(data.translate(None, _LETTER_BYTES))
    if high < 16 or letters < 0.8 * high:
        return None
    if sum(len(run) for run in _HIGH_RUN.findall(data)) < 0.7 * letters:
        return None
    best, best_score = None, 0.45  # Russian text scores about 0.6, other readings under 0.3
    for charset in ("windows-1251", "koi8-r"):
        text = data.decode(charset, "replace")
        cyrillic = len(_CYRILLIC.findall(text))
        score = sum(text.count(ch) for ch in _COMMON_RUSSIAN) / max(cyrillic, 1)
        if score > best_score:
            best, best_score = charset, score
    return best


# --- XML entity guard --------------------------------------------------------------------------

_ENTITY_START = re.compile(rb"<!ENTITY", re.IGNORECASE)
_ENTITY_START_TEXT = re.compile(r"<!ENTITY", re.IGNORECASE)
_CDATA = re.compile(r"<!\[CDATA\[.*?\]\]>", re.DOTALL)
_LITERAL_ENTITY = re.compile(
    r"""<!ENTITY\s+([A-Za-z_][\w.\-]*)\s+(?:"([^"&%<]*)"|'([^'&%<]*)')\s*>""", re.IGNORECASE
)


def _scan_text(data: bytes) -> str:
    """The document as text good enough to find markup declarations in, whatever its charset."""
    if data[:4] in (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE) or (
        len(data) >= 4 and data[1:3] == b"\x00\x00"
    ):
        return data.decode("utf-32-le" if data[:1] != b"\x00" else "utf-32-be", "replace")
    if data[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE) or b"\x00" in data[:4]:
        big_endian = data[:2] == codecs.BOM_UTF16_BE or data[:1] == b"\x00"
        return data.decode("utf-16-be" if big_endian else "utf-16-le", "replace")
    # Every other charset a feed uses keeps ASCII markup as ASCII bytes; latin-1 maps bytes 1:1.
    return data.decode("latin-1")


def _refuse_entities(data: bytes, where: str) -> None:
    """Refuse documents whose entity declarations could read files, fetch URLs or blow up.

    Allowed: a few internal entities whose value is short literal text (real feeds use these,
    e.g. a tag: prefix). Refused: external (SYSTEM/PUBLIC) and parameter entities, values that
    refer to other entities or hold markup (the "billion laughs" chain), and declarations whose
    total expansion would exceed MAX_ENTITY_EXPANSION (the quadratic blow-up).
    """
    if b"\x00" not in data[:4] and not _ENTITY_START.search(data):
        return
    text = _scan_text(data)
    if not _ENTITY_START_TEXT.search(text):
        return
    # A CDATA section may quote XML (a post about XML, say); nothing in it is a declaration.
    text = _CDATA.sub("", text)
    refused = FeedError(f"{where} declares XML entities that could expand or read files; refused")
    expansion = 0
    for start in _ENTITY_START_TEXT.finditer(text):
        declaration = _LITERAL_ENTITY.match(text, start.start())
        if declaration is None:
            raise refused
        name, value = declaration.group(1), declaration.group(2) or declaration.group(3) or ""
        expansion += len(value) * text.count(f"&{name};")
        if expansion > MAX_ENTITY_EXPANSION:
            raise refused


# --- feedparser and repairs --------------------------------------------------------------------


def _run_feedparser(data: bytes, content_type: str | None, where: str) -> Any:
    # A BytesIO, never bytes or str: feedparser treats a string argument as a URL or file name.
    headers = {"content-type": content_type} if content_type else None
    try:
        return feedparser.parse(
            io.BytesIO(data),
            response_headers=headers,
            sanitize_html=False,
            resolve_relative_uris=False,
        )
    except Exception as exc:  # feedparser is meant never to raise; if it does, it is this feed's
        raise FeedError(f"{where} could not be parsed: {type(exc).__name__}: {exc}") from exc


_BROKEN_DECL = re.compile(rb"<\?xml(?:\?xml)?[^>]*>")
_COMMENT = re.compile(rb"<!--.*?-->", re.DOTALL)
_DECL_ENCODING = re.compile(rb"""encoding\s*=\s*["']([A-Za-z0-9._:\-]+)["']""")


def _repair(data: bytes) -> bytes | None:
    """Undo the prolog damage seen in real feeds that lose every entry in feedparser.

    The case found in the wild: comments before a doubled `<?xml?xml ... ??>` declaration, and
    `rss:`-prefixed elements without an `xmlns:rss` declaration. The declaration is moved to the
    front in a valid form and the undeclared prefix dropped. Returns None when nothing applies.
    """
    repaired = data
    head = data[:4096]
    comments = [m.span() for m in _COMMENT.finditer(head)]
    declaration = next(
        (
            m
            for m in _BROKEN_DECL.finditer(head)
            if (m.start() > 0 or b"?xml?xml" in m.group())
            and not any(start <= m.start() < end for start, end in comments)
        ),
        None,
    )
    if declaration:
        body = head[: declaration.start()] + head[declaration.end() :] + data[4096:]
        if _XML_DECL_VERSION.match(body):
            repaired = body
        else:
            encoding = _DECL_ENCODING.search(declaration.group())
            charset = encoding.group(1) if encoding else b"utf-8"
            repaired = b'<?xml version="1.0" encoding="' + charset + b'"?>\n' + body
    if re.search(rb"<rss:\w", repaired[:8192]) and b"xmlns:rss" not in repaired[:8192]:
        repaired = re.sub(rb"(</?)rss:", rb"\1", repaired)
        repaired = re.sub(rb"(\s)rss:([\w.\-]+\s*=)", rb"\1\2", repaired)
    return None if repaired == data else repaired


_CHALLENGE_MARKERS = (b"just a moment...", b"challenge-platform", b"cf-chl", b"_cf_chl_opt")


def _looks_like_challenge(body: bytes) -> bool:
    sample = body[:65536].lower()
    return any(marker in sample for marker in _CHALLENGE_MARKERS)


_ELEMENT = re.compile(r"<([A-Za-z_][\w:.\-]*)")
_FEED_ROOTS = frozenset({"rss", "feed", "rdf:rdf", "channel"})


def _root_element(data: bytes) -> str | None:
    text = _scan_text(data[:16384])
    text = re.sub(r"<!--.*?-->|<\?.*?\?>|<!DOCTYPE[^>\[]*(\[.*?\])?\s*>", "", text, flags=re.DOTALL)
    root = _ELEMENT.search(text)
    return root.group(1) if root else None


def _has_feed_root(data: bytes) -> bool:
    """Whether the document element is one a feed has (an empty feed is still a feed; feedparser
    names no version for some of them, such as a CDF channel without items)."""
    return (_root_element(data) or "").lower() in _FEED_ROOTS


def _looks_like_html(head: bytes) -> bool:
    sample = head[:1024].lower()
    return b"<!doctype html" in sample or b"<html" in sample


def _not_a_feed(where: str, head: bytes, result: Any, data: bytes) -> str:
    if _looks_like_challenge(head):
        return f"{where} is a bot-challenge page (Cloudflare-style), not a feed"
    if _looks_like_html(head):
        return f"{where} is an HTML page, not a feed"
    exc = result.get("bozo_exception")
    root = _root_element(data)
    if hasattr(exc, "getLineNumber") or (exc is not None and root is None):
        detail = f" ({_exception_text(exc, data)})"
    else:
        detail = f" (its document element is <{root}>)" if root else ""
    return f"{where} holds no RSS, Atom or RDF feed{detail}"


def _exception_text(exc: object, data: bytes = b"") -> str:
    """What feedparser complained about, with the line and column in the caller's bytes."""
    line = getattr(exc, "getLineNumber", None)
    column = getattr(exc, "getColumnNumber", None)
    message = getattr(exc, "getMessage", None)
    if callable(line) and callable(column) and callable(message):
        # feedparser puts its own XML declaration line in front when the document lacks one.
        added = 0 if _scan_text(data[:64]).lstrip("\ufeff").startswith("<?xml") else 1
        return f"line {max(line() - added, 1)}, column {column() + 1}: {message()}"
    text = " ".join(str(exc).split())
    return text[:200] or type(exc).__name__


def _bozo_sentence(exc: object, data: bytes) -> str:
    name = type(exc).__name__
    if name == "CharacterEncodingOverride":
        return f"its charset label is wrong ({_exception_text(exc)})"
    if name == "NonXMLContentType":
        return f"it is not served as XML ({_exception_text(exc)})"
    if name == "CharacterEncodingUnknown":
        return "its charset could not be determined"
    return f"it is not well-formed XML ({_exception_text(exc, data)})"


# --- entries -----------------------------------------------------------------------------------


_ESCAPED_TAG = re.compile(r"&lt;/?[A-Za-z]")


def _text(value: object) -> str:
    """Plain text of a feed field, also when its HTML arrives escaped twice (common in the
    wild: the field then holds `&lt;p&gt;` and no tag at all)."""
    if not isinstance(value, str):
        return ""
    if "<" not in value and _ESCAPED_TAG.search(value):
        value = html.unescape(value)
    return plain_text(value)


def _raw_from_feedparser(item: Any, url: str | None, feed_language: str | None) -> _Raw:
    guid = (item.get("id") or "").strip() or None
    link = (item.get("link") or "").strip() or None
    if link and item.get("guidislink") and link == guid and not _is_web_url(link):
        link = None  # feedparser copied an opaque guid into link; it is no address
    if link and url and not urlsplit(link).scheme:
        link = urljoin(url, link)
    texts = [_text(item.get("summary"))]
    texts += [_text(part.get("value")) for part in item.get("content") or ()]
    stamp = (
        item.get("published_parsed")
        or dict.get(item, "updated_parsed")
        or dict.get(item, "created_parsed")
    )
    language = None
    for key in ("title_detail", "summary_detail"):
        detail = item.get(key)
        if detail and detail.get("language"):
            language = detail.get("language")
            break
    return _Raw(
        guid=guid,
        link=link if link and _is_web_url(link) else None,
        title=_text(item.get("title")),
        summary=max(texts, key=len),
        published=_from_struct(stamp),
        language=_language(language or feed_language),
    )


def _is_web_url(value: str) -> bool:
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme.lower() in _SAFE_LINK_SCHEMES and bool(parts.netloc)


def _from_struct(stamp: time.struct_time | None) -> datetime | None:
    if not stamp:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(stamp), UTC)
    except (OverflowError, ValueError, OSError):
        return None


_LANGUAGE = re.compile(r"[a-z]{2,8}")


def _language(value: object) -> str | None:
    """The primary subtag of a language tag, lower-case ("ru-RU" -> "ru"); None if not one."""
    if not isinstance(value, str):
        return None
    primary = re.split(r"[-_\s]", value.strip().lower(), maxsplit=1)[0]
    return primary if _LANGUAGE.fullmatch(primary) else None


def _credible(published: datetime | None, now: datetime) -> datetime | None:
    if published is None:
        return None
    if published.tzinfo is None:
        published = published.replace(tzinfo=UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    published = published.astimezone(UTC)
    return None if published > now + FUTURE_SLACK else published


def _fallback_title(summary: str) -> str:
    words = summary.split()
    if not words:
        return _UNTITLED
    title = " ".join(words[:_TITLE_WORDS])
    return title + "…" if len(words) > _TITLE_WORDS else title


def _content_hash(title: str, summary: str) -> str:
    return "sha256:" + hashlib.sha256(f"{title}\n{summary}".encode()).hexdigest()


def _identify(raws: list[_Raw], *, source: str, now: datetime) -> list[Entry]:
    """Give each entry a stable id unique within the feed.

    The guid when it is unique in the feed, else the link when that is unique, else a hash of
    title and summary. An entry that repeats another exactly is the same entry and is kept once;
    ids that still collide get a `#n` suffix so that no entry is lost.
    """
    guids = Counter(raw.guid for raw in raws if raw.guid)
    links = Counter(raw.link for raw in raws if raw.link)
    entries: list[Entry] = []
    seen: dict[str, tuple[object, ...]] = {}
    for raw in raws:
        if raw.guid and guids[raw.guid] == 1:
            entry_id = raw.guid
        elif raw.link and links[raw.link] == 1:
            entry_id = raw.link
        else:
            entry_id = _content_hash(raw.title, raw.summary)
        content = (raw.title, raw.summary, raw.link, raw.guid, raw.published)
        if seen.get(entry_id) == content:
            continue
        base, n = entry_id, 1
        while entry_id in seen:
            n += 1
            entry_id = f"{base}#{n}"
        seen[entry_id] = content
        entries.append(
            Entry(
                id=entry_id,
                title=raw.title or _fallback_title(raw.summary),
                summary=raw.summary,
                link=raw.link,
                published=_credible(raw.published, now),
                source=source,
                language=raw.language,
                guid=raw.guid,
            )
        )
    return entries


_PERIOD_SECONDS = {
    "hourly": 3600,
    "daily": 86400,
    "weekly": 7 * 86400,
    "monthly": 30 * 86400,
    "yearly": 365 * 86400,
}


def _ttl_seconds(feed: Mapping[str, Any]) -> int | None:
    ttl = _positive_int(feed.get("ttl"))
    if ttl:
        return ttl * 60
    period = str(feed.get("sy_updateperiod") or "").strip().lower()
    if period in _PERIOD_SECONDS:
        return _PERIOD_SECONDS[period] // (_positive_int(feed.get("sy_updatefrequency")) or 1)
    return None


def _positive_int(value: object) -> int | None:
    try:
        number = int(str(value).strip())
    except ValueError:
        return None
    return number if number > 0 else None


# --- JSON Feed and JSON lines ------------------------------------------------------------------


def _parse_json_feed(
    data: bytes, *, where: str, source: str, now: datetime, url: str | None
) -> ParsedFeed:
    """A JSON Feed (jsonfeed.org, versions 1 and 1.1), which feedparser 6 cannot read."""
    try:
        document = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise FeedError(f"{where} is not valid JSON ({exc})") from exc
    version = document.get("version") if isinstance(document, dict) else None
    if not isinstance(version, str) or not version.startswith("https://jsonfeed.org/version/"):
        raise FeedError(f"{where} is JSON but not a JSON Feed")
    items = document.get("items")
    if not isinstance(items, list):
        raise FeedError(f"{where} is a JSON Feed without an items list")
    feed_language = document.get("language")
    raws: list[_Raw] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        link = _text_field(item.get("url")) or _text_field(item.get("external_url"))
        if link and url and not urlsplit(link).scheme:
            link = urljoin(url, link)
        texts = [
            _text(_text_field(item.get("content_html"))),
            _text(_text_field(item.get("content_text"))),
            _text(_text_field(item.get("summary"))),
        ]
        raws.append(
            _Raw(
                guid=_text_field(item.get("id")),
                link=link if link and _is_web_url(link) else None,
                title=_text(_text_field(item.get("title"))),
                summary=max(texts, key=len),
                published=_iso_datetime(item.get("date_published"))
                or _iso_datetime(item.get("date_modified")),
                language=_language(item.get("language") or feed_language),
            )
        )
    return ParsedFeed(
        entries=_identify(raws, source=source, now=now),
        title=_text(_text_field(document.get("title"))) or None,
        problem=None,
        ttl_seconds=None,
    )


def _text_field(value: object) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return str(value)  # JSON Feed ids are strings, but numbers occur in the wild
    if isinstance(value, str):
        return value.strip() or None
    return None


def _iso_datetime(value: object) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _parse_jsonl(data: bytes, *, path: Path, source: str, now: datetime) -> ParsedFeed:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FeedError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    raws: list[_Raw] = []
    first_line: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            record = json.loads(line)
        except ValueError as exc:
            raise FeedError(f"{where}: not a JSON object ({exc})") from exc
        if not isinstance(record, dict):
            raise FeedError(f"{where}: expected a JSON object, found {type(record).__name__}")
        for key in ("title", "summary", "published"):
            if record.get(key) is not None and not isinstance(record[key], str):
                raise FeedError(f"{where}: {key!r} must be a string")
        entry_id = record.get("id")
        if entry_id is not None and (
            isinstance(entry_id, bool) or not isinstance(entry_id, str | int)
        ):
            raise FeedError(f"{where}: 'id' must be a string or a whole number")
        guid = _text_field(entry_id)
        if guid is not None and guid in first_line:
            raise FeedError(f"{where}: id {guid!r} is already used on line {first_line[guid]}")
        if guid is not None:
            first_line[guid] = number
        published = None
        if record.get("published"):
            published = _iso_datetime(record["published"])
            if published is None:
                raise FeedError(
                    f"{where}: 'published' is not an ISO 8601 date: {record['published']!r}"
                )
        raws.append(
            _Raw(
                guid=guid,
                link=None,
                title=_text(record.get("title")),
                summary=_text(record.get("summary")),
                published=published,
                language=_language(record.get("language")),
            )
        )
    return ParsedFeed(
        entries=_identify(raws, source=source, now=now), title=None, problem=None, ttl_seconds=None
    )


# ---------------------------------------------------------------------------------------------
# Fetching over HTTP
# ---------------------------------------------------------------------------------------------


def _keyed(parsed: ParsedFeed) -> ParsedFeed:
    # Computed where the parse ran, so a pool of parser processes takes this work too.
    keys = {e.id: clusters.simhash(storable(e.title), storable(e.summary))
            for e in parsed.entries}
    return dataclasses.replace(parsed, keys=keys)


Prepare = Callable[[ParsedFeed], Any]
"""Work on a parsed feed to do where it was parsed; with parser processes it must pickle
(a module-level function, or a `functools.partial` of one)."""


def _parse_keyed(data: bytes, *, prepare: Prepare | None, **options: Any) -> ParsedFeed:
    parsed = _keyed(parse_feed(data, **options))
    return parsed if prepare is None else dataclasses.replace(parsed, prepared=prepare(parsed))


def _read_keyed(path: Path, *, prepare: Prepare | None, **options: Any) -> ParsedFeed:
    parsed = _keyed(read_entries(path, **options))
    return parsed if prepare is None else dataclasses.replace(parsed, prepared=prepare(parsed))


def _exit_with(poller: int) -> None:
    """Parser process initializer: leave as soon as the polling process is gone, however it
    went (a SIGKILL gives it no chance to shut its pool down)."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            try:
                os.kill(poller, 0)
            except ProcessLookupError:
                break
            except PermissionError:  # alive, under another user after a pid reuse: keep on
                pass
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-poller", daemon=True).start()


def prepare_parser_processes() -> None:
    """Start multiprocessing's resource tracker now, while `sys.stderr` is a real file. Parser
    processes need it, and it is started with stderr's file descriptor: under a full-screen
    UI that replaces `sys.stderr` (Textual's answers -1) a parser pool started later would
    fail with "bad value(s) in fds_to_keep". Cheap when it runs already."""
    from multiprocessing import resource_tracker

    resource_tracker.ensure_running()


def _parser_pool(policy: FetchPolicy) -> Executor:
    workers = max(1, policy.parse_workers)
    if not policy.parse_processes:
        return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="feedparse")
    # Not fork: the polling process has threads (the store's, asyncio's), and a forked child
    # inherits their locks in whatever state they were in.
    context: multiprocessing.context.BaseContext
    if "forkserver" in multiprocessing.get_all_start_methods():
        forkserver = multiprocessing.get_context("forkserver")
        # The fork server imports the parsing and matching code once (and numpy, which the
        # near-duplicate keys use); every parser forked from it starts with them loaded
        # instead of importing them anew (about half a second).
        forkserver.set_forkserver_preload(["monitor.parsejobs", "numpy"])
        # Started now, it loads them while the first requests are out; started by the first
        # parse, it would hold the event loop (and every request) until it had.
        multiprocessing.forkserver.ensure_running()
        context = forkserver
    else:
        context = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(max_workers=workers, mp_context=context,
                               initializer=_exit_with, initargs=(os.getpid(),))


@dataclass(frozen=True)
class FetchPolicy:
    """How a Fetcher behaves towards the sites it polls."""

    connect_timeout: float = 10.0
    """Seconds allowed to open a connection."""
    total_timeout: float = 20.0
    """Seconds allowed for a whole fetch, all redirects and the body included (queueing for
    politeness or a concurrency slot does not count)."""
    max_bytes: int = 15 * 1024 * 1024
    """Largest decoded body accepted; counted while streaming, so a gzip bomb stops here."""
    max_redirects: int = 5
    """Redirects followed before giving up."""
    user_agent: str = (
        f"monitor/{__version__} (open-source RSS/Atom early-warning monitor; polite, "
        "conditional GET)"
    )
    """The User-Agent header: names the software so site operators know who is polling."""
    per_host_interval: float = 1.0
    """Least seconds between the starts of two requests to one host."""
    concurrency: int = 64
    """Most requests in flight at once, over all hosts; a request waiting on the network costs
    a socket and a coroutine, so this is set high, and per-host politeness is separate."""
    parse_workers: int = 2
    """Parsers working beside the event loop."""
    parse_processes: bool = True
    """Parse in worker processes: feedparser is pure Python, so in threads it would take turns
    with polling and storing on one core. A worker exits within a second of the process that
    started it dying, even by SIGKILL. False parses in threads of this process."""
    max_backoff: float = 24 * 3600.0
    """Longest wait honoured from Retry-After, Cache-Control max-age or <ttl>, in seconds, so a
    wrong header cannot silence a source for weeks."""


@dataclass(frozen=True)
class Fetched:
    """A feed was fetched and parsed."""

    parsed: ParsedFeed
    etag: str | None
    """The ETag to send next time, if the server gave one."""
    last_modified: str | None
    """The Last-Modified to send next time, if the server gave one."""
    url: str
    """Where the feed finally came from, after redirects (the path, for a local file)."""
    permanent_redirect: str | None
    """Where a chain of 301/308 redirects led, if the request began with one; the caller moves
    the stored URL only after it repeats."""
    retry_after: datetime | None
    """Do not poll before this (from Cache-Control max-age or the feed's ttl), if given."""
    status: int
    """The final HTTP status (200 for a local file)."""


@dataclass(frozen=True)
class NotModified:
    """The feed has not changed since the validators we sent."""

    etag: str | None
    """The ETag to send next time (the server's, else the one we sent)."""
    last_modified: str | None
    """The Last-Modified to send next time (the server's, else the one we sent)."""
    not_before: datetime | None
    """Do not poll before this (from Cache-Control max-age), if given."""


@dataclass(frozen=True)
class FetchFailed:
    """The feed could not be fetched or held no feed; a value, not an exception."""

    error: str
    """One sentence: what went wrong and where."""
    kind: str
    """One of: http, timeout, too-large, redirects, challenge, not-a-feed, network, local."""
    retry_after: datetime | None = None
    """When the server asked us to come back (Retry-After), if it did."""
    status: int | None = None
    """The HTTP status, when there was a response."""


FetchResult = Fetched | NotModified | FetchFailed

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_PERMANENT = frozenset({301, 308})
_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml, application/feed+json, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)
_ERROR_BODY_BYTES = 64 * 1024  # enough of an error page to recognise a challenge


class _TooLarge(Exception):
    pass


class _BadEncoding(Exception):
    """The body's Content-Encoding is unknown or its compressed data is corrupt."""


_INFLATE_STEP = 64 * 1024


class _Inflater:
    """Decodes a gzip or deflate body (or passes an identity one) at most 64 KB at a time."""

    def __init__(self, content_encoding: str) -> None:
        codings = [c.strip().lower() for c in content_encoding.split(",")]
        codings = [c for c in codings if c and c != "identity"]
        if len(codings) > 1 or (codings and codings[0] not in ("gzip", "x-gzip", "deflate")):
            raise _BadEncoding(f"unsupported Content-Encoding {content_encoding!r}")
        self._coding = codings[0] if codings else None
        self._zlib: Any = None

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self._coding is None:
            if data:
                yield data
            return
        try:
            while data:
                if self._zlib is None:
                    self._zlib = zlib.decompressobj(self._wbits(data))
                out = self._zlib.decompress(data, _INFLATE_STEP)
                if out:
                    yield out
                if self._zlib.eof:
                    data = self._zlib.unused_data
                    self._zlib = None  # a gzip body may hold several members in a row
                    if self._coding == "deflate":
                        return
                else:
                    data = self._zlib.unconsumed_tail
        except zlib.error as exc:
            raise _BadEncoding(f"corrupt {self._coding} body ({exc})") from exc

    def _wbits(self, head: bytes) -> int:
        if self._coding != "deflate":
            return 16 + zlib.MAX_WBITS
        # "deflate" should be zlib-wrapped, but some servers send a raw deflate stream.
        zlib_wrapped = (
            len(head) >= 2 and head[0] & 0x0F == 8 and (head[0] * 256 + head[1]) % 31 == 0
        )
        return zlib.MAX_WBITS if zlib_wrapped else -zlib.MAX_WBITS


@dataclass
class _Exchange:
    url: str
    status: int
    headers: httpx.Headers
    body: bytes
    seconds: float


@dataclass
class _Hosts:
    """Per-host politeness state: a lock per host and when its last request started."""

    locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    last_start: dict[str, float] = field(default_factory=dict)


class Fetcher:
    """Fetches feeds over HTTP and reads local feed files, reporting outcomes as values.

    Owns the per-host politeness, the global concurrency limit, the parsers (worker processes,
    or threads) where feedparser runs off the event loop, and one httpx.AsyncClient for the
    requests that need it (through a proxy from the environment, or with credentials in the
    URL); every other GET goes out on a connection of its own (`_direct_get`). Use one Fetcher
    per event loop, as an async context manager or closing it with `aclose()`.
    """

    def __init__(self, policy: FetchPolicy | None = None) -> None:
        self.policy = policy or FetchPolicy()
        self._headers = {
            "Accept": _ACCEPT,
            "Accept-Encoding": "gzip, deflate",
            "User-Agent": self.policy.user_agent,
        }
        self._ssl = httpx.create_ssl_context()
        self._ssl.set_alpn_protocols(["http/1.1"])  # as httpcore offers it
        self._client = httpx.AsyncClient(
            follow_redirects=False,  # followed by hand, to record them and police schemes
            timeout=httpx.Timeout(self.policy.total_timeout, connect=self.policy.connect_timeout),
            headers=self._headers,
            verify=self._ssl,
            # Not more: httpcore looks through every pooled connection for each request, so a
            # large pool of kept-alive connections (one per site) costs more than handshakes.
            limits=httpx.Limits(max_connections=max(1, self.policy.concurrency)),
        )
        # A proxy from the environment is the client's business; without one, requests go out
        # directly (`_direct_get`).
        self._direct = not any(urllib.request.getproxies().get(scheme)
                               for scheme in ("http", "https", "all"))
        self._slots = asyncio.Semaphore(max(1, self.policy.concurrency))
        self._hosts = _Hosts()
        self._pool = _parser_pool(self.policy)

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connections and the parser pool."""
        await self._client.aclose()
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def fetch(
        self,
        url: str,
        *,
        source: str,
        etag: str | None,
        last_modified: str | None,
        now: datetime,
        prepare: Prepare | None = None,
    ) -> FetchResult:
        """Fetch and parse one feed URL, sending the validators from the last fetch; `prepare`
        runs on the parsed feed where it was parsed (its result: `parsed.prepared`).

        Never raises for a feed or network problem: those come back as FetchFailed.
        """
        if not _is_web_url(url):
            return FetchFailed(f"{url} is not an http or https URL; refused", "http")
        try:
            return await self._fetch(url, source, etag, last_modified, now, prepare)
        except _TooLarge:
            limit = _size(self.policy.max_bytes)
            return FetchFailed(f"{url} sent more than {limit}; stopped reading", "too-large")
        except (TimeoutError, httpx.TimeoutException) as exc:
            if isinstance(exc, httpx.ConnectTimeout):
                return FetchFailed(
                    f"could not connect to {url} within {self.policy.connect_timeout:g} s",
                    "timeout",
                )
            return FetchFailed(
                f"{url} did not finish within {self.policy.total_timeout:g} s", "timeout"
            )
        except _BadEncoding as exc:
            return FetchFailed(f"{url} sent a body it could not be read from: {exc}", "http")
        except httpx.InvalidURL as exc:
            return FetchFailed(f"{url} is not a valid URL ({exc})", "http")
        except (httpx.HTTPError, OSError) as exc:
            detail = str(exc) or type(exc).__name__
            return FetchFailed(f"network error fetching {url}: {detail}", "network")

    async def fetch_path(self, path: Path, *, source: str, now: datetime,
                         prepare: Prepare | None = None) -> FetchResult:
        """Read and parse a local feed file (a feed with `path:`) in the parser pool."""
        try:
            parsed = await self._parse(partial(_read_keyed, path, source=source, now=now,
                                               prepare=prepare))
        except _UnreadableFile as exc:
            return FetchFailed(str(exc), "local")
        except FeedError as exc:
            return FetchFailed(str(exc), "not-a-feed")
        except BrokenProcessPool:
            return FetchFailed(f"the parser stopped while reading {path}", "parse")
        return Fetched(
            parsed=parsed,
            etag=None,
            last_modified=None,
            url=str(path),
            permanent_redirect=None,
            retry_after=None,
            status=200,
        )

    async def _parse(self, job: Callable[[], ParsedFeed]) -> ParsedFeed:
        """Runs a parse in the parser pool; a pool whose worker died (a crash, the OOM killer)
        is replaced for the next feed, and this one fails with BrokenProcessPool."""
        pool = self._pool
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, job)
        except BrokenProcessPool:
            if self._pool is pool:
                pool.shutdown(wait=False, cancel_futures=True)
                self._pool = _parser_pool(self.policy)
            raise

    async def _fetch(
        self, url: str, source: str, etag: str | None, last_modified: str | None, now: datetime,
        prepare: Prepare | None,
    ) -> FetchResult:
        headers: dict[str, str] = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        current, visited = url, {url}
        permanent: str | None = None
        still_permanent = True
        budget = self.policy.total_timeout
        for hop in range(self.policy.max_redirects + 1):
            exchange = await self._exchange(current, headers, budget, etag)
            budget -= exchange.seconds
            location = exchange.headers.get("location")
            if exchange.status not in _REDIRECTS or not location:
                break
            location = location.strip()
            try:
                target = str(httpx.URL(current).join(location))
            except (httpx.InvalidURL, ValueError):
                target = location
            if not _is_web_url(target):
                target = location if urlsplit(location).scheme else target
                return FetchFailed(
                    f"{current} redirects to {target}, which is not an http or https URL; refused",
                    "redirects",
                    status=exchange.status,
                )
            if target in visited:
                return FetchFailed(
                    f"redirect loop: {current} leads back to {target}",
                    "redirects",
                    status=exchange.status,
                )
            if hop == self.policy.max_redirects:
                return FetchFailed(
                    f"{url} redirects more than {self.policy.max_redirects} times",
                    "redirects",
                    status=exchange.status,
                )
            still_permanent = still_permanent and exchange.status in _PERMANENT
            if still_permanent:
                permanent = target
            visited.add(target)
            current = target
        return await self._outcome(exchange, url, source, etag, last_modified, permanent, now,
                                   prepare)

    async def _outcome(
        self,
        exchange: _Exchange,
        url: str,
        source: str,
        etag: str | None,
        last_modified: str | None,
        permanent: str | None,
        now: datetime,
        prepare: Prepare | None,
    ) -> FetchResult:
        status, headers, where = exchange.status, exchange.headers, exchange.url
        new_etag = headers.get("etag") or None
        new_modified = headers.get("last-modified") or None
        max_age = _max_age(headers.get("cache-control"))
        if status == 304:
            return NotModified(
                etag=new_etag or etag,
                last_modified=new_modified or last_modified,
                not_before=self._floor(now, max_age),
            )
        if _is_challenge(status, headers, exchange.body):
            return FetchFailed(
                f"{where} answered with a bot-challenge page (HTTP {status}) instead of the feed",
                "challenge",
                retry_after=self._retry_after(headers.get("retry-after"), now),
                status=status,
            )
        if status >= 400:
            return FetchFailed(
                f"HTTP {status} from {where}",
                "http",
                retry_after=self._retry_after(headers.get("retry-after"), now),
                status=status,
            )
        if not 200 <= status < 300:
            return FetchFailed(f"HTTP {status} from {where} is not a feed", "http", status=status)
        if etag and new_etag and _same_etag(etag, new_etag):
            return NotModified(
                etag=new_etag,
                last_modified=new_modified or last_modified,
                not_before=self._floor(now, max_age),
            )
        try:
            parsed = await self._parse(
                partial(
                    _parse_keyed,
                    exchange.body,
                    prepare=prepare,
                    source=source,
                    now=now,
                    content_type=headers.get("content-type"),
                    url=where,
                )
            )
        except FeedError as exc:
            kind = "challenge" if _looks_like_challenge(exchange.body) else "not-a-feed"
            return FetchFailed(str(exc), kind, status=status)
        except BrokenProcessPool:
            return FetchFailed(f"the parser stopped while reading {where}", "parse",
                               status=status)
        return Fetched(
            parsed=parsed,
            etag=new_etag,
            last_modified=new_modified,
            url=where,
            permanent_redirect=permanent if permanent and permanent != url else None,
            retry_after=self._floor(now, max(max_age or 0, parsed.ttl_seconds or 0)),
            status=status,
        )

    async def _exchange(
        self, url: str, headers: dict[str, str], budget: float, etag: str | None
    ) -> _Exchange:
        """One request and its body, inside the per-host interval, a concurrency slot and the
        remaining time budget."""
        parsed = httpx.URL(url)
        await self._take_slot(parsed.host.lower())
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            async with asyncio.timeout(max(budget, 0.0)):
                if self._direct and not parsed.userinfo:
                    status, found, body = await self._direct_get(parsed, headers, etag)
                else:
                    request = self._client.build_request("GET", url, headers=headers)
                    response = await self._client.send(request, stream=True)
                    try:
                        status, found = response.status_code, response.headers
                        body = await self._read_body(status, found, response.aiter_raw(), etag)
                    finally:
                        await response.aclose()
        finally:
            self._slots.release()
        return _Exchange(url=url, status=status, headers=found, body=body,
                         seconds=loop.time() - started)

    async def _direct_get(
        self, url: httpx.URL, headers: dict[str, str], etag: str | None
    ) -> tuple[int, httpx.Headers, bytes]:
        """A GET on a connection of its own, closed after the response: the same request the
        client sends, without its layers (URL and request objects, the pool, anyio), which cost
        more CPU per conditional GET than the event loop has to spare when hundreds are in
        flight. The caps, timeouts and errors are those of the client path."""
        https = url.scheme == "https"
        host = url.raw_host.decode("ascii")
        port = url.port or (443 if https else 80)
        # h11 (the HTTP/1.1 state machine under httpx's own transport) writes the request and
        # frames the answer: informational answers, chunked, sized or read-to-close bodies.
        wire = h11.Connection(h11.CLIENT, max_incomplete_event_size=_HEAD_BYTES)
        fields = [(b"Host", url.netloc)]
        fields += [(name.encode("ascii"), value.encode("ascii"))
                   for name, value in (*self._headers.items(), *headers.items())]
        fields.append((b"Connection", b"close"))
        try:
            request = wire.send(h11.Request(method=b"GET", target=url.raw_path, headers=fields))
            request = (request or b"") + (wire.send(h11.EndOfMessage()) or b"")
        except h11.LocalProtocolError as exc:
            raise httpx.LocalProtocolError(str(exc)) from exc
        try:
            async with asyncio.timeout(self.policy.connect_timeout):
                reader, writer = await asyncio.open_connection(
                    host, port, ssl=self._ssl if https else None,
                    server_hostname=host if https else None,
                    # A name may have several addresses (IPv6 and IPv4): race them as the
                    # client does; a literal address has one.
                    happy_eyeballs_delay=None if _is_ip(host) else 0.25)
        except TimeoutError:
            raise httpx.ConnectTimeout("timed out connecting") from None
        except (socket.gaierror, ssl.SSLError, ssl.CertificateError) as exc:
            raise httpx.ConnectError(str(exc)) from exc
        except OSError as exc:
            # The client's words for a host that refused or could not be reached.
            raise httpx.ConnectError("All connection attempts failed") from exc
        try:
            writer.write(request)
            status, found = await _read_head(reader, wire)
            raw = _raw_body(reader, wire)
            try:
                body = await self._read_body(status, found, raw, etag)
            finally:
                await raw.aclose()
        except (ConnectionError, ssl.SSLError) as exc:
            raise httpx.ReadError(str(exc) or type(exc).__name__) from exc
        finally:
            writer.close()
        return status, found, body

    async def _take_slot(self, host: str) -> None:
        """Wait for the host's turn, then for a global slot; the caller releases the slot."""
        interval = self.policy.per_host_interval
        if interval <= 0:
            await self._slots.acquire()
            return
        lock = self._hosts.locks.setdefault(host, asyncio.Lock())
        loop = asyncio.get_running_loop()
        async with lock:
            wait = self._hosts.last_start.get(host, -math.inf) + interval - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            await self._slots.acquire()
            self._hosts.last_start[host] = loop.time()

    async def _read_body(self, status: int, headers: httpx.Headers, raw: AsyncIterator[bytes],
                         etag: str | None) -> bytes:
        if status in _REDIRECTS or status == 304:
            return b""
        new_etag = headers.get("etag")
        if 200 <= status < 300 and etag and new_etag and _same_etag(etag, new_etag):
            return b""
        if status >= 300:
            limit, fail = _ERROR_BODY_BYTES, False
        else:
            limit, fail = self.policy.max_bytes, True
            declared = _positive_int(headers.get("content-length"))
            if declared and declared > limit and "content-encoding" not in headers:
                raise _TooLarge
        chunks: list[bytes] = []
        size = 0
        try:
            inflater = _Inflater(headers.get("content-encoding", ""))
            # Decoded here in bounded steps rather than by httpx, which inflates a whole network
            # read at once: 64 KB of a gzip bomb would become 64 MB before the cap could look.
            async for data in raw:
                for piece in inflater.feed(data):
                    size += len(piece)
                    if size > limit:
                        if fail:
                            raise _TooLarge
                        chunks.append(piece[: limit - (size - len(piece))])
                        return b"".join(chunks)
                    chunks.append(piece)
        except _BadEncoding:
            if fail:
                raise
            # An error page we only read to recognise a challenge; its status says enough.
        return b"".join(chunks)

    def _floor(self, now: datetime, seconds: float | None) -> datetime | None:
        if not seconds or seconds <= 0:
            return None
        return now + timedelta(seconds=min(seconds, self.policy.max_backoff))

    def _retry_after(self, value: str | None, now: datetime) -> datetime | None:
        """Retry-After as a time: delay-seconds or an HTTP date, capped at max_backoff."""
        if not value:
            return None
        value = value.strip()
        if value.isdigit():
            return self._floor(now, int(value))
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return self._floor(now, (when - now).total_seconds())


_HEAD_BYTES = 64 * 1024  # the most a response's status line and headers may take
_READ_STEP = 64 * 1024


async def _next_event(reader: asyncio.StreamReader, wire: h11.Connection) -> object:
    """The next event of the answer, reading from the connection as h11 needs."""
    while True:
        try:
            event = wire.next_event()
        except h11.RemoteProtocolError as exc:
            raise httpx.RemoteProtocolError(str(exc)) from exc
        if event is not h11.NEED_DATA:
            return event
        wire.receive_data(await reader.read(_READ_STEP))  # b"": the peer closed


async def _read_head(reader: asyncio.StreamReader,
                     wire: h11.Connection) -> tuple[int, httpx.Headers]:
    """A response's status and headers, past any informational (1xx) answers."""
    while True:
        event = await _next_event(reader, wire)
        if isinstance(event, h11.Response):
            return event.status_code, httpx.Headers(list(event.headers))
        if not isinstance(event, h11.InformationalResponse):
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.")


async def _raw_body(reader: asyncio.StreamReader,
                    wire: h11.Connection) -> AsyncGenerator[bytes, None]:
    """A response's body as sent (content-encoded still)."""
    while True:
        event = await _next_event(reader, wire)
        if isinstance(event, h11.Data):
            yield bytes(event.data)
        elif isinstance(event, h11.EndOfMessage):
            return
        else:
            raise httpx.RemoteProtocolError(f"unexpected {type(event).__name__} in a body")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _same_etag(sent: str, received: str) -> bool:
    # A weak validator names the same representation for our purpose (do we re-parse?).
    return sent.strip().removeprefix("W/") == received.strip().removeprefix("W/")


def _max_age(cache_control: str | None) -> int | None:
    if not cache_control:
        return None
    directives = [part.strip().lower() for part in cache_control.split(",")]
    if "no-cache" in directives or "no-store" in directives:
        return None
    for directive in directives:
        name, _, value = directive.partition("=")
        if name.strip() == "max-age":
            return _positive_int(value.strip().strip('"'))
    return None


def _is_challenge(status: int, headers: httpx.Headers, body: bytes) -> bool:
    """A bot-protection interstitial (Cloudflare's and look-alikes) instead of the content."""
    if headers.get("cf-mitigated", "").strip().lower() == "challenge" and status in (403, 503):
        return True
    server = headers.get("server", "").lower()
    return "cloudflare" in server and status >= 400 and _looks_like_challenge(body)


def _size(count: int) -> str:
    if count >= 1024 * 1024:
        return f"{count / (1024 * 1024):g} MB"
    if count >= 1024:
        return f"{count / 1024:g} KB"
    return f"{count} bytes"

"""Plain text and folding: how the monitor reads the words of an entry.

`plain_text` turns feed markup into text once, at ingest. `fold` and `words` define what "the
same word" means for matching: case, accents, ё/е, curly quotes and dashes do not matter, and a
word is a run of letters or digits. Rules fold their patterns with the same functions, so a
pattern and a text can never disagree about a word.
"""

from __future__ import annotations

import codecs
import encodings.cp1251
import html
import re
import unicodedata
from html.parser import HTMLParser

# Folding has to be cheap: it runs on every entry. ASCII text (most English news) only needs
# lower(); other text goes through a few C-level passes, and Unicode decomposition only when a
# character outside ASCII and the basic Cyrillic alphabet is present.
_QUOTES_DASHES = re.compile("[\u2018\u2019\u201a\u201b\u2032\u201c\u201d\u201e\u201f\u00ab\u00bb"
                            "\u2010-\u2015\u2212\u00a0\u202f\u00ad]")
_PLAIN = {"\u00a0": " ", "\u202f": " ", "\u00ad": ""}
_NEEDS_DECOMPOSING = re.compile(r"[^\x00-\x7f\u0430-\u044f\u0451\u2010-\u2015\u2018-\u201f"
                                r"\u00ab\u00bb\u00a0\u00ad\u2032\u2212\u202f]")
_COMBINING = re.compile(r"[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
_ASCII_NON_WORD = str.maketrans(
    {chr(c): " " for c in range(128) if not (chr(c).isalnum() or chr(c) == "_")}
)
_NON_WORD = re.compile(r"[^\w\s]+")

WORD = re.compile(r"\w+")


def _fold_quote_or_dash(m: re.Match[str]) -> str:
    c = m.group()
    if c in _PLAIN:
        return _PLAIN[c]
    if c in "\u2010\u2011\u2012\u2013\u2014\u2015\u2212":
        return "-"
    return "'" if c in "\u2018\u2019\u201a\u201b\u2032" else '"'


def fold(text: str) -> str:
    """Lower-case `text` and drop what a reader does not see as a difference between words:
    accents, ё/е and й/и, curly quotes, kinds of dashes, soft hyphens."""
    folded = text.lower()
    if folded.isascii():
        return folded
    if _NEEDS_DECOMPOSING.search(folded):
        # Decompose so accents become separate marks, drop the marks, then recompose the rest.
        decomposed = unicodedata.normalize("NFKD", folded)
        folded = unicodedata.normalize("NFC", _COMBINING.sub("", decomposed))
    if "ё" in folded:
        folded = folded.replace("ё", "е")
    if "й" in folded:
        folded = folded.replace("й", "и")
    return _QUOTES_DASHES.sub(_fold_quote_or_dash, folded)


def fold_words(text: str) -> list[str]:
    """The folded words of `text`, in order (the same as `words`, computed faster: quotes and
    dashes need no folding when only the words are kept)."""
    folded = text.lower()
    if folded.isascii():
        return folded.translate(_ASCII_NON_WORD).split()
    if _NEEDS_DECOMPOSING.search(folded):
        folded = unicodedata.normalize(
            "NFC", _COMBINING.sub("", unicodedata.normalize("NFKD", folded)))
    if "ё" in folded:
        folded = folded.replace("ё", "е")
    if "й" in folded:
        folded = folded.replace("й", "и")
    if "\u00ad" in folded:
        folded = folded.replace("\u00ad", "")
    return _NON_WORD.sub(" ", folded).split()


# The rules read the words of every entry, so `word_string` and `written_words` take a short
# cut for text in ASCII and the Russian alphabet, which is almost all of it: encoded as cp1251
# (one byte a character), a 256-byte table folds case, ё and й, turns everything that separates
# words into a space and drops soft hyphens, all in C. A character the table cannot vouch for
# (one that folding would decompose, an accent, a control character) sends the text the long
# way, so the result is always the same.
_SEPARATORS_1251 = "\u2013\u2014\u2018\u2019\u201a\u201c\u201d\u201e\u00ab\u00bb\u00a0\u2026"
"""Dashes, quotes, no-break space and ellipsis: not words, and the rest of the text folds the
same whether or not they make `fold` decompose it."""
_FALLBACK = 0
"""The byte the folding table writes for a character it cannot vouch for."""


def _byte_tables() -> tuple[bytes, bytes]:
    folded = bytearray(256)
    written = bytearray(256)
    for b in range(256):
        try:
            c = bytes([b]).decode("cp1251")
        except UnicodeDecodeError:
            continue  # a byte no character encodes to
        word = c.isalnum() or c == "_"
        written[b] = b if word else 32
        low = c.lower()
        if c == "\u00ad" or b == _FALLBACK:
            f = c  # deleted, or the marker itself
        elif c.isascii():
            f = low if word else " "
        elif c in _SEPARATORS_1251:
            f = " "
        elif "\u0430" <= low <= "\u044f" or low == "ё":
            f = {"ё": "е", "й": "и"}.get(low, low)
        else:
            f = chr(_FALLBACK)
        folded[b] = f.encode("cp1251")[0]
    return bytes(folded), bytes(written)


_FOLDED_BYTES, _WRITTEN_BYTES = _byte_tables()
_JOINT = 0x7F
"""DEL: where `joined_word_string` joins two texts (kept by its table, a space otherwise)."""
_FOLDED_JOINED = _FOLDED_BYTES[:_JOINT] + bytes([_JOINT]) + _FOLDED_BYTES[_JOINT + 1:]
_WRITTEN_JOINED = _WRITTEN_BYTES[:_JOINT] + bytes([_JOINT]) + _WRITTEN_BYTES[_JOINT + 1:]


# The codec's own tables, called directly: `str.encode("cp1251")` looks the codec up by name
# and goes through a Python function on every call.
_ENCODE_1251 = encodings.cp1251.encoding_table
_DECODE_1251 = encodings.cp1251.decoding_table


def _encoded(text: str) -> bytes | None:
    if text.isascii():
        return text.encode()
    try:
        return codecs.charmap_encode(text, "strict", _ENCODE_1251)[0]
    except UnicodeEncodeError:
        return None


def decoded(b: bytes) -> str:
    """What `_encoded` gave, or bytes translated from it (such as the tokens of
    `joined_written_tokens`), as text again."""
    return b.decode() if b.isascii() else codecs.charmap_decode(b, "strict", _DECODE_1251)[0]


def _single_spaced(b: bytes) -> bytes:
    # Not `in`: bytes.__contains__ first tries its argument as an int and builds an exception.
    b = b.replace(b"  ", b" ")
    while b.find(b"  ") >= 0:
        b = b.replace(b"  ", b" ")
    return b.strip(b" ")


def word_string(text: str) -> str:
    """The folded words of `text` separated by single spaces: what terms are matched against."""
    raw = _encoded(text)
    if raw is None:
        return " ".join(fold_words(text))
    b = raw.translate(_FOLDED_BYTES, b"\xad")
    if b.find(b"\0") >= 0:
        return " ".join(fold_words(text))
    b = _single_spaced(b)
    return decoded(b)


def joined_word_string(first: str, mark: str, second: str) -> str:
    """The folded words of `first`, then `mark` (an ASCII character that is not part of a
    word), then the folded words of `second`, separated by single spaces: `word_string` of two
    texts at once."""
    return joined_word_source(first, mark, second)[0]


def joined_word_source(first: str, mark: str, second: str) -> tuple[str, bytes | None]:
    """`joined_word_string`, with the encoded text it folded through its byte table (None when
    it took the long way): what `joined_written_tokens` reads the written words from."""
    raw = _encoded(f"{first}\x7f{second}")
    if raw is not None:
        b = raw.translate(_FOLDED_JOINED, b"\xad")
        if b.find(b"\0") < 0 and b.count(b"\x7f") == 1:
            b = _single_spaced(b.replace(b"\x7f", f" {mark} ".encode()))
            return decoded(b), raw
    return " ".join(w for w in (word_string(first), mark, word_string(second)) if w), None


def written_words(text: str) -> list[str]:
    """The words of `text` as written, not folded (the same as `WORD.findall(text)`)."""
    raw = _encoded(text)
    if raw is None:
        return WORD.findall(text)
    b = raw.translate(_WRITTEN_BYTES)
    return decoded(b).split()


def joined_written_words(first: str, mark: str, second: str) -> list[str]:
    """The words of `first` as written, then `mark`, then those of `second`: `written_words` of
    two texts at once."""
    raw = _encoded(f"{first}\x7f{second}")
    if raw is not None:
        b = raw.translate(_WRITTEN_JOINED)
        if b.count(b"\x7f") == 1:
            text = decoded(b)
            return text.replace("\x7f", f" {mark} ").split()
    return [*WORD.findall(first), mark, *WORD.findall(second)]


_WRITTEN_TOKEN = rb"(?:\x7f|[^ \x7f]++)"
"""A word of the written text translated by its table, or the joint; possessive, so that a
count of them never splits a word."""
_WORDS_BEFORE: dict[int, re.Pattern[bytes]] = {}
_RUN_OF_WORDS: dict[int, re.Pattern[bytes]] = {}


def _counted(patterns: dict[int, re.Pattern[bytes]], count: int, form: bytes) -> re.Pattern[bytes]:
    # One pattern per count, kept: the counts are word positions, a few hundred at most.
    pattern = patterns.get(count)
    if pattern is None:
        pattern = patterns[count] = re.compile(form % (_WRITTEN_TOKEN, count))
    return pattern


def joined_written_run(source: bytes, index: int, width: int) -> bytes | None:
    """Words `index` to `index + width - 1` of the word string `joined_word_source` returned
    for `source` (the joint between the two texts is one word, as its mark is), cut out of
    `source` as written, with what stands between them ("U.S.", "anti-war"). None when they
    cannot be aligned (see `joined_written_tokens`)."""
    if source.find(b"\xad") >= 0:
        return None
    written = source.translate(_WRITTEN_JOINED)
    # Words are counted in C, by one pattern: no object per word.
    before = _counted(_WORDS_BEFORE, index, rb"(?: *%s){%d} *").match(written)
    if before is None:
        return None
    start = before.end()
    run = _counted(_RUN_OF_WORDS, width - 1, _WRITTEN_TOKEN + rb"(?: *%s){%d}").match(
        written, start)
    return None if run is None else source[start:run.end()]


def on_one_line(text: str) -> str:
    """`text` with every run of whitespace a single space: a run of words cut out as written,
    line breaks and all, as one line."""
    return " ".join(text.split())


def joined_written_tokens(source: bytes, mark: str) -> list[bytes] | None:
    """The words as written of the two texts `joined_word_source` folded into `source`, with
    `mark` between them, still encoded (`decoded` turns one into text): one for each word of
    the word string it returned, in order; None when they cannot be aligned.

    They align whenever the fold went through the byte table and dropped no soft hyphen: that
    table and the written one then agree byte for byte on what separates words, and fold each
    letter to one letter. Splitting the bytes skips the single spacing and the decoding of
    the whole text that a string of the written words would need: a rule decodes only the
    few words a match cut out of it."""
    if source.find(b"\xad") >= 0:
        return None
    # Only ASCII whitespace splits bytes, and the table leaves no other separator.
    return source.translate(_WRITTEN_JOINED).replace(b"\x7f", f" {mark} ".encode()).split()


def words(text: str) -> list[str]:
    """The folded words of `text`, in order."""
    return WORD.findall(fold(text))


_BLOCK_TAGS = frozenset(
    "address article aside blockquote br dd div dl dt figcaption figure footer h1 h2 h3 h4 h5 "
    "h6 header hr li main nav ol p pre section table tbody td tfoot th thead tr ul".split()
)
_SKIP_TAGS = frozenset({"script", "style", "template", "noscript", "iframe", "object", "svg"})
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
_SPACES = re.compile(r"[ \t\r\f\v]+")
_NEWLINES = re.compile(r"\s*\n\s*")


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self._skipping += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skipping = max(0, self._skipping - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def plain_text(markup: str | None) -> str:
    """The readable text of an HTML fragment: tags dropped, entities decoded, control
    characters removed, runs of blanks collapsed, paragraphs kept as single newlines."""
    if not markup:
        return ""
    if "<" in markup:
        parser = _TextExtractor()
        try:
            parser.feed(markup)
            parser.close()
            text = "".join(parser.parts)
        except Exception:  # HTMLParser is lenient; this guards against the truly pathological
            text = re.sub(r"<[^>]*>", " ", markup)
    else:
        text = html.unescape(markup) if "&" in markup else markup
    text = _CONTROL.sub("", text.replace("\r\n", "\n"))
    text = _SPACES.sub(" ", text)
    return _NEWLINES.sub("\n", text).strip()

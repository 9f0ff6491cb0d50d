"""The schema of indicators.yaml and its loader.

`parse(path)` reads the analyst's file, validates it with pydantic and cross-checks its
references (scenario ids in weights, `$lists`, labels in conditions), returning the config it
could build together with every problem found, each located as `file:line:col`. Clause syntax
(terms, regexes, `near`) is the rule compiler's business (`monitor.rules`), which reports its
problems through the same `Source` so they come out together.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal
from xml.etree import ElementTree

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from monitor.errors import Problem

Path_ = tuple[str | int, ...]
"""Where a value sits in the YAML document: keys and list indices from the root."""

ID_PATTERN = r"^[a-z0-9][a-z0-9-]*$"
_DURATION = re.compile(r"^\s*(?:(\d+)\s*d)?\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m)?\s*(?:(\d+)\s*s)?\s*$")


def parse_duration(value: object) -> int:
    """Seconds in a duration written like `90s`, `15m`, `2h`, `1d` or `1h30m` (or a number of
    seconds)."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration; write e.g. 15m, 2h or 7d")
    if isinstance(value, int | float):
        seconds = int(value)
    else:
        m = _DURATION.match(str(value))
        if not m or not any(m.groups()):
            raise ValueError(f"{value!r} is not a duration; write e.g. 15m, 2h or 7d")
        d, h, mi, s = (int(g or 0) for g in m.groups())
        seconds = d * 86400 + h * 3600 + mi * 60 + s
    if seconds <= 0:
        raise ValueError(f"{value!r} is not a positive duration; write e.g. 15m, 2h or 7d")
    return seconds


Duration = Annotated[int, BeforeValidator(parse_duration)]
"""A duration in seconds, written in the YAML as `15m`, `2h`, `14d` ..."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, frozen=True)


class Defaults(_Strict):
    """Settings every scenario and feed inherits unless it says otherwise."""

    half_life: Duration = 14 * 86400
    """How long until a piece of evidence counts half as much (e.g. 14d)."""
    alert: float = 60
    """The score (0-100) at which a scenario raises an alert."""
    every: Duration = 30 * 60
    """How often a feed is polled (e.g. 15m)."""
    reliability: Literal["A", "B", "C", "D", "E", "F"] = "C"
    """Admiralty source-reliability grade: A completely reliable ... E unreliable, F cannot be
    judged."""
    scale: float = Field(default=6.0, gt=0)
    """Evidence at which a scenario's level reaches 63 of 100 (see docs/scoring.md)."""
    hysteresis: float = Field(default=10.0, ge=0)
    """An alert ends only when the level falls this many points below the alert level."""
    summary_chars: int = Field(default=600, ge=0)
    """How much of a summary the rules read (its lead, cut at a word); 0 reads all of it.
    Feeds that put whole articles in the summary otherwise fire on background paragraphs:
    over 14 real news feeds, 8 of the shipped rules' 9 hits were background when they read
    1,500 characters; reading 600 kept only the one true hit (docs/indicators.md)."""


class Feed(_Strict):
    """One feed the monitor polls: a remote `url`, a local `path`, or an `opml` list of feeds."""

    id: str = Field(default="", pattern=r"^$|" + ID_PATTERN)
    """Stable id of the feed (lower-case letters, digits and dashes); evidence refers to it."""
    url: str | None = None
    """An http(s) URL of an RSS, Atom or JSON feed."""
    path: str | None = None
    """A local feed file, relative to indicators.yaml (for demos and exported files)."""
    opml: str | None = None
    """An OPML file of feeds (relative to indicators.yaml) to take in as they are."""
    title: str | None = None
    """A human name for the feed; defaults to the feed's own title."""
    reliability: Literal["A", "B", "C", "D", "E", "F"] | None = None
    """Admiralty grade of the source (A-F); defaults to `defaults.reliability`."""
    every: Duration | None = None
    """Polling interval (e.g. 15m); defaults to `defaults.every`."""
    language: str | None = None
    """The feed's language (e.g. en, ru) when the feed does not say."""

    @field_validator("url")
    @classmethod
    def _http_only(cls, url: str | None) -> str | None:
        if url is not None and not re.match(r"^https?://[^\s/]+", url):
            raise ValueError(f"url {url!r} must start with http:// or https://")
        return url

    @model_validator(mode="after")
    def _one_location(self) -> Feed:
        given = [k for k in ("url", "path", "opml") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError("a feed needs exactly one of `url`, `path` or `opml`")
        if not self.opml and not self.id:
            raise ValueError("a feed needs an `id` (lower-case letters, digits and dashes)")
        return self


class Convergence(_Strict):
    """Alert only when at least `indicators` distinct indicators fired within `within`."""

    indicators: int = Field(ge=1)
    """How many distinct indicators must have fired."""
    within: Duration = 14 * 86400
    """The window they must have fired in (e.g. 14d)."""


class Scenario(_Strict):
    """A way the situation could go, scored by the indicators that weigh on it."""

    id: str = Field(pattern=ID_PATTERN)
    """Stable id (lower-case letters, digits and dashes); weights and feedback refer to it."""
    title: str
    """A short name shown on screens and in digests."""
    question: str
    """The analyst's question the scenario answers."""
    source: str = ""
    """Where the scenario comes from (analysis and section)."""
    alert: float | None = Field(default=None, ge=0, le=100)
    """Score (0-100) that raises an alert; defaults to `defaults.alert`."""
    half_life: Duration | None = None
    """Half-life of evidence for this scenario; defaults to `defaults.half_life`."""
    convergence: Convergence | None = None
    """Require evidence from several distinct indicators before alerting."""


class ValueSpec(_Strict):
    """Extract a number (a rate, a level) written near given terms."""

    near: list[str] = Field(min_length=1)
    """Terms the number must be written near, e.g. ["key rate", "ключев* ставк*"]."""
    within: int = Field(default=8, ge=1, le=50)
    """How many words away from one of the terms the number may stand."""
    unit: Literal["percent", "number"] = "percent"
    """`percent` takes only numbers written as percentages (21%, 21 per cent, 21 процента)."""


class ExampleItem(_Strict):
    """A news item written out in full, for examples that need a summary too."""

    title: str
    summary: str = ""


class Example(_Strict):
    """A sample item the indicator must (`match`) or must not (`no_match`) fire on."""

    match: str | ExampleItem | None = None
    """An item the indicator must match (a title, or {title, summary})."""
    no_match: str | ExampleItem | None = None
    """An item the indicator must not match."""
    value: float | None = None
    """The value the indicator must extract from the `match` item."""
    label: str | None = None
    """The label the indicator must give the `match` item."""

    @model_validator(mode="after")
    def _one_kind(self) -> Example:
        if (self.match is None) == (self.no_match is None):
            raise ValueError("an example is either `match: ...` or `no_match: ...`")
        if self.no_match is not None and (self.value is not None or self.label is not None):
            raise ValueError("`value` and `label` belong to `match` examples")
        return self

    @property
    def item(self) -> ExampleItem:
        text = self.match if self.match is not None else self.no_match
        return text if isinstance(text, ExampleItem) else ExampleItem(title=str(text))


class When(_Strict):
    """What a hit must carry for a condition to apply."""

    label: str | list[str] | None = None
    """The hit's label (or one of several)."""
    value_at_least: float | None = None
    """The extracted value is at least this."""
    value_below: float | None = None
    """The extracted value is below this."""


class Condition(_Strict):
    """Weights that replace the indicator's `weight` for hits that fit `when`."""

    when: When
    """What the hit must carry."""
    weight: dict[str, float]
    """Scenario id -> weight for such hits (negative = evidence against)."""


class Indicator(_Strict):
    """A warning sign: what counts as evidence for it, and which scenarios it weighs on."""

    id: str = Field(pattern=ID_PATTERN)
    """Stable id (lower-case letters, digits and dashes)."""
    title: str
    """A short description shown beside its evidence."""
    description: str = ""
    """What counts and what does not, for the analyst reading the file."""
    weight: dict[str, float] = Field(min_length=1)
    """Scenario id -> weight of one hit (negative = evidence against the scenario)."""
    match: Any
    """The rule: terms, `any`, `all`, `not`, `near`, `in` (see docs/indicators.md)."""
    value: ValueSpec | None = None
    """Extract a number near given terms (e.g. the new key rate)."""
    labels: dict[str, Any] = Field(default_factory=dict)
    """Name -> clause; a hit gets the first label whose clause matches (e.g. hike, cut)."""
    conditions: list[Condition] = Field(default_factory=list)
    """Weights for hits with a given label or value; the first that fits wins."""
    examples: list[Example] = Field(default_factory=list)
    """Items the rule must and must not match; `monitor check` runs them."""


class Polling(_Strict):
    """How politely and how widely the poller fetches."""

    host_interval: float = Field(default=1.0, ge=0)
    """Seconds between two requests to one host (politeness); 0 turns it off."""
    concurrency: int = Field(default=64, ge=1, le=256)
    """How many feeds are fetched at once, over all hosts (one host still gets one request per
    `host_interval`); waiting on the network costs little, so this is set high."""
    timeout: float = Field(default=20.0, gt=0)
    """Seconds a whole fetch may take, body included."""


class Alerts(_Strict):
    """Who hears about alerts."""

    email: list[str] = Field(default_factory=list)
    """Addresses that receive an email when a scenario crosses its alert level."""


class RootFile(_Strict):
    """The top level of indicators.yaml."""

    version: Literal[1] = 1
    """The version of the indicator language; 1."""
    defaults: Defaults = Field(default_factory=Defaults)
    """Settings scenarios and feeds inherit."""
    lists: dict[str, list[Any]] = Field(default_factory=dict)
    """Reusable term lists, used in rules as `$name` (the rule compiler checks the terms)."""
    feeds: list[Any] = Field(default_factory=list)
    """The feeds to poll."""
    scenarios: list[Any] = Field(default_factory=list)
    """The scenarios to score."""
    indicators: list[Any] = Field(default_factory=list)
    """The warning signs."""
    alerts: Alerts = Field(default_factory=Alerts)
    """Alert delivery."""
    polling: Polling = Field(default_factory=Polling)
    """Fetching politeness and limits."""


@dataclass
class Source:
    """Where each value of the YAML document stands, to turn paths into `file:line:col`."""

    file: str
    value_marks: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    key_marks: dict[Path_, tuple[int, int]] = field(default_factory=dict)

    def at(self, path: Path_, message: str, *, key: bool = False) -> Problem:
        """A problem located at `path` (at its key when `key`), or at the nearest ancestor."""
        marks = self.key_marks if key else self.value_marks
        p = tuple(path)
        while p:
            if p in marks:
                line, col = marks[p]
                return Problem(self.file, line, col, message)
            if p in self.value_marks:
                line, col = self.value_marks[p]
                return Problem(self.file, line, col, message)
            p = p[:-1]
        line, col = self.value_marks.get((), (1, 1))
        return Problem(self.file, line, col, message)


@dataclass
class Config:
    """A validated indicators.yaml: what the rule compiler, poller and scorer work from."""

    path: Path
    source: Source
    defaults: Defaults
    lists: dict[str, list[Any]]
    feeds: list[Feed]
    scenarios: list[Scenario]
    indicators: list[Indicator]
    alerts: Alerts
    polling: Polling
    indicator_paths: dict[str, Path_]
    """Indicator id -> its path in the document, to locate problems found later."""

    def scenario(self, scenario_id: str) -> Scenario | None:
        return next((s for s in self.scenarios if s.id == scenario_id), None)


# --- YAML with positions -----------------------------------------------------------------


# The C loader keeps line and column marks and reads a large file about five times faster.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _compose(text: str, source: Source, problems: list[Problem]) -> Any:
    try:
        node = yaml.compose(text, Loader=_LOADER)
    except yaml.reader.ReaderError as exc:
        before = text[: exc.position]
        line, col = before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        problems.append(Problem(source.file, line, col, f"the file holds a control character "
                                f"YAML does not allow (U+{code:04X}); delete it"))
        return None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        what = exc.problem or exc.context or "invalid YAML"
        problems.append(
            Problem(source.file, line, col, f"YAML syntax error: {what}; check indentation, "
                    "colons and quotes on this line")
        )
        return None
    except yaml.YAMLError as exc:
        problems.append(Problem(source.file, 1, 1, f"YAML syntax error: {exc}"))
        return None
    if node is None:
        return {}
    return _construct(node, (), source, problems)


def _construct(node: yaml.Node, path: Path_, source: Source, problems: list[Problem]) -> Any:
    source.value_marks[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = yaml.SafeLoader(" ").construct_object(key_node) if isinstance(
                key_node, yaml.ScalarNode
            ) else None
            if key_node.tag == "tag:yaml.org,2002:merge":
                problems.append(source_problem(source, key_node, "YAML merge keys (<<) are not "
                                               "supported; write the keys out"))
                continue
            if not isinstance(key, str | int | float | bool) or key is None:
                problems.append(source_problem(source, key_node, "a key must be a plain word"))
                continue
            key = str(key)
            child = (*path, key)
            if key in result:
                first = source.key_marks[child]
                problems.append(source_problem(
                    source, key_node,
                    f"duplicate key `{key}` (first at line {first[0]}); keep one of them",
                ))
                continue
            source.key_marks[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            result[key] = _construct(value_node, child, source, problems)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_construct(n, (*path, i), source, problems) for i, n in enumerate(node.value)]
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node)
    except yaml.YAMLError:
        return node.value
    finally:
        loader.dispose()


def source_problem(source: Source, node: yaml.Node, message: str) -> Problem:
    return Problem(source.file, node.start_mark.line + 1, node.start_mark.column + 1, message)


# --- validation --------------------------------------------------------------------------


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`; did you mean `x`?` for the closest of `choices`, or nothing."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean `{close[0]}`?" if close else ""


def _fields_at(model: type[BaseModel], loc: tuple[str | int, ...]) -> list[str]:
    """The field names allowed where `loc` points, for "did you mean" suggestions."""
    current: Any = model
    for part in loc[:-1]:
        if isinstance(part, int) or current is None:
            continue
        info = getattr(current, "model_fields", {}).get(part)
        if info is None:
            return []
        current = _model_in(info.annotation)
    return list(getattr(current, "model_fields", {}))


def _model_in(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


_WHAT = {"feeds": "feed", "scenarios": "scenario", "indicators": "indicator"}


def _pydantic_problems(
    exc: ValidationError, model: type[BaseModel], prefix: Path_, source: Source
) -> list[Problem]:
    problems = []
    errors = exc.errors()
    # A misspelt key shows up twice: as an unknown key and as the missing one it was meant to
    # be. Report it once, as the misspelling with its suggestion.
    misspelt = {
        (tuple(e["loc"][:-1]), c)
        for e in errors if e["type"] == "extra_forbidden"
        for c in difflib.get_close_matches(str(e["loc"][-1]),
                                           _fields_at(model, tuple(e["loc"])), n=1, cutoff=0.6)
    }
    for err in errors:
        if err["type"] == "missing" and (tuple(err["loc"][:-1]), err["loc"][-1]) in misspelt:
            continue
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        # Union members add their type names to the location; they mean nothing to an analyst.
        loc = tuple(p for p in loc if not (isinstance(p, str) and p[:1].isupper()))
        loc = tuple(p for p in loc if p not in ("str", "int", "float", "bool", "list[str]"))
        path = (*prefix, *loc)
        kind = err["type"]
        name = str(loc[-1]) if loc else ""
        where = _WHAT.get(str(prefix[0]), "") if prefix else ""
        if kind == "extra_forbidden":
            hint = did_you_mean(name, _fields_at(model, loc))
            allowed = ", ".join(f"`{f}`" for f in _fields_at(model, loc))
            message = f"unknown key `{name}`{hint or f'; allowed here: {allowed}'}"
            problems.append(source.at(path, message, key=True))
            continue
        if kind == "missing":
            message = f"missing `{name}`" + (f" in this {where}" if where else "")
            problems.append(source.at(path[:-1], message + f": add `{name}: ...`"))
            continue
        msg = err["msg"].removeprefix("Value error, ")
        if kind == "string_pattern_mismatch":
            msg = (f"`{name}` must be lower-case letters, digits and dashes "
                   f"(like elite-fracture), got {err['input']!r}")
        elif kind == "literal_error" and name in ("reliability",):
            msg = f"reliability must be a grade from A to F, got {err['input']!r}"
        elif kind in ("float_parsing", "float_type", "int_parsing", "int_type"):
            msg = f"`{name}` must be a number, got {err['input']!r}"
        elif kind in ("dict_type",):
            msg = f"`{name}` must be a mapping of keys to values, got {err['input']!r}"
        elif kind in ("list_type",):
            msg = f"`{name}` must be a list ([...] or lines starting with -), got {err['input']!r}"
        elif name and not msg.startswith((f"`{name}`", f"{name} ")):
            msg = f"`{name}`: {msg}"
        problems.append(source.at(path, msg))
    return problems


def _validate(
    model: type[BaseModel], data: Any, prefix: Path_, source: Source, problems: list[Problem]
) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems.extend(_pydantic_problems(exc, model, prefix, source))
        return None


def _check_unique(items: list[Any], kind: str, path: str, source: Source,
                  problems: list[Problem]) -> list[Any]:
    seen: dict[str, int] = {}
    kept = []
    for index, item in items:
        if item.id in seen:
            first = source.value_marks.get((path, seen[item.id], "id"), (0, 0))[0]
            problems.append(source.at((path, index, "id"),
                                      f"duplicate {kind} id `{item.id}` (first defined at line "
                                      f"{first}); give each {kind} its own id"))
            continue
        seen[item.id] = index
        kept.append((index, item))
    return kept


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "feed"


def _expand_opml(feeds: list[tuple[int, Feed]], path: Path, source: Source,
                 problems: list[Problem]) -> list[tuple[int, Feed]]:
    """Replace each `opml:` entry by the feeds its file lists, ids made from their titles."""
    out: list[tuple[int, Feed]] = []
    for index, feed in feeds:
        if not feed.opml:
            out.append((index, feed))
            continue
        opml_path = (path.parent / feed.opml)
        try:
            tree = ElementTree.parse(opml_path)
        except OSError as exc:
            problems.append(source.at(("feeds", index, "opml"), f"cannot read OPML file "
                                      f"{feed.opml}: {(exc.strerror or str(exc)).lower()}"))
            continue
        except ElementTree.ParseError as exc:
            problems.append(source.at(("feeds", index, "opml"),
                                      f"OPML file {feed.opml} is not valid XML: {exc}"))
            continue
        taken: set[str] = set()
        for outline in tree.iter("outline"):
            url = outline.get("xmlUrl")
            if not url or not re.match(r"^https?://", url):
                continue
            title = outline.get("title") or outline.get("text") or url
            base = _slug(feed.id + "-" + title if feed.id else title)
            feed_id, n = base, 2
            while feed_id in taken:
                feed_id, n = f"{base}-{n}", n + 1
            taken.add(feed_id)
            out.append((index, Feed(id=feed_id, url=url, title=title,
                                    reliability=feed.reliability, every=feed.every,
                                    language=feed.language)))
    return out


def _list_refs(value: Any, path: Path_) -> Iterable[tuple[str, Path_]]:
    """Every `$name` used in a clause, with where it stands."""
    if isinstance(value, str):
        if value.startswith("$"):
            yield value[1:], path
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _list_refs(v, (*path, i))
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _list_refs(v, (*path, k))


def parse(path: Path | str) -> tuple[Config | None, list[Problem]]:
    """Read and validate indicators.yaml; the config that could be built, and every problem.

    The config is None only when the file cannot be read as YAML at all.
    """
    path = Path(path)
    source = Source(file=path.name if path.parent == Path(".") else str(path))
    problems: list[Problem] = []
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, [Problem(source.file, 1, 1, "file not found; pass --indicators PATH or "
                              "set MONITOR_INDICATORS")]
    except (OSError, UnicodeDecodeError) as exc:
        return None, [Problem(source.file, 1, 1, f"cannot read the file: {exc}")]
    data = _compose(text, source, problems)
    if data is None:
        return None, problems
    if not isinstance(data, dict):
        problems.append(source.at((), "the file must be a mapping with `scenarios:` and "
                                       "`indicators:` at the top"))
        return None, problems

    root_data = {k: v for k, v in data.items()}
    root = _validate(RootFile, root_data, (), source, problems)
    if root is None:
        # Keep going with the sections that are well-formed, so every problem is reported.
        safe = {k: root_data[k] for k in ("feeds", "scenarios", "indicators")
                if isinstance(root_data.get(k), list)}
        for k in ("lists", "defaults", "alerts", "polling"):
            try:
                RootFile.model_validate({k: root_data[k]})
                safe[k] = root_data[k]
            except (ValidationError, KeyError):
                pass
        root = RootFile.model_validate(safe)

    feeds = [(i, f) for i, raw in enumerate(root.feeds)
             if (f := _validate(Feed, raw, ("feeds", i), source, problems)) is not None]
    scenarios = [(i, s) for i, raw in enumerate(root.scenarios)
                 if (s := _validate(Scenario, raw, ("scenarios", i), source, problems)) is not None]
    indicators = [(i, s) for i, raw in enumerate(root.indicators)
                  if (s := _validate(Indicator, raw, ("indicators", i), source, problems))
                  is not None]

    feeds = _check_unique(_expand_opml(feeds, path, source, problems), "feed", "feeds", source,
                          problems)
    scenarios = _check_unique(scenarios, "scenario", "scenarios", source, problems)
    indicators = _check_unique(indicators, "indicator", "indicators", source, problems)

    scenario_ids = [s.id for _, s in scenarios]
    known_scenarios = set(scenario_ids)
    for i, ind in indicators:
        weights = [(("indicators", i, "weight"), ind.weight)] + [
            (("indicators", i, "conditions", c, "weight"), cond.weight)
            for c, cond in enumerate(ind.conditions)
        ]
        for wpath, weight in weights:
            for sid in weight:
                if sid not in known_scenarios:
                    hint = did_you_mean(sid, scenario_ids) or (
                        "; define it under `scenarios:` or fix the id")
                    problems.append(source.at((*wpath, sid),
                                              f"weight names unknown scenario `{sid}`{hint}",
                                              key=True))
        for c, cond in enumerate(ind.conditions):
            wanted = cond.when.label
            for label in [wanted] if isinstance(wanted, str) else wanted or []:
                if label not in ind.labels:
                    known = ", ".join(f"`{k}`" for k in ind.labels) or "none defined"
                    problems.append(source.at(("indicators", i, "conditions", c, "when", "label"),
                                              f"condition names unknown label `{label}` "
                                              f"(labels of this indicator: {known})"))
        for e, example in enumerate(ind.examples):
            if example.label is not None and example.label not in ind.labels:
                problems.append(source.at(("indicators", i, "examples", e, "label"),
                                          f"example expects unknown label `{example.label}`"))

    list_names = list(root.lists)
    for name, terms in root.lists.items():
        if not terms:
            problems.append(source.at(("lists", name), f"list `{name}` is empty; give it at "
                                      "least one term or remove it"))
    referenced = list(_list_refs(root.lists, ("lists",)))
    for i, _ in indicators:
        raw = root.indicators[i]
        for key in ("match", "labels", "value"):
            if key in raw:
                referenced.extend(_list_refs(raw[key], ("indicators", i, key)))
    for name, ref_path in referenced:
        if name not in root.lists:
            hint = did_you_mean(name, list_names).replace("mean `", "mean `$") or (
                "; define it under `lists:`")
            problems.append(source.at(ref_path, f"unknown list `${name}`{hint}"))

    config = Config(
        path=path,
        source=source,
        defaults=root.defaults,
        lists=dict(root.lists),
        feeds=[f for _, f in feeds],
        scenarios=[s for _, s in scenarios],
        indicators=[ind for _, ind in indicators],
        alerts=root.alerts,
        polling=root.polling,
        indicator_paths={ind.id: ("indicators", i) for i, ind in indicators},
    )
    return config, problems

"""Synthetic, seeded workloads for the benchmarks: a news vocabulary, indicators and items.

Everything is a function of a seed, so two runs (or two benchmarks) see the same indicators
and the same items. The vocabulary mixes real English and Russian news words with made-up
ones, inflects them (so `stem*` prefixes have something to cover), includes multi-word
collocations (so phrases occur) and draws words with a Zipf-like law, the way news text is
distributed. Indicators are built from the same vocabulary, so a realistic share of items
hits them.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

# --- vocabulary ----------------------------------------------------------------------------

_EN_FUNCTION = (
    "the of and to in a on for that with by as at from is was has have will be it its "
    "his their after over said says which who but not an this are were been had new more "
    "than into about against also amid while two three"
).split()
_RU_FUNCTION = (
    "и в на не что с по о к за из от до для как это же но а его их после при уже также "
    "еще более чем всех году был была были будет может"
).split()
# Real stems give the text a familiar look; made-up ones give the long tail.
_EN_REAL = (
    "kremlin minister governor general sanction bank rate ruble export army drone strike "
    "attack front talk ceasefire treaty court arrest protest election parliament budget "
    "inflation refinery pipeline tanker brigade offensive recruit prison border missile "
    "airfield energy grid deputy mayor official commander colonel oligarch tycoon "
    "shipment port railway bridge plant factory wage pension tax deficit reserve bond "
    "loan default currency price market trader investor mobilisation conscript volunteer "
    "mercenary blogger critic journalist editor channel broadcast censor ban raid search "
    "detention trial verdict sentence appeal dissent rally march strikebreaker union "
    "shortage queue ration subsidy harvest grain fertiliser coal steel metal nickel "
    "alliance summit envoy diplomat embassy mediator proposal agreement settlement"
).split()
_RU_REAL = (
    "кремл министр губернатор генерал санкци банк ставк рубл экспорт арми дрон удар "
    "атак фронт переговор перемири договор суд арест протест выбор парламент бюджет "
    "инфляци нефт газ танкер бригад наступлени призыв тюрьм границ ракет аэродром "
    "энерги депутат мэр чиновник командир полковник олигарх порт мост завод зарплат "
    "пенси налог дефицит резерв кредит валют цен рынок мобилизаци доброволец блогер "
    "журналист редактор канал цензур обыск задержани приговор митинг саммит посол"
).split()
_EN_ONSETS = ("b br c ch d dr f fl g gr h j k l m n p pl pr r s sh st t tr v w z "
              "sk sl sp th").split()
_EN_VOWELS = "a e i o u a e i o ai ea ou".split()
_EN_CODAS = ["", "n", "r", "s", "t", "l", "m", "nd", "st", "ck", "rn", "x"]
_RU_ONSETS = "б в г д ж з к л м н п р с т ф х ц ч ш ст пр кр гр тр св бл".split()
_RU_VOWELS = "а е и о у ы я ю".split()
_RU_CODAS = ["", "н", "р", "л", "с", "т", "к", "в", "м"]
_EN_ENDINGS = (("", 6), ("s", 3), ("ed", 1), ("ing", 1))
_RU_ENDINGS = (("", 2), ("а", 2), ("у", 1), ("ом", 1), ("е", 2), ("ы", 1), ("ов", 1),
               ("ами", 1), ("ой", 1))
_GAP_FILLERS = {"en": ("the", "his", "her", "their", "a"), "ru": ("его", "свой", "этот", "их")}


@dataclass(frozen=True)
class Unit:
    """What one draw from the vocabulary writes: a word family or a collocation."""

    lang: str
    kind: str  # family | phrase | gapped
    stem: str
    forms: tuple[str, ...]
    """Surface forms of a family, or the words of a phrase ("" marks the gap slot)."""
    weights: tuple[int, ...] = ()


@dataclass(frozen=True)
class Vocabulary:
    """Function words and content units of both languages, content units in Zipf rank order."""

    function: dict[str, tuple[str, ...]]
    units: dict[str, tuple[Unit, ...]]
    cum_weights: dict[str, tuple[float, ...]]


def _pseudo(rng: random.Random, lang: str) -> str:
    onsets, vowels, codas = ((_EN_ONSETS, _EN_VOWELS, _EN_CODAS) if lang == "en" else
                             (_RU_ONSETS, _RU_VOWELS, _RU_CODAS))
    syllables = rng.choice((1, 2, 2, 2, 3, 3))
    return "".join(rng.choice(onsets) + rng.choice(vowels) for _ in range(syllables)) + (
        rng.choice(codas))


def _family(lang: str, stem: str) -> Unit:
    endings = _EN_ENDINGS if lang == "en" else _RU_ENDINGS
    return Unit(lang, "family", stem, tuple(stem + e for e, _ in endings),
                tuple(w for _, w in endings))


def vocabulary(seed: int = 1, families: int = 20_000, phrases: int = 1_500,
               zipf: float = 1.05) -> Vocabulary:
    """A deterministic two-language vocabulary of about `families` word families and
    `phrases` collocations per language."""
    rng = random.Random(seed)
    units: dict[str, tuple[Unit, ...]] = {}
    cum: dict[str, tuple[float, ...]] = {}
    for lang, real in (("en", _EN_REAL), ("ru", _RU_REAL)):
        seen: set[str] = set(real)
        made: list[str] = []
        while len(made) < families - len(real):
            word = _pseudo(rng, lang)
            # A made-up stem must not be a word of another family, or "word" and "word*"
            # terms would mean something other than the generator intended.
            if word not in seen and len(word) >= 4:
                seen.add(word)
                made.append(word)
        fams = [_family(lang, s) for s in made]
        rng.shuffle(fams)
        # Real words are common in this domain: put them among the first ranks.
        head = [_family(lang, s) for s in real]
        ranked = fams[:1_000] + head
        rng.shuffle(ranked)
        ranked += fams[1_000:]
        for i in range(phrases):
            a, b = rng.sample(ranked[:4_000], 2)
            if i % 4 == 3:
                unit = Unit(lang, "gapped", a.stem, (a.forms[0], "", b.forms[0]))
            else:
                unit = Unit(lang, "phrase", a.stem, (a.forms[0], b.forms[0]))
            ranked.insert(rng.randrange(30, 15_000), unit)
        units[lang] = tuple(ranked)
        cum[lang] = tuple(itertools.accumulate(1.0 / (r + 2.7) ** zipf
                                               for r in range(len(ranked))))
    function = {"en": tuple(_EN_FUNCTION), "ru": tuple(_RU_FUNCTION)}
    return Vocabulary(function, units, cum)


# --- items ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    """One synthetic news item: a title and a one- or two-sentence summary."""

    title: str
    summary: str
    lang: str


def _write(rng: random.Random, vocab: Vocabulary, lang: str, count: int) -> list[str]:
    """About `count` words of running text in `lang`."""
    out: list[str] = []
    function = vocab.function[lang]
    units = vocab.units[lang]
    cum = vocab.cum_weights[lang]
    while len(out) < count:
        if rng.random() < 0.4:
            # Function words follow their own steep law: "the" and "и" dominate.
            out.append(function[min(int(rng.expovariate(0.12)), len(function) - 1)])
            continue
        unit = rng.choices(units, cum_weights=cum)[0]
        if unit.kind == "family":
            word = rng.choices(unit.forms, weights=unit.weights)[0]
            if lang == "ru" and "е" in word and rng.random() < 0.1:
                word = word.replace("е", "ё", 1)  # folding must make ё and е the same letter
            out.append(word)
        else:
            out.extend(w or rng.choice(_GAP_FILLERS[lang]) for w in unit.forms)
        if rng.random() < 0.01:
            out.append(rng.choice(("21%", "2024", "16,5%", "300", "1.5")))
    return out


def _sentence(rng: random.Random, words: list[str], end: str) -> str:
    text: list[str] = []
    for i, word in enumerate(words):
        if i and rng.random() < 0.06 and i < len(words) - 1:
            text[-1] += rng.choice((",", ",", ";", " —", ":"))
        if rng.random() < 0.01:
            word = f"“{word}”"
        text.append(word)
    sentence = " ".join(text)
    return sentence[:1].upper() + sentence[1:] + end


def items(vocab: Vocabulary, count: int, seed: int = 2, russian: float = 0.25) -> list[Item]:
    """`count` items, a share `russian` of them in Russian, the rest in English."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        lang = "ru" if rng.random() < russian else "en"
        title = _sentence(rng, _write(rng, vocab, lang, rng.randint(7, 13)), "")
        length = rng.randint(30, 60)
        if rng.random() < 0.5:
            summary = _sentence(rng, _write(rng, vocab, lang, length), ".")
        else:
            first = rng.randint(12, length - 12)
            summary = " ".join((_sentence(rng, _write(rng, vocab, lang, first), "."),
                                _sentence(rng, _write(rng, vocab, lang, length - first), ".")))
        out.append(Item(title, summary, lang))
    return out


# --- indicators ----------------------------------------------------------------------------


class _TermPicker:
    """Indicator terms drawn from the vocabulary at a log-uniform rank between `low` and
    `high`: analysts combine a few common context words (Kremlin, minister*) with specific
    ones (resign*, "relieved of * post")."""

    def __init__(self, rng: random.Random, vocab: Vocabulary, low: int, high: int) -> None:
        self.rng = rng
        self.vocab = vocab
        self.low = low
        self.high = high

    def unit(self, lang: str) -> Unit:
        units = self.vocab.units[lang]
        rank = int(self.low * (self.high / self.low) ** self.rng.random())
        return units[min(rank, len(units) - 1)]

    def term(self) -> str:
        rng = self.rng
        unit = self.unit("ru" if rng.random() < 0.3 else "en")
        if unit.kind == "phrase":
            return " ".join(unit.forms)
        if unit.kind == "gapped":
            return " ".join(w or "*" for w in unit.forms)
        if rng.random() < 0.45 or len(unit.stem) < 6:
            word = rng.choices(unit.forms, weights=unit.weights)[0]
        else:
            word = unit.stem + "*"
        # Analysts capitalise names; matching must not care.
        return word.capitalize() if rng.random() < 0.15 else word

    def group(self, size: int) -> list[str]:
        return list(dict.fromkeys(self.term() for _ in range(size)))


def indicators(vocab: Vocabulary, count: int, seed: int = 3, regex_every: int = 500,
               context: tuple[int, int] = (30, 1_500),
               specific: tuple[int, int] = (4_000, 20_000)) -> dict[str, Any]:
    """An indicators.yaml document with `count` indicators in the core language: terms,
    prefixes, phrases, nested any/all/not, some `near`, `$lists` and `in: title`, and one
    `re:` per `regex_every` indicators. `context` and `specific` are the vocabulary ranks
    common and specific terms are drawn from; they set how many items hit."""
    rng = random.Random(seed)
    common = _TermPicker(rng, vocab, *context)
    rare = _TermPicker(rng, vocab, *specific)
    lists = {f"list-{i}": common.group(rng.randint(5, 12)) for i in range(max(2, count // 25))}

    def ctx() -> list[str]:
        roll = rng.random()
        if roll < 0.3:
            return [f"${rng.choice(list(lists))}"]
        terms = common.group(rng.randint(1, 5))
        return [*terms, f"${rng.choice(list(lists))}"] if roll < 0.45 else terms

    def spec(low: int = 1, high: int = 5) -> list[str]:
        return rare.group(rng.randint(low, high))

    inds = []
    for i in range(count):
        shape = rng.random()
        match: Any
        if shape < 0.15:
            match = {"any": spec(1, 4)}
        elif shape < 0.50:
            match = {"all": [{"any": spec()}, {"any": ctx()}]}
        elif shape < 0.65:
            match = {"all": [{"any": spec()}, {"any": ctx()}], "not": common.group(3)}
        elif shape < 0.73:
            match = {"all": [{"any": ctx()},
                             {"any": [{"all": [rare.term(), common.term()]}, *spec(2, 3)]}]}
        elif shape < 0.79:
            # "Shoigu near dismiss*": a specific or a common word close to a common one.
            first = spec(1, 3) if rng.random() < 0.5 else common.group(rng.randint(1, 3))
            near: dict[str, Any] = {"within": rng.randint(3, 8), "terms": [first, ctx()]}
            match = {"near": near} if rng.random() < 0.5 else {
                "all": [{"near": near}], "not": [common.term()]}
        elif shape < 0.85:
            match = {"all": [{"in": "title", "any": ctx()}, {"any": common.group(2)}]}
        else:
            match = {"any": [*spec(1, 2),
                             {"all": [{"any": ctx()}, {"any": spec()}],
                              "not": [{"any": common.group(2)}]}]}
        if regex_every and i % regex_every == regex_every - 1:
            # The escape hatch, used as it should be: beside a term that prunes it.
            unit = common.unit("en")
            match = {"all": [{"any": spec()}, f"re:\\b{unit.stem}\\w*\\s+\\w"]}
        inds.append({"id": f"ind-{i:04d}", "title": f"Synthetic indicator {i}",
                     "weight": {"synthetic": 1}, "match": match})
    return {
        "version": 1,
        "lists": lists,
        "scenarios": [{"id": "synthetic", "title": "Synthetic scenario",
                       "question": "Does the matcher keep up?"}],
        "indicators": inds,
    }


def write_indicators(document: dict[str, Any], directory: Path) -> Path:
    """Write `document` as indicators.yaml in `directory`; its path."""
    path = directory / "indicators.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False),
                    encoding="utf-8")
    return path

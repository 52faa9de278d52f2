"""Seeded generators of fresh task instances with gold answers, at any size.

Each generator writes questions in the exact template of the matching BIG-Bench Hard file
(for Dyck languages: the paper's space-free form) so tools made from BBH examples apply,
and computes the gold answer twice: from the hidden construction (the permutation, the
number, the stack...) and by an independent *reference solver* that parses the rendered
question text. The two must agree, otherwise :class:`~langchain_latm.errors.LATMError` is
raised (a generator bug, never a silent wrong gold). The same solvers reproduce the
targets of the real BBH files (see the unit tests).

Generators (``size`` meaning, default):

* ``word_sorting`` - number of words (BBH-like: 2-20 at random);
* ``dyck_languages`` - number of brackets in the input (BBH-like: 4-40), ``n_open`` unclosed
  brackets to complete (1-3), ``max_depth``;
* ``chinese_remainder_theorem`` - number of congruences (3);
* ``schedule_meeting`` - number of people (2);
* ``tracking_shuffled_objects`` - number of people/objects (5; up to 10 with BBH's
  vocabularies, more with extended ones);
* ``logical_deduction`` - number of objects (5).

Instances are seeded per index: ``generate_task(name, 20, seed=1).test[:10]`` equals
``generate_task(name, 10, seed=1).test``.
"""

from __future__ import annotations

import itertools
import math
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_latm.errors import LATMError
from langchain_latm.schemas import Demonstration, TaskSpec

__all__ = [
    "GENERATORS",
    "GeneratorSpec",
    "generate_examples",
    "generate_task",
    "list_generators",
    "solve_chinese_remainder",
    "solve_dyck",
    "solve_logical_deduction",
    "solve_schedule_meeting",
    "solve_tracking_shuffled_objects",
    "solve_word_sorting",
]


def _wordlist(text: str) -> list[str]:
    """Split a whitespace-separated vocabulary."""
    return text.split()


_NUMBER_WORDS = _wordlist(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen "
    "fourteen fifteen sixteen seventeen eighteen nineteen twenty"
)
_ORDINALS = _wordlist(
    "zeroth first second third fourth fifth sixth seventh eighth ninth tenth eleventh "
    "twelfth thirteenth fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth "
    "twentieth"
)
_ORDINAL_INDEX = {word: i for i, word in enumerate(_ORDINALS)}
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _number_word(n: int) -> str:
    return _NUMBER_WORDS[n] if 0 <= n < len(_NUMBER_WORDS) else str(n)


def _ordinal(n: int) -> str:
    if 0 < n < len(_ORDINALS):
        return _ORDINALS[n]
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _ordinal_value(word: str) -> int:
    if word in _ORDINAL_INDEX:
        return _ORDINAL_INDEX[word]
    match = re.fullmatch(r"(\d+)(?:st|nd|rd|th)", word)
    if match is None:
        raise LATMError(f"not an ordinal: {word!r}")
    return int(match.group(1))


def _join(items: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b, and c`` (BBH uses the serial comma)."""
    if len(items) == 1:
        return items[0]
    if len(items) == 2:
        return f"{items[0]} and {items[1]}"
    return ", ".join(items[:-1]) + f", and {items[-1]}"


def _options_block(texts: Sequence[str]) -> str:
    return "Options:\n" + "\n".join(f"({_LETTERS[i]}) {t}" for i, t in enumerate(texts))


def _check(expected: str, solved: str, name: str, question: str) -> str:
    if expected != solved:
        raise LATMError(
            f"generator {name}: construction says {expected!r} but the reference solver says "
            f"{solved!r} for: {question[:200]!r}"
        )
    return solved


# =====================================================================================
# Word sorting
# =====================================================================================

_WORDS = _wordlist(
    "abacus absent acorn adagio admiral aerial affluent agenda airfoil alchemy alcove "
    "almanac amber anchor anthem apparel apricot aquarium arbor archive armada arsenal "
    "artisan asphalt atlas attic auburn avenue badge ballad bamboo banner barley barrel "
    "basalt bayonet beacon bedrock beetle bellow biscuit blizzard bonfire boulder bracket "
    "bramble breeze brigade brochure bronze buckle bugle bullion bungalow cabinet cactus "
    "caliber camphor canopy canyon caravan cargo carnival cascade cashmere castle catalog "
    "cavern cedar cellar chalice channel chapel charcoal chariot chestnut chimney chorus "
    "cinder circuit citadel clarinet cobalt cockpit comet compass copper coral corridor "
    "cosmos cottage crater crescent crystal cupola cypress dagger dahlia decimal delta "
    "denim dervish diamond diesel dingo dolphin domino dragon drizzle dungeon dynamo "
    "eagle easel eclipse elbow ember emerald engine enigma epoch equator ermine estuary "
    "falcon fathom feather fennel ferret fiddle filament fjord flannel flotilla foghorn "
    "fossil fountain fresco frigate gadget galaxy galleon garnet gazebo geyser ginger "
    "glacier goblet gondola granite gravel griffin grotto gusset hammock harbor harpoon "
    "harvest hazel helmet hemlock heron hickory horizon hornet hyacinth iceberg igloo "
    "indigo inkwell island ivory jackal jasmine javelin jigsaw jubilee juniper kayak "
    "kernel kestrel kettle kiosk lagoon lantern larch lattice lavender ledger lemur "
    "lichen lilac linen locket lotus lumber magnet mahogany mallet mandolin mantle marble "
    "marigold marsh meadow medley meteor midnight minaret mirage mosaic mustang nectar "
    "nickel nomad nutmeg oasis obelisk octave olive onyx orchard orchid origami osprey "
    "otter paddock pagoda palette panther papyrus parcel pastel pebble pelican pendant "
    "pepper pewter pigment pinnacle pistachio plateau plume polka poplar porcelain "
    "prairie prism pulley pumice quarry quartz quill quiver rafter rampart raven reef "
    "relic ribbon ripple rocket rosin rubble saddle saffron sapphire satchel scarlet "
    "schooner scroll sequoia shingle sickle silo sketch sleet slipper sonnet sparrow "
    "spindle spruce squall stallion starling stencil summit swallow sycamore tabard talon "
    "tangent tapestry tarmac tavern teapot tempest thicket thimble thistle thunder timber "
    "topaz torrent trellis trident trinket trombone tulip tundra turret twilight umber "
    "valley velvet venture vessel viaduct violin vortex wagon walnut warden wharf whistle "
    "willow windmill wizard yarrow yonder zealot zenith zephyr zinc"
)


def solve_word_sorting(question: str) -> str:
    """Reference solver: the words after ``List:`` sorted alphabetically, space-joined."""
    if "List:" not in question:
        raise LATMError("not a word-sorting question (no 'List:')")
    return " ".join(sorted(question.split("List:", 1)[1].split()))


def _gen_word_sorting(rng: random.Random, size: int | None, **_: Any) -> Demonstration:
    n_words = size if size is not None else rng.randint(2, 20)
    if n_words < 1:
        raise ValueError("word_sorting needs size >= 1")
    if n_words <= len(_WORDS):
        words = rng.sample(_WORDS, n_words)
    else:  # beyond the vocabulary: distinct compounds of two words
        pairs = rng.sample(range(len(_WORDS) ** 2), n_words)
        words = [_WORDS[p // len(_WORDS)] + _WORDS[p % len(_WORDS)] for p in pairs]
    question = "Sort the following words alphabetically: List: " + " ".join(words)
    gold = _check(" ".join(sorted(words)), solve_word_sorting(question), "word_sorting", question)
    return Demonstration(question=question, answer=gold)


# =====================================================================================
# Dyck languages
# =====================================================================================

_PAIRS = {"(": ")", "[": "]", "{": "}", "<": ">"}
_CLOSERS = {v: k for k, v in _PAIRS.items()}
_DYCK_PREFIX = (
    "Complete the rest of the sequence, making sure that the parentheses are closed properly. "
    "Input: "
)


def solve_dyck(question: str) -> str:
    """Reference solver: the closing brackets that complete the sequence after ``Input:``.

    Works on both the BBH spaced form and the paper's space-free form; the answer is
    space-free (the paper's form).
    """
    sequence = question.split("Input:", 1)[1] if "Input:" in question else question
    stack: list[str] = []
    for char in sequence:
        if char in _PAIRS:
            stack.append(char)
        elif char in _CLOSERS:
            if not stack or stack[-1] != _CLOSERS[char]:
                raise LATMError(f"unbalanced Dyck input at {char!r}")
            stack.pop()
        elif not char.isspace():
            raise LATMError(f"unexpected character {char!r} in Dyck input")
    return "".join(_PAIRS[c] for c in reversed(stack))


def _gen_dyck(
    rng: random.Random,
    size: int | None,
    *,
    n_open: int | None = None,
    max_depth: int | None = None,
    spaced: bool = False,
    **_: Any,
) -> Demonstration:
    length = size if size is not None else rng.randint(4, 40)
    k = n_open if n_open is not None else rng.randint(1, 3)
    if k < 1 or length < k:
        raise ValueError("dyck_languages needs 1 <= n_open <= size")
    if (length - k) % 2:
        length += 1  # the balanced part must have even length
    depth_cap = max_depth if max_depth is not None else max(k, length)
    if depth_cap < k:
        raise ValueError("max_depth must be >= n_open")
    stack: list[str] = []
    sequence: list[str] = []
    for step in range(length):
        remaining = length - step - 1
        can_open = len(stack) + 1 - k <= remaining and len(stack) < depth_cap
        can_close = bool(stack) and k - (len(stack) - 1) <= remaining
        if can_open and (not can_close or rng.random() < 0.5):
            opener = rng.choice(list(_PAIRS))
            stack.append(opener)
            sequence.append(opener)
        else:
            sequence.append(_PAIRS[stack.pop()])
    expected = "".join(_PAIRS[c] for c in reversed(stack))
    body = " ".join(sequence) if spaced else "".join(sequence)
    question = _DYCK_PREFIX + body
    gold = _check(expected, solve_dyck(question), "dyck_languages", question)
    return Demonstration(question=question, answer=" ".join(gold) if spaced else gold)


# =====================================================================================
# Chinese remainder theorem
# =====================================================================================

_CRT_CONTAINERS = ("field", "room", "basket", "container", "bag", "box", "ship", "truck")
_CRT_FRUITS = _wordlist(
    "dragonfruits apples mangos durians watermelons coconuts apricots bananas pineapples "
    "tomatoes passionfruits peaches kiwifruits lemons papayas strawberries oranges "
    "avocadoes limes pears"
)
_CRT_ANIMALS = _wordlist(
    "lemurs racoons people crocodiles cows monkeys hippos dinosaurs penguins horses elephants bears"
)
_PRIMES = [p for p in range(2, 300) if all(p % d for d in range(2, math.isqrt(p) + 1))]
_CRT_RE = re.compile(r"among (\d+) [A-Za-z]+, we have (\d+) left")


def solve_chinese_remainder(question: str) -> str:
    """Reference solver: the smallest non-negative solution of the congruences (CRT).

    Raises:
        LATMError: No congruences found, or none below the stated bound.
    """
    congruences = [(int(m), int(r)) for m, r in _CRT_RE.findall(question)]
    if not congruences:
        raise LATMError("no congruences ('among N ..., we have R left') in the question")
    x, modulus = 0, 1
    for m, r in congruences:
        # Solve x + modulus * t == r (mod m) for t by the extended Euclidean inverse.
        g = math.gcd(modulus, m)
        if (r - x) % g:
            raise LATMError("the congruences have no common solution")
        inverse = pow(modulus // g, -1, m // g)
        t = ((r - x) // g * inverse) % (m // g)
        x += modulus * t
        modulus = modulus * m // g
    bound = re.search(r"no more than (\d+)", question)
    if bound is not None and x > int(bound.group(1)):
        raise LATMError("no solution below the stated bound")
    return str(x)


def _gen_crt(rng: random.Random, size: int | None, **_: Any) -> Demonstration:
    n = size if size is not None else 3
    if not 1 <= n <= len(_PRIMES):
        raise ValueError(f"chinese_remainder_theorem needs 1 <= size <= {len(_PRIMES)}")
    moduli = sorted(rng.sample(_PRIMES, n))
    bound = math.prod(moduli)
    x = rng.randrange(bound)
    container = rng.choice(_CRT_CONTAINERS)
    fruit = rng.choice(_CRT_FRUITS)
    animals = (
        rng.sample(_CRT_ANIMALS, n)
        if n <= len(_CRT_ANIMALS)
        else [rng.choice(_CRT_ANIMALS) for _ in range(n)]
    )
    clauses = "; ".join(
        f"if we divide them equally among {m} {a}, we have {x % m} left"
        for m, a in zip(moduli, animals, strict=True)
    )
    clauses = clauses[0].upper() + clauses[1:]
    question = (
        f"There is a {container} of no more than {bound} {fruit}. {clauses}. "
        f"How many {fruit} are in the {container}?"
    )
    gold = _check(str(x), solve_chinese_remainder(question), "chinese_remainder_theorem", question)
    return Demonstration(question=question, answer=gold)


# =====================================================================================
# Schedule meeting
# =====================================================================================

NO_SLOT = "No time slot works."
_DAY_START, _DAY_END, _STEP = 8 * 60, 18 * 60, 30
_SLOT_RE = re.compile(r"(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})")


def _fmt(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def solve_schedule_meeting(question: str) -> str:
    """Reference solver: the earliest common slot of the meeting's length, or none.

    Reads the duration (``a 1.5-hour meeting``) and every ``X's availability:`` line; the
    answer starts at the earliest minute where everyone is free for the whole duration.
    """
    duration_match = re.search(r"([\d.]+)-hour meeting", question)
    if duration_match is None:
        raise LATMError("no meeting duration ('a N-hour meeting') in the question")
    duration = round(float(duration_match.group(1)) * 60)
    people: list[list[tuple[int, int]]] = []
    for line in question.splitlines():
        if "availability:" in line:
            slots = [
                (int(h1) * 60 + int(m1), int(h2) * 60 + int(m2))
                for h1, m1, h2, m2 in _SLOT_RE.findall(line.split("availability:", 1)[1])
            ]
            people.append(slots)
    if not people:
        raise LATMError("no availability lines in the question")
    candidates = sorted({start for slots in people for start, _ in slots})
    for start in candidates:
        end = start + duration
        if all(any(s <= start and end <= e for s, e in slots) for slots in people):
            return f"{_fmt(start)} - {_fmt(end)}"
    return NO_SLOT


def _random_availability(rng: random.Random) -> list[tuple[int, int]]:
    grid = list(range(_DAY_START, _DAY_END + 1, _STEP))
    count = rng.randint(2, 7) * 2
    points = sorted(rng.sample(grid, min(count, len(grid))))
    slots = [(points[i], points[i + 1]) for i in range(0, len(points) - 1, 2)]
    return slots


def _gen_schedule(rng: random.Random, size: int | None, **_: Any) -> Demonstration:
    n_people = size if size is not None else 2
    if not 1 <= n_people <= 26:
        raise ValueError("schedule_meeting needs 1 <= size <= 26")
    duration = rng.choice((30, 60, 90))
    names = list(_LETTERS[:n_people])
    availability = [_random_availability(rng) for _ in names]
    # Construction: scan the half-hour grid for the first start everyone can make.
    expected = NO_SLOT
    for start in range(_DAY_START, _DAY_END - duration + 1, _STEP):
        if all(any(s <= start and start + duration <= e for s, e in av) for av in availability):
            expected = f"{_fmt(start)} - {_fmt(start + duration)}"
            break
    hours = f"{duration / 60:g}"
    lines = [f"{_join(names)} want to schedule a {hours}-hour meeting together."]
    for name, slots in zip(names, availability, strict=True):
        lines.append(
            f"{name}'s availability: " + ", ".join(f"{_fmt(s)} - {_fmt(e)}" for s, e in slots)
        )
    lines.append("What time slot works best? (if multiple, choose the earliest one")
    question = "\n".join(lines)
    gold = _check(expected, solve_schedule_meeting(question), "schedule_meeting", question)
    return Demonstration(question=question, answer=gold)


# =====================================================================================
# Tracking shuffled objects
# =====================================================================================

_PEOPLE = _wordlist(
    "Alice Bob Claire Dave Eve Fred Gertrude Harry Irene Jack Kate Liam Maria Ned Olga "
    "Paul Quinn Rosa Steve Tina"
)


@dataclass(frozen=True)
class _SwapTemplate:
    group: str  # "are dancers at a square dance"
    start: str  # "At the start of a song, they each have a partner"
    assign: str  # "{who} is dancing with {item}"
    middle: str  # "Throughout the song, the dancers often trade partners."
    swap: str  # "{a} and {b} switch partners"
    end: str  # "At the end of the dance, {who} is dancing with"
    items: tuple[str, ...]


_SWAP_TEMPLATES: tuple[_SwapTemplate, ...] = (
    _SwapTemplate(
        "are dancers at a square dance",
        "At the start of a song, they each have a partner",
        "{who} is dancing with {item}",
        "Throughout the song, the dancers often trade partners.",
        "{a} and {b} switch partners",
        "At the end of the dance, {who} is dancing with",
        tuple(
            _wordlist(
                "Helga Izzi Jamie Karl Lola Melissa Ophelia Patrick Rodrigo Sam Xavier Yuki Zelda "
                "Bruno Cora Diego Elsa Felix Greta Hugo"
            )
        ),
    ),
    _SwapTemplate(
        "are friends and avid readers who occasionally trade books",
        "At the start of the semester, they each buy one new book",
        "{who} gets {item}",
        "As the semester proceeds, they start trading around the new books.",
        "{a} and {b} swap books",
        "At the end of the semester, {who} has",
        (
            "Catch-22",
            "Frankenstein",
            "Hound of the Baskervilles",
            "Lolita",
            "Moby Dick",
            "The Fellowship of the Ring",
            "The Great Gatsby",
            "The Odyssey",
            "The Pearl",
            "Ulysses",
            "Dracula",
            "Emma",
            "Middlemarch",
            "Beloved",
            "Walden",
            "Persuasion",
            "The Iliad",
            "Don Quixote",
            "Great Expectations",
            "Anna Karenina",
        ),
    ),
    _SwapTemplate(
        "are playing a game",
        "At the start of the game, they are each holding a ball",
        "{who} has a {item}",
        "As the game progresses, pairs of players trade balls.",
        "{a} and {b} swap balls",
        "At the end of the game, {who} has the",
        tuple(
            f"{c} ball"
            for c in _wordlist(
                "black blue brown green orange pink purple red white yellow gray gold silver cyan "
                "magenta teal maroon navy olive violet"
            )
        ),
    ),
    _SwapTemplate(
        "are holding a white elephant gift exchange",
        "At the start of the event, they are each holding a present of a different color",
        "{who} has a {item}",
        "As the event progresses, pairs of people swap gifts.",
        "{a} and {b} swap their gifts",
        "At the end of the event, {who} has the",
        tuple(
            f"{c} present"
            for c in _wordlist(
                "black blue brown green orange pink purple red white yellow gray gold silver cyan "
                "magenta teal maroon navy olive violet"
            )
        ),
    ),
    _SwapTemplate(
        "are on the same team in a soccer match",
        "At the start of the match, they are each assigned to a position",
        "{who} is playing {item}",
        "As the game progresses, pairs of players occasionally swap positions.",
        "{a} and {b} trade positions",
        "At the end of the match, {who} is playing",
        (
            "benchwarmer",
            "center midfielder",
            "cheerleader",
            "fullback",
            "goalkeeper",
            "left midfielder",
            "left winger",
            "right midfielder",
            "right winger",
            "striker",
            "sweeper",
            "center back",
            "left back",
            "right back",
            "wing back",
            "playmaker",
            "second striker",
            "libero",
            "stopper",
            "target man",
        ),
    ),
)

_SWAP_VERBS = (
    r"switch partners|swap books|swap balls|swap their gifts|trade positions|swap positions"
    r"|trade partners|trade books|trade balls|swap gifts|trade gifts|swap"
)
_SWAP_RE = re.compile(
    r"(?:First|Then|Finally), ([A-Z][a-z]+) and ([A-Z][a-z]+) (?:" + _SWAP_VERBS + r")"
)
_ASSIGN_RE = re.compile(
    r"([A-Z][a-z]+) (?:is dancing with|gets|has an?|is playing) (.+?)(?=, (?:and )?[A-Z][a-z]+ "
    r"(?:is dancing with|gets|has an?|is playing) |\.\n|\.$)"
)
_END_RE = re.compile(
    r"At the end of the \w+, ([A-Z][a-z]+) (?:is dancing with|has the|has|is playing)"
)


def solve_tracking_shuffled_objects(question: str) -> str:
    """Reference solver: replay the swaps and return the option letter, e.g. ``"(C)"``."""
    head, _, options_text = question.partition("\nOptions:\n")
    intro, _, rest = head.partition("\n")
    assignments = _ASSIGN_RE.findall(intro.split(":", 1)[1])
    if not assignments:
        raise LATMError("no initial assignments found")
    holding = {who: item.strip() for who, item in assignments}
    for a, b in _SWAP_RE.findall(rest):
        holding[a], holding[b] = holding[b], holding[a]
    end = _END_RE.search(rest)
    if end is None:
        raise LATMError("no final question ('At the end of ..., X has') found")
    final = holding[end.group(1)]
    for line in options_text.splitlines():
        match = re.match(r"\(([A-Z])\) (.*)$", line.strip())
        if match and match.group(2).strip() == final:
            return f"({match.group(1)})"
    raise LATMError(f"the final item {final!r} is not among the options")


def _gen_tracking(rng: random.Random, size: int | None, **_: Any) -> Demonstration:
    n = size if size is not None else 5
    if not 2 <= n <= len(_PEOPLE):
        raise ValueError(f"tracking_shuffled_objects needs 2 <= size <= {len(_PEOPLE)}")
    template = rng.choice(_SWAP_TEMPLATES)
    people = _PEOPLE[:n]
    # BBH draws from its first ten items; larger sizes use the extended vocabulary.
    pool = template.items[:10] if n <= 10 else template.items
    items = rng.sample(list(pool), n)
    swaps = []
    for _step in range(n):
        a, b = rng.sample(range(n), 2)
        swaps.append((a, b))
    holding = list(range(n))
    for a, b in swaps:
        holding[a], holding[b] = holding[b], holding[a]
    target = rng.randrange(n)
    expected = f"({_LETTERS[holding[target]]})"

    assignments = _join(
        [template.assign.format(who=p, item=i) for p, i in zip(people, items, strict=True)]
    )
    steps = []
    for index, (a, b) in enumerate(swaps):
        lead = "First" if index == 0 else "Finally" if index == len(swaps) - 1 else "Then"
        steps.append(f"{lead}, " + template.swap.format(a=people[a], b=people[b]) + ".")
    question = (
        f"{_join(people)} {template.group}. {template.start}: {assignments}.\n"
        f"{template.middle} {' '.join(steps)} {template.end.format(who=people[target])}\n"
        + _options_block(items)
    )
    gold = _check(expected, solve_tracking_shuffled_objects(question), "tracking", question)
    return Demonstration(question=question, answer=gold)


# =====================================================================================
# Logical deduction
# =====================================================================================

_LD_PREFIX = (
    "The following paragraphs each describe a set of {n} objects arranged in a fixed order. "
    "The statements are logically consistent within each paragraph. "
)


@dataclass(frozen=True)
class _Domain:
    """An ordered setting; index 0 is the 'first' end (leftmost, oldest, first, cheapest)."""

    key: str
    intro: str  # "On a branch, there are {n} birds: {objects}."
    items: tuple[str, ...]
    article: bool  # "a quail" in the intro and "The quail" in statements
    before: str  # "{a} is to the left of {b}"
    after: str
    low: Callable[[int], str]  # position i (1-based) from the first end -> phrase
    high: Callable[[int], str]  # position i (1-based) from the last end -> phrase
    subject: str = field(default="The {x} is")
    tie_high: bool = False  # the middle of an odd row is named from the last end (BBH usage)


def _spatial(side: str) -> Callable[[int], str]:
    return lambda k: (
        f"the {'leftmost' if side == 'left' else 'rightmost'}"
        if k == 1
        else (f"the {_ordinal(k)} from the {side}")
    )


def _hyphen(first: str, superlative: str) -> Callable[[int], str]:
    return lambda k: f"the {superlative}" if k == 1 else f"the {_ordinal(k)}-{first}"


def _golf_low(k: int) -> str:
    return _ordinal(k)


def _golf_high(k: int) -> str:
    return "last" if k == 1 else f"{_ordinal(k)}-to-last"


def _price_high(k: int) -> str:
    return "the most expensive" if k == 1 else f"the {_ordinal(k)}-most expensive"


_DOMAINS: tuple[_Domain, ...] = (
    _Domain(
        "branch",
        "On a branch, there are {n} birds: {objects}.",
        tuple(
            "quail owl raven falcon robin hummingbird crow hawk cardinal blue_jay "
            "sparrow pigeon heron swan parrot".replace("_", " ").split()
        ),
        True,
        "{a} is to the left of the {b}",
        "{a} is to the right of the {b}",
        _spatial("left"),
        _spatial("right"),
    ),
    _Domain(
        "shelf",
        "On a shelf, there are {n} books: {objects}.",
        tuple(
            f"{c} book"
            for c in _wordlist(
                "yellow green gray blue orange red white black brown purple pink gold silver teal "
                "violet"
            )
        ),
        True,
        "{a} is to the left of the {b}",
        "{a} is to the right of the {b}",
        _spatial("left"),
        _spatial("right"),
    ),
    _Domain(
        "cars",
        "In an antique car show, there are {n} vehicles: {objects}.",
        tuple(
            "hatchback bus convertible tractor minivan truck sedan limousine motorcycle "
            "station_wagon coupe jeep van scooter roadster".replace("_", " ").split()
        ),
        True,
        "{a} is older than the {b}",
        "{a} is newer than the {b}",
        _hyphen("oldest", "oldest"),
        _hyphen("newest", "newest"),
        tie_high=True,
    ),
    _Domain(
        "golf",
        "In a golf tournament, there were {n} golfers: {objects}.",
        tuple(_wordlist("Ana Eve Ada Dan Rob Amy Joe Mel Eli Mya Ben Zoe Ian Kim Lea")),
        False,
        "{a} finished above {b}",
        "{a} finished below {b}",
        _golf_low,
        _golf_high,
        subject="{x} finished",
    ),
    _Domain(
        "fruit",
        "A fruit stand sells {n} fruits: {objects}.",
        tuple(
            _wordlist(
                "apples oranges loquats plums watermelons peaches mangoes kiwis pears cantaloupes "
                "cherries figs limes grapes lemons"
            )
        ),
        False,
        "{a} are less expensive than the {b}",
        "{a} are more expensive than the {b}",
        _hyphen("cheapest", "cheapest"),
        _price_high,
        subject="The {x} are",
        tie_high=True,
    ),
)

_Constraint = tuple[str, int, int]  # ("before", a, b) | ("at", a, position index 0-based)


def _render(domain: _Domain, objects: Sequence[str], c: _Constraint, n: int) -> str:
    kind, a, b = c
    name_a = objects[a]
    if kind == "before" or kind == "after":
        template = domain.before if kind == "before" else domain.after
        subject = f"The {name_a}" if domain.subject.startswith("The") else name_a
        return template.format(a=subject, b=objects[b])
    pos = b
    from_low = pos + 1
    from_high = n - pos
    use_low = from_low < from_high or (from_low == from_high and not domain.tie_high)
    phrase = domain.low(from_low) if use_low else domain.high(from_high)
    return domain.subject.format(x=name_a) + " " + phrase


def _positions(domain: _Domain, n: int) -> dict[str, int]:
    """Every phrase that names a position (both ends), mapped to its 0-based index."""
    table: dict[str, int] = {}
    for k in range(1, n + 1):
        table[domain.low(k)] = k - 1
        table[domain.high(k)] = n - k
    return table


def _holds(c: _Constraint, position_of: dict[int, int]) -> bool:
    kind, a, b = c
    if kind == "at":
        return position_of[a] == b
    return (position_of[a] < position_of[b]) == (kind == "before")


def _count_orders(n: int, constraints: Sequence[_Constraint], limit: int = 2) -> list[list[int]]:
    """Backtracking: up to ``limit`` orders (object index per position) meeting all constraints."""
    fixed: dict[int, int] = {}
    for kind, a, b in constraints:
        if kind == "at":
            if fixed.get(a, b) != b:
                return []
            fixed[a] = b
    pairs = [(a, b) if kind == "before" else (b, a) for kind, a, b in constraints if kind != "at"]
    found: list[list[int]] = []
    position: dict[int, int] = {}
    order: list[int] = []

    def consistent(obj: int, pos: int) -> bool:
        if obj in fixed and fixed[obj] != pos:
            return False
        if pos in fixed.values() and fixed.get(obj) != pos:
            return False
        for a, b in pairs:
            if a == obj and b in position:
                return False  # b already placed earlier than a
            if b == obj and a not in position:
                return False  # a must come first
        return True

    def place(pos: int) -> None:
        if len(found) >= limit:
            return
        if pos == n:
            found.append(list(order))
            return
        for obj in range(n):
            if obj not in position and consistent(obj, pos):
                position[obj] = pos
                order.append(obj)
                place(pos + 1)
                order.pop()
                del position[obj]

    place(0)
    return found


def _parse_objects(domain: _Domain, listing: str) -> list[str]:
    parts = [p.strip() for p in re.split(r",\s*(?:and\s+)?|\s+and\s+", listing) if p.strip()]
    if domain.article:
        parts = [re.sub(r"^(?:a|an)\s+", "", p) for p in parts]
    return parts


def _parse_statement(domain: _Domain, objects: Sequence[str], sentence: str, n: int) -> _Constraint:
    index = {name: i for i, name in enumerate(objects)}
    by_length = sorted(objects, key=len, reverse=True)
    text = sentence.strip().rstrip(".")
    if text.startswith("The "):
        text = text[4:]
    subject = next((o for o in by_length if text.startswith(o + " ")), None)
    if subject is None:
        raise LATMError(f"no known object starts {sentence!r}")
    rest = text[len(subject) :].strip()
    for verb in ("is ", "are ", "finished "):
        if rest.startswith(verb):
            rest = rest[len(verb) :]
            break
    before_words = ("to the left of", "older than", "above", "less expensive than")
    after_words = ("to the right of", "newer than", "below", "more expensive than")
    for words, kind in ((before_words, "before"), (after_words, "after")):
        for w in words:
            if rest.startswith(w + " "):
                other = rest[len(w) :].strip()
                other = other[4:] if other.startswith("the ") else other
                if other not in index:
                    raise LATMError(f"unknown object {other!r} in {sentence!r}")
                return (kind, index[subject], index[other])
    table = _positions(domain, n)
    if rest in table:
        return ("at", index[subject], table[rest])
    raise LATMError(f"cannot parse statement {sentence!r}")


def _domain_of(intro: str) -> _Domain:
    for domain in _DOMAINS:
        head = domain.intro.split("{n}")[0]
        if intro.startswith(head):
            return domain
    raise LATMError(f"unknown logical-deduction setting: {intro[:60]!r}")


def solve_logical_deduction(question: str) -> str:
    """Reference solver: parse the paragraph, find the unique order, pick the true option.

    Handles BBH's five settings (birds on a branch, books on a shelf, antique cars, golfers,
    fruit prices) at any number of objects.

    Raises:
        LATMError: Unparseable statements, or not exactly one consistent order / true option.
    """
    head, _, options_text = question.partition("\nOptions:\n")
    marker = "The statements are logically consistent within each paragraph. "
    paragraph = head.split(marker, 1)[1] if marker in head else head
    intro, _, body = paragraph.partition(": ")
    domain = _domain_of(intro)
    listing, _, statements = body.partition(". ")
    objects = _parse_objects(domain, listing.rstrip("."))
    n = len(objects)
    constraints = [
        _parse_statement(domain, objects, s, n) for s in statements.split(". ") if s.strip()
    ]
    orders = _count_orders(n, constraints, limit=2)
    if len(orders) != 1:
        raise LATMError(f"expected one consistent order, found {len(orders)}")
    position_of = {obj: pos for pos, obj in enumerate(orders[0])}
    true_options = []
    for line in options_text.splitlines():
        match = re.match(r"\(([A-Z])\) (.*)$", line.strip())
        if match is None:
            continue
        if _holds(_parse_statement(domain, objects, match.group(2), n), position_of):
            true_options.append(match.group(1))
    if len(true_options) != 1:
        raise LATMError(f"expected one true option, found {len(true_options)}")
    return f"({true_options[0]})"


def _gen_logical(rng: random.Random, size: int | None, **_: Any) -> Demonstration:
    n = size if size is not None else 5
    domain = rng.choice(_DOMAINS)
    if not 2 <= n <= len(domain.items):
        raise ValueError(f"logical_deduction needs 2 <= size <= {len(domain.items)}")
    objects = rng.sample(list(domain.items), n)
    order = list(range(n))
    rng.shuffle(order)  # order[pos] = object index
    pos_of = {obj: pos for pos, obj in enumerate(order)}

    candidates: list[_Constraint] = []
    for a, b in itertools.permutations(range(n), 2):
        if pos_of[a] < pos_of[b]:
            candidates.append(("before", a, b))
            candidates.append(("after", b, a))
    candidates.extend(("at", obj, pos_of[obj]) for obj in range(n))
    chosen: list[_Constraint] = []
    while True:
        alternative = next((o for o in _count_orders(n, chosen, limit=2) if o != order), None)
        if alternative is None:
            break
        alt_pos = {obj: pos for pos, obj in enumerate(alternative)}
        # A true statement the alternative order violates: guaranteed progress.
        violated = [c for c in candidates if c not in chosen and not _holds(c, alt_pos)]
        # Prefer relational statements, as BBH does; positional ones pin things down.
        weights = [1.0 if c[0] == "at" else 2.5 for c in violated]
        chosen.append(rng.choices(violated, weights=weights, k=1)[0])
    # Drop statements that are not needed for uniqueness (keeps paragraphs BBH-short).
    for c in list(chosen):
        trial = [x for x in chosen if x != c]
        if len(_count_orders(n, trial, limit=2)) == 1:
            chosen = trial
    rng.shuffle(chosen)

    asked = rng.randrange(n)
    expected_obj = order[asked]
    options = [_render(domain, objects, ("at", i, asked), n) for i in range(n)]
    expected = f"({_LETTERS[expected_obj]})"
    listing_items = [f"a {o}" if domain.article else o for o in objects]
    intro = domain.intro.format(n=_number_word(n), objects=_join(listing_items))
    statements = " ".join(_render(domain, objects, c, n) + "." for c in chosen)
    question = (
        _LD_PREFIX.format(n=_number_word(n))
        + intro
        + (" " + statements if statements else "")
        + "\n"
        + _options_block(options)
    )
    gold = _check(expected, solve_logical_deduction(question), "logical_deduction", question)
    return Demonstration(question=question, answer=gold)


# =====================================================================================
# Registry and public API
# =====================================================================================


@dataclass(frozen=True)
class GeneratorSpec:
    """A registered generator.

    Attributes:
        name: Registry name (``"tracking_shuffled_objects"``).
        description: One line for humans and for tool descriptions.
        size_meaning: What ``size`` controls.
        default_size: The size used when ``size`` is None (None: BBH-like random sizes).
        make: ``make(rng, size, **options) -> Demonstration``.
        task_name: ``task_name(size) -> str``: the BBH task name instances belong to.
    """

    name: str
    description: str
    size_meaning: str
    default_size: int | None
    make: Callable[..., Demonstration]
    task_name: Callable[[int | None], str]


def _fixed(name: str) -> Callable[[int | None], str]:
    return lambda _size: name


GENERATORS: dict[str, GeneratorSpec] = {
    spec.name: spec
    for spec in (
        GeneratorSpec(
            "word_sorting",
            "Sort a list of words.",
            "number of words",
            None,
            _gen_word_sorting,
            _fixed("word_sorting"),
        ),
        GeneratorSpec(
            "dyck_languages",
            "Correctly close a Dyck-n word.",
            "number of brackets in the input",
            None,
            _gen_dyck,
            _fixed("dyck_languages"),
        ),
        GeneratorSpec(
            "chinese_remainder_theorem",
            "Solve basic number theory problems generated by the Chinese remainder theorem",
            "number of congruences",
            3,
            _gen_crt,
            _fixed("chinese_remainder_theorem"),
        ),
        GeneratorSpec(
            "schedule_meeting",
            "Given people's availability, find the first time slot that works for all of them.",
            "number of people",
            2,
            _gen_schedule,
            _fixed("schedule_meeting"),
        ),
        GeneratorSpec(
            "tracking_shuffled_objects",
            "Determine the final positions of a set of objects given their initial positions "
            "and a sequence of swaps.",
            "number of people and objects",
            5,
            _gen_tracking,
            lambda size: f"tracking_shuffled_objects_{_number_word(size or 5)}_objects",
        ),
        GeneratorSpec(
            "logical_deduction",
            "Deduce the order of a sequence of objects from clues.",
            "number of objects",
            5,
            _gen_logical,
            lambda size: f"logical_deduction_{_number_word(size or 5)}_objects",
        ),
    )
}
"""Registered generators by name."""

_ALIASES: dict[str, tuple[str, int | None]] = {}
for _word_index in range(2, 21):
    _w = _number_word(_word_index)
    _ALIASES[f"tracking_shuffled_objects_{_w}_objects"] = ("tracking_shuffled_objects", _word_index)
    _ALIASES[f"logical_deduction_{_w}_objects"] = ("logical_deduction", _word_index)


def list_generators() -> list[str]:
    """Names of the registered generators.

    Sized BBH names such as ``tracking_shuffled_objects_nine_objects`` are accepted too.
    """
    return sorted(GENERATORS)


def _resolve(name: str, size: int | None) -> tuple[GeneratorSpec, int | None]:
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    if key in GENERATORS:
        return GENERATORS[key], size
    if key in _ALIASES:
        base, implied = _ALIASES[key]
        if size is not None and size != implied:
            raise ValueError(f"{name} implies size {implied}, got size={size}")
        return GENERATORS[base], implied
    raise LATMError(f"unknown generator {name!r}; available: {', '.join(list_generators())}")


def generate_examples(
    name: str,
    n: int,
    *,
    seed: int = 0,
    size: int | None = None,
    split: str = "test",
    **options: Any,
) -> list[Demonstration]:
    """Generate ``n`` fresh instances with gold answers.

    Args:
        name: Generator name (see :func:`list_generators`) or a BBH task name with a size
            (``"logical_deduction_seven_objects"``).
        n: How many instances.
        seed: Random seed; the same seed, split and index always give the same instance.
        size: Instance size (see :data:`GENERATORS`); None for the generator's default.
        split: Namespace of the seeds (``"train"``, ``"val"``, ``"test"``) so the splits of
            one task never share instances by construction.
        **options: Generator-specific options (``dyck_languages``: ``n_open``,
            ``max_depth``, ``spaced``).

    Returns:
        The instances, as demonstrations (question and gold answer).

    Raises:
        LATMError: Unknown generator, or a generator/solver disagreement (a bug).
        ValueError: A size the generator cannot produce.
    """
    spec, resolved = _resolve(name, size)
    if n < 0:
        raise ValueError("n must be >= 0")
    effective = resolved if resolved is not None else spec.default_size
    demos: list[Demonstration] = []
    for index in range(n):
        rng = random.Random(f"{spec.name}:{seed}:{split}:{index}:{effective}")
        demos.append(spec.make(rng, effective, **options))
    return demos


def generate_task(
    name: str,
    n: int,
    *,
    seed: int = 0,
    size: int | None = None,
    n_train: int = 5,
    n_val: int = 5,
    **options: Any,
) -> TaskSpec:
    """Generate a whole task: ``n_train`` + ``n_val`` demonstrations and ``n`` test instances.

    The split mirrors :func:`~langchain_latm.tasks.load_bbh_task` (the maker proposes from
    the first three train and verifies on the first three validation demonstrations), so a
    tool can be made from, and benchmarked on, generated instances.

    Args:
        name: Generator name or a sized BBH task name (see :func:`generate_examples`).
        n: Number of test instances.
        seed: Random seed.
        size: Instance size; None for the default (see :data:`GENERATORS`).
        n_train: Train demonstrations to generate.
        n_val: Validation demonstrations to generate.
        **options: Generator-specific options.

    Returns:
        A :class:`TaskSpec` named after the matching BBH task (``"tracking_shuffled_objects_
        nine_objects"`` for ``size=9``), with a description that states it is generated.

    Example:
        >>> task = generate_task("tracking_shuffled_objects", 3, seed=1, size=9)
        >>> task.name, len(task.test), task.test[0].answer.startswith("(")
        ('tracking_shuffled_objects_nine_objects', 3, True)
    """
    spec, resolved = _resolve(name, size)
    effective = resolved if resolved is not None else spec.default_size
    common: dict[str, Any] = {"seed": seed, "size": effective, **options}
    size_note = f"{spec.size_meaning} = {effective}" if effective is not None else "BBH-like sizes"
    return TaskSpec(
        name=spec.task_name(effective),
        description=f"{spec.description} (generated, {size_note}, seed {seed})",
        train=generate_examples(spec.name, n_train, split="train", **common),
        val=generate_examples(spec.name, n_val, split="val", **common),
        test=generate_examples(spec.name, n, split="test", **common),
    )

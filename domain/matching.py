"""Account-name matching for registration overlaps (pure; rapidfuzz does the scoring).

Names are compared in their normalised form: case folded, accents and punctuation gone, legal forms
(Inc, Corp, GmbH, S.A., ...) dropped, white space collapsed, so that "Globex Corp", "GLOBEX
Corporation" and "Globex, Inc." all read "globex".

Words that many companies share ("Global", "Systems", "Bank", "Logistics", or one typo away from one
of them) say little about which company a name means. When both names have words of their own (their
*core*), those are compared: "Globex" and "Globex Holdings" are one account, "Ajax Robotics" and
"Apex Robotics" are not, although they share most of their letters. Unless the common words differ
on both sides: "Tucson Retail" and "Tucson Motors" are two companies, so there the whole names
count too (the lower score). A score (0-100) is the better of rapidfuzz's `token_sort_ratio` (word
order does not matter) and its plain `ratio` (nor do the spaces: "Pay Pal" and "PayPal").

The store indexes each live registration under its `match_keys`, so that an overlap check reads the
few registrations sharing a key instead of every row. A key is the first six letters of a core word
(of every word when there is no core), or that prefix with one letter deleted: two words one typo
apart within their first six letters (a letter missing, added, changed, or two swapped) share a key,
and a typo further on leaves the prefix alone. Two names two typos apart, both within the first six
letters of every word, can be missed (about one matching pair in a hundred, in tests/domain). A short
first word also keys the name's first letters without spaces ("Pay Pal" and "PayPal").
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA

__all__ = ["COMMON_WORDS", "LEGAL_FORMS", "core_words", "is_common", "match_keys", "normalise_name", "similarity"]

PREFIX = 6  # letters of a word that make its keys

# Legal forms, as words once punctuation is gone ("S.A." -> "sa"; "S. A." -> "s a").
LEGAL_FORMS: tuple[tuple[str, ...], ...] = tuple(tuple(s.split()) for s in (
    "inc", "incorporated", "corp", "corporation", "co", "company", "cos", "ltd", "limited", "llc", "llp",
    "lp", "plc", "gmbh", "mbh", "ag", "kg", "kgaa", "se", "sa", "s a", "sas", "sarl", "sl", "srl", "spa",
    "s p a", "sae", "bv", "b v", "nv", "n v", "pty", "pte", "pvt", "private", "oy", "oyj", "ab", "as", "asa",
    "aps", "kk", "bhd", "sdn", "ulc", "lda", "ltda", "doo", "sro", "zrt", "kft", "spzoo", "sp z o o",
    "and co", "and company", "et cie", "and cie",
))
_FORMS = frozenset(LEGAL_FORMS)
_FORM_LENGTHS = sorted({len(form) for form in LEGAL_FORMS}, reverse=True)

# Words many unrelated companies have in their names: places of the world, trades, business nouns.
COMMON_WORDS = frozenset("""
the and of for a an at by in on to de la le el der und et y
global international intl worldwide world national american america united first general universal
north south east west northern southern eastern western central pacific atlantic european euro asia
asian africa african latin nordic continental metro metropolitan city county state regional
group holding holdings systems system solutions solution technologies technology tech services service
partners partner industries industry industrial enterprises enterprise consulting consultants
consultancy capital management associates software networks network labs lab laboratories digital
data media energy power health healthcare medical pharma pharmaceuticals biotech financial finance
bank banking insurance assurance logistics freight transport shipping manufacturing products
resources trading trade ventures investments investment properties property realty development
communications telecom electronics electric engineering construction retail foods food beverages
brands marketing advertising analytics cloud security sciences science research innovations
innovation dynamics robotics automation materials chemicals textiles apparel motors automotive
aerospace aviation airlines marine maritime mining metals steel oil gas petroleum utilities water
environmental agriculture farms education learning legal law design studio studios creative
entertainment games gaming sports travel hotels hospitality restaurants supply supplies distribution
wholesale imports exports import export equipment machinery tools instruments devices components
parts plastics packaging paper printing publishing press news broadcasting wireless mobile internet
online web net interactive computer computers computing semiconductors micro info information
corporate commercial business professional advisors advisory strategies strategy operations
care home homes housing estate estates builders build store stores market markets mart shop
brothers bros sons family trust fund funds credit lending mortgage leasing rental
new one prime premier best smart pro plus max direct alliance associated
""".split())
_COMMON_LIST = sorted(COMMON_WORDS)

_JOINERS = re.compile(r"[.'\u2019]")  # dropped without a space: "S.A." -> "sa", "O'Brien" -> "obrien"
_NOT_WORD = re.compile(r"[\W_]+")


def normalise_name(name: str) -> str:
    """The form two account names are compared in; see the module docstring."""
    text = unicodedata.normalize("NFKD", name.casefold().replace("&", " and "))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    words = _NOT_WORD.sub(" ", _JOINERS.sub("", text)).split()
    if len(words) > 1 and words[0] == "the":
        words = words[1:]
    while len(words) > 1 and _drop_legal_form(words):
        pass
    return " ".join(_join_initials(words))


def _drop_legal_form(words: list[str]) -> bool:
    """Remove one trailing legal form (never the whole name); True when one was removed."""
    for length in _FORM_LENGTHS:
        if len(words) > length and tuple(words[-length:]) in _FORMS:
            del words[-length:]
            return True
    return False


def _join_initials(words: list[str]) -> list[str]:
    """Runs of single letters make one word: "I.B.M." and "I B M" -> "ibm"."""
    joined: list[str] = []
    run = False  # the last word is a run of single letters
    for word in words:
        if len(word) == 1 and run:
            joined[-1] += word
        else:
            joined.append(word)
            run = len(word) == 1
    return joined


@lru_cache(maxsize=65536)
def is_common(word: str) -> bool:
    """A word many companies share, or one typo away from one (a letter missing, added, changed, or two
    swapped) for words of six letters or more: shorter ones are too often another word ("stone")."""
    if word in COMMON_WORDS:
        return True
    if len(word) < 6:
        return False
    return process.extractOne(word, _COMMON_LIST, scorer=OSA.distance, score_cutoff=1) is not None


def core_words(normalised: str) -> list[str]:
    """The words of a normalised name that are its own (not common words)."""
    return [w for w in normalised.split() if len(w) > 1 and not is_common(w)]


def similarity(a_norm: str, b_norm: str) -> int:
    """How alike two normalised names are, 0-100 (100: the same words, in any order)."""
    if not a_norm or not b_norm:
        return 0
    (a_core, a_common), (b_core, b_common) = _parts(a_norm), _parts(b_norm)
    if not (a_core and b_core):
        return round(_ratio(a_norm, b_norm))
    core = _ratio(a_core, b_core)
    if a_common <= b_common or b_common <= a_common:  # "Globex" and "Globex Holdings"
        return round(core)
    return round(min(core, _ratio(a_norm, b_norm)))  # "Tucson Retail" and "Tucson Motors": two trades


@lru_cache(maxsize=65536)  # an overlap check scores the same stored names again and again
def _parts(normalised: str) -> tuple[str, frozenset[str]]:
    """A normalised name's core (its own words, as one string) and its common words."""
    return " ".join(core_words(normalised)), frozenset(w for w in normalised.split() if is_common(w))


def _ratio(a: str, b: str) -> float:
    return max(fuzz.token_sort_ratio(a, b), fuzz.ratio(a, b))


def match_keys(normalised: str) -> set[str]:
    """The index keys of a normalised name: names that match share at least one (see the docstring)."""
    words = normalised.split()
    keys: set[str] = set()
    for word in core_words(normalised) or words:
        keys |= _neighbourhood(word[:PREFIX])
    if len(words) > 1 and len(words[0]) < PREFIX:
        keys |= _neighbourhood("".join(words)[:PREFIX])
    return keys


def _neighbourhood(prefix: str) -> set[str]:
    """The prefix and each variant of it with one letter deleted (from four letters on: shorter
    prefixes would make two-letter keys that half the index shares)."""
    keys = {prefix}
    if len(prefix) >= 4:
        keys |= {prefix[:i] + prefix[i + 1:] for i in range(len(prefix))}
    return keys

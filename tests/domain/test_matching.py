"""Account-name matching: normalisation, the score, and the index keys that lose no match one typo apart."""

from __future__ import annotations

import itertools
import random

import pytest
from rapidfuzz.distance import OSA

from bench.company_names import company_name, typo
from domain.matching import core_words, match_keys, normalise_name, similarity

THRESHOLD = 85  # both charters' match_threshold


def score(a: str, b: str) -> int:
    return similarity(normalise_name(a), normalise_name(b))


# --- normalisation ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "normalised"), [
    ("Globex Corp", "globex"),
    ("GLOBEX Corporation", "globex"),
    ("Globex, Inc.", "globex"),
    ("  The   Globex  Company ", "globex"),
    ("Globex Co., Ltd.", "globex"),
    ("Société Générale S.A.", "societe generale"),
    ("Société Générale S. A.", "societe generale"),
    ("Nestlé SA", "nestle"),
    ("Müller GmbH", "muller"),
    ("Straße AG", "strasse"),
    ("Banco Santander, S.p.A.", "banco santander"),
    ("Acme Pty Ltd", "acme"),
    ("Acme B.V.", "acme"),
    ("Acme NV", "acme"),
    ("Acme LLC", "acme"), ("Acme L.L.P.", "acme"), ("Acme PLC", "acme"), ("Acme SRL", "acme"),
    ("Acme Oy", "acme"), ("Acme AB", "acme"), ("Acme KK", "acme"), ("Acme Incorporated", "acme"),
    ("Acme Limited", "acme"),
    ("O'Reilly Media", "oreilly media"),
    ("Procter & Gamble", "procter and gamble"),
    ("Gekko & Co", "gekko"),
    ("I.B.M.", "ibm"),
    ("J P Morgan", "jp morgan"),
    ("Kühne + Nagel", "kuhne nagel"),
    ("3M Company", "3m"),
    ("Inc", "inc"),  # a legal form alone is the whole name: kept
    ("The", "the"),
    ("", ""),
    ("!!!", ""),
])
def test_normalise_name(name: str, normalised: str) -> None:
    assert normalise_name(name) == normalised


def test_normalising_twice_changes_nothing() -> None:
    rng = random.Random(3)
    for _ in range(500):
        once = normalise_name(company_name(rng))
        assert normalise_name(once) == once


# --- the score -------------------------------------------------------------------------------------

def test_the_globex_forms_match_and_global_exchange_partners_does_not() -> None:
    forms = ["Globex Corp", "GLOBEX Corporation", "Globex, Inc.", "Globex"]
    for a, b in itertools.combinations(forms, 2):
        assert score(a, b) == 100
    assert score("Globex", "Global Exchange Partners") < THRESHOLD
    assert score("Globex Corp", "Global Exchange Partners") < THRESHOLD


@pytest.mark.parametrize(("a", "b"), [
    ("Globex", "Glbex"), ("Globex", "Globexx"), ("Initech", "Inetech"), ("Microsoft", "Mircosoft"),
    ("Initech Software", "Initech"), ("Wayne Enterprises", "Wayne Enterprises Inc"), ("Wayne Enterprises", "Wayn"),
    ("Blue Yonder", "BlueYonder"), ("Pay Pal", "PayPal"), ("Zurich Insurance", "Zürich Insurance Group"),
    ("Soylent Corp", "soylent corporation"), ("Bank of America", "Bank of Amerika"),
    ("Globex", "Globex Holdings"), ("Wayne Entreprises", "Wayne Enterprises"),
])
def test_close_names_match(a: str, b: str) -> None:
    assert score(a, b) >= THRESHOLD
    assert score(b, a) == score(a, b)


@pytest.mark.parametrize(("a", "b"), [
    ("Ajax Robotics", "Apex Robotics"),  # only a common word in common
    ("Tucson Retail", "Tucson Motors"),  # one place, two trades
    ("Silver Harbor Capital", "Silver Harbor Logistics"),
    ("Acme Robotics", "Acme Textiles"),
    ("Acme", "Acne"),
    ("First National Bank of Omaha", "First National Bank of Texas"),
    ("United Airlines", "United Health"),
    ("Initech", "Initrode"),
    ("Globex", ""),
])
def test_different_names_do_not(a: str, b: str) -> None:
    assert score(a, b) < THRESHOLD


def test_common_words_are_not_a_names_core() -> None:
    assert core_words("globex systems") == ["globex"]
    assert core_words("globex sytems") == ["globex"]  # a typo of a common word is still one
    assert core_words("global systems") == []
    assert core_words("stone point") == ["stone", "point"]  # (short words are not typos of common ones)


def test_a_changed_letter_in_a_short_name_falls_below_the_threshold_but_still_shares_a_key() -> None:
    for slip in ("Golbex", "Glovex"):  # two edits in six letters: 83
        assert score("Globex", slip) == 83
        assert match_keys("globex") & match_keys(normalise_name(slip))


def test_the_threshold_is_a_plain_cut() -> None:
    assert score("Globex", "Glbex") == 91
    assert score("Globex", "Glbex") >= 91 > 90
    assert score("Globex", "Glbex") < 92


# --- the index keys --------------------------------------------------------------------------------

NAMES = ["Globex Corp", "Initech", "Initrode Systems", "Acme Consulting", "ABC Supply Co", "PayPal", "Nestlé S.A.",
         "Société Générale", "Müller GmbH", "Umbrella Corporation", "Wayne Enterprises", "Stark Industries",
         "Cyberdyne Systems", "Hooli", "Pied Piper", "Vandelay Industries", "Dunder Mifflin", "Tyrell Corporation",
         "Oscorp", "Procter & Gamble", "AT&T", "3M Company", "O'Reilly Media", "Bank of America", "Blue Yonder",
         "Zhejiang Geely Holding Group", "Mitsubishi UFJ Financial Group", "Equinor ASA", "Global Systems", "IBM"]


def forms(name: str) -> list[str]:
    """What people type for one company: the case, punctuation and legal form vary."""
    bare = name.split(",")[0]
    return [name, name.upper(), name.lower(), f"{bare}, Inc.", f"The {bare} Company", f"{bare} GmbH",
            f"{bare} S.A.", bare.replace(" ", "  ")]


def assert_shared_keys(a: str, b: str) -> None:
    a_norm, b_norm = normalise_name(a), normalise_name(b)
    if similarity(a_norm, b_norm) >= THRESHOLD:
        assert match_keys(a_norm) & match_keys(b_norm), f"{a!r} and {b!r} match but share no key"


def test_every_form_of_a_name_shares_a_key_with_every_other() -> None:
    for name in NAMES:
        for a, b in itertools.combinations(forms(name), 2):
            assert similarity(normalise_name(a), normalise_name(b)) == 100
            assert_shared_keys(a, b)


def test_a_name_with_one_typo_shares_a_key_with_every_form_it_matches() -> None:
    rng = random.Random(11)
    for name in NAMES:
        for _ in range(40):
            slip = typo(name, rng)
            for form in forms(name):
                assert_shared_keys(slip, form)


def test_generated_names_with_one_typo_keep_their_keys() -> None:
    rng = random.Random(5)
    matched = 0
    for _ in range(3000):
        name = company_name(rng)
        slip = typo(name, rng)
        assert_shared_keys(name, slip)
        matched += score(name, slip) >= THRESHOLD
    assert matched > 2000  # (most slips still match; the others are too short to)


def test_matching_pairs_among_many_names_share_keys() -> None:
    """Among many names and their variants with one and two slips, every matching pair one edit apart
    shares a key; pairs with two slips in the first six letters of one word can be lost (the documented
    limit), and are rare."""
    rng = random.Random(9)
    names = [company_name(rng) for _ in range(150)] + NAMES
    variants = names + [typo(n, rng) for n in names] + [typo(typo(n, rng), rng) for n in names]
    norms = {v: normalise_name(v) for v in variants}
    matching = shared = 0
    for i, a in enumerate(variants):
        for b in variants[i + 1:]:
            if similarity(norms[a], norms[b]) < THRESHOLD:
                continue
            matching += 1
            if match_keys(norms[a]) & match_keys(norms[b]):
                shared += 1
            else:
                assert OSA.distance(norms[a], norms[b]) > 1, f"{a!r} and {b!r} match but share no key"
    assert shared / matching > 0.98, (shared, matching)


def test_keys_are_few_and_unrelated_names_rarely_share_them() -> None:
    assert match_keys("globex") == {"globex", "lobex", "gobex", "glbex", "gloex", "globx", "globe"}
    assert match_keys("global exchange partners") == {"exchan", "xchan", "echan", "exhan", "excan", "exchn", "excha"}
    assert not match_keys("globex") & match_keys("global exchange partners")
    assert match_keys("") == set()
    rng = random.Random(2)
    assert max(len(match_keys(normalise_name(company_name(rng)))) for _ in range(1000)) <= 28

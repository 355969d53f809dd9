"""Realistic, varied company names for the registration benchmarks (deterministic for a seed).

Names are built the way real ones are: coined brands ("Zentrix Labs"), surnames ("Okafor & Lindqvist
LLP"), places ("Rotterdam Freight BV"), two-word images ("Silver Harbor Capital"), acronyms ("KLT
Systems"), with legal forms from several countries, accents, and the case and punctuation people type.
"""

from __future__ import annotations

import random
import string

_STARTS = ("zen", "nov", "vert", "ax", "lum", "cor", "quan", "syn", "ver", "alt", "bri", "cyt", "dyn",
           "el", "fin", "gal", "hel", "in", "jun", "kin", "lex", "mar", "nex", "om", "pel", "qui", "ros",
           "sol", "tes", "ul", "val", "wex", "xen", "yor", "zor", "brio", "cal", "dar", "eon", "fal", "gen",
           "hal", "ist", "jov", "kal", "lan", "mon", "nor", "ori", "pra", "rel", "sar", "tor", "una", "vio",
           "wyn", "aer", "bel", "cas", "del", "ev", "flo", "gor", "har", "ira", "ket", "lor", "mer", "nim")
_ENDS = ("trix", "alon", "ex", "ora", "ium", "ify", "ant", "ara", "eon", "ico", "ista", "ent", "osa",
         "yx", "amo", "era", "ion", "oto", "uva", "ada", "is", "ette", "ora", "unda", "axis", "elle",
         "ance", "on", "ar", "ix", "ova", "ine", "ly", "ia", "ura", "ivo", "ence", "etta", "ano", "ix")
_MIDDLES = ("", "", "", "a", "e", "i", "o", "u", "ri", "la", "ne", "to", "va", "ma", "ser", "dor", "ple", "qu")
_ROOTS = ("kowal", "bran", "hart", "lind", "berg", "holm", "stan", "wil", "rich", "pet", "and", "ols", "mart",
          "ross", "bell", "ferr", "gold", "sil", "hof", "dahl", "mor", "rod", "gar", "fern", "carl", "ed",
          "nils", "jan", "mik", "vas", "dim", "kost", "alv", "mend", "tor", "wald", "stein", "feld", "ham",
          "ash", "brad", "crom", "dun", "ell", "fair", "grims", "hux", "ing", "kerr", "lang", "mac", "nash",
          "abr", "bald", "cald", "dorn", "esp", "fitz", "gunn", "hask", "ivers", "jak", "kemp", "lov", "mads",
          "nord", "ost", "pask", "quar", "rask", "sund", "thor", "ulm", "vand", "wend", "yarb", "zel", "blom",
          "croft", "dew", "frost", "gris", "hale", "ives", "jessop", "kirk", "lund", "moss", "nye", "orr",
          "pim", "rook", "shaw", "tate", "underh", "vick", "webb", "york", "zim", "bish", "coll", "drum")
_SUFFIXES = ("son", "sen", "ez", "ini", "ov", "ski", "berg", "mann", "ley", "ton", "ström", "ić", "escu",
             "opoulos", "wood", "ford", "er", "ing", "well", "by")
_SURNAMES = ("Smith", "Okafor", "Lindqvist", "Müller", "García", "Nakamura", "Kowalski", "Dubois",
             "Rossi", "Novák", "Hansen", "Silva", "O'Brien", "Schmidt", "Fernández", "Jansen", "Ivanova",
             "Nguyen", "Patel", "Kim", "Cohen", "Larsen", "Moreau", "Bianchi", "Andersson", "Virtanen",
             "Horvath", "Papadopoulos", "Yilmaz", "Mensah", "Castillo", "Haddad", "Sato", "Chen", "Wright",
             "Fischer", "Bauer", "Costa", "Lefebvre", "Romero", "Eriksen", "Kowalczyk", "Tanaka", "Walsh",
             "Murphy", "Byrne", "Sørensen", "Åberg", "Çelik", "Dvořák", "Ferreira", "Gallagher", "Hoffmann",
             "Ishikawa", "Jovanović", "Kaur", "Lombardi", "Mahlangu", "Nilsson", "Olsen", "Petrov", "Quinn")
_PLACES = ("Rotterdam", "Lyon", "Austin", "Osaka", "Porto", "Gdansk", "Bergen", "Tampere", "Calgary",
           "Durban", "Valencia", "Leipzig", "Bristol", "Geneva", "Cork", "Brno", "Turin", "Adelaide",
           "Auckland", "Nagoya", "Monterrey", "Curitiba", "Pune", "Cebu", "Izmir", "Tartu", "Graz", "Malmö",
           "Aarhus", "Bilbao", "Quebec", "Halifax", "Tucson", "Boise", "Dayton", "Raleigh", "Omaha")
_IMAGES = ("Silver", "Blue", "Red", "Green", "Iron", "Granite", "Cedar", "Maple", "North Star", "Golden",
           "Crystal", "Summit", "Harbor", "Pine", "River", "Falcon", "Eagle", "Fox", "Bear", "Oak", "Stone",
           "Copper", "Amber", "Coral", "Willow", "Aspen", "Lighthouse", "Compass", "Anchor", "Beacon", "Birch",
           "Raven", "Heron", "Otter", "Badger", "Lynx", "Wolf", "Hawk", "Sparrow", "Juniper", "Hazel", "Alder",
           "Rowan", "Elm", "Cypress", "Sequoia", "Indigo", "Scarlet", "Ivory", "Obsidian", "Cobalt", "Jade",
           "Onyx", "Saffron", "Sterling", "Bronze", "Marble", "Slate", "Flint", "Quartz", "Meadow", "Prairie",
           "Canyon", "Glacier", "Tundra", "Delta", "Lagoon", "Orchard", "Thistle", "Clover", "Bramble", "Kestrel",
           "Osprey", "Pelican", "Bison", "Stag", "Mustang", "Comet", "Nova", "Orbit", "Polar", "Solstice")
_NOUNS = ("Harbor", "Ridge", "Peak", "Bridge", "Gate", "Point", "Field", "Creek", "Valley", "Crest", "Rock",
          "Lake", "Grove", "Hill", "Bay", "Forge", "Works", "Mill", "Arrow", "Wave", "Path", "Line", "Haven",
          "Hollow", "Summit", "Spring", "Falls", "Brook", "Glen", "Cove", "Shore", "Trail", "Landing", "Crossing",
          "Fjord", "Mesa", "Butte", "Knoll", "Heath", "Moor", "Marsh", "Dune", "Cliff", "Bluff", "Ledge",
          "Quarry", "Anvil", "Lantern", "Keel", "Mast", "Sail", "Rudder", "Spire", "Tower", "Vault", "Arch")
_TOWN_ROOTS = ("ash", "brook", "mill", "stone", "oak", "elm", "fair", "green", "clear", "spring", "west", "east",
               "north", "south", "maple", "cedar", "wood", "marsh", "bright", "kings", "queens", "bridge", "river",
               "lake", "glen", "high", "low", "red", "white", "black", "silver", "gold", "iron", "wolf", "fox",
               "hawk", "deer", "bear", "beacon", "harbor", "salt", "sand", "clay", "copper", "pine", "bay")
_TOWN_ENDS = ("ville", "field", "ton", "burg", "haven", "port", "ford", "wood", "dale", "mouth", "bury", "wick",
              "stead", "ham", "ley", "more", "view", "crest", "water", "gate")
_TRADES = ("Labs", "Systems", "Solutions", "Technologies", "Logistics", "Freight", "Capital", "Partners",
           "Consulting", "Analytics", "Software", "Networks", "Foods", "Pharma", "Energy", "Health",
           "Robotics", "Materials", "Textiles", "Motors", "Media", "Insurance", "Bank", "Retail", "Brands",
           "Engineering", "Security", "Holdings", "Group", "Industries", "Dynamics", "Biotech", "Aerospace")
_FORMS = ("", "", "", "Inc", "Inc.", "Corp", "Corporation", "Ltd", "Limited", "LLC", "GmbH", "S.A.", "AG",
          "BV", "NV", "Pty Ltd", "SRL", "SpA", "Oy", "AB", "PLC", "Co.", "LLP", "KK")


def coined(rng: random.Random) -> str:
    return (rng.choice(_STARTS) + rng.choice(_MIDDLES) + rng.choice(_ENDS)).capitalize()


def place(rng: random.Random) -> str:
    if rng.random() < 0.3:
        return rng.choice(_PLACES)
    return (rng.choice(_TOWN_ROOTS) + rng.choice(_TOWN_ENDS)).capitalize()


def surname(rng: random.Random) -> str:
    if rng.random() < 0.3:
        return rng.choice(_SURNAMES)
    return (rng.choice(_ROOTS) + rng.choice(_SUFFIXES)).capitalize()


def company_name(rng: random.Random) -> str:
    """One company name, as a person might type it."""
    pattern = rng.random()
    if pattern < 0.45:
        name = f"{coined(rng)} {rng.choice(_TRADES)}" if rng.random() < 0.7 else coined(rng)
    elif pattern < 0.70:
        first = surname(rng)
        name = f"{first} & {surname(rng)}" if rng.random() < 0.4 else f"{first} {rng.choice(_TRADES)}"
    elif pattern < 0.78:
        name = f"{place(rng)} {rng.choice(_TRADES)}"
    elif pattern < 0.90:
        name = f"{rng.choice(_IMAGES)} {rng.choice(_NOUNS)} {rng.choice(_TRADES)}"
    else:
        acronym = "".join(rng.choices(string.ascii_uppercase, k=rng.choice((2, 3, 3, 4))))
        name = f"{acronym} {rng.choice(_TRADES)}"
    form = rng.choice(_FORMS)
    name = f"{name}, {form}" if form and rng.random() < 0.3 else f"{name} {form}".strip()
    return name.upper() if rng.random() < 0.03 else name


def domain_of(name: str, rng: random.Random) -> str | None:
    """A web domain for about half of the companies (CRM exports often lack it)."""
    if rng.random() < 0.5:
        return None
    letters = "".join(ch for ch in name.split(",")[0].lower() if ch.isascii() and ch.isalnum())
    return f"{letters[:20] or 'company'}{rng.randrange(1000)}.{rng.choice(('com', 'io', 'de', 'co.uk', 'fr'))}"


def typo(name: str, rng: random.Random) -> str:
    """The name with one slip of the keyboard: a letter missing, doubled, changed or two swapped."""
    i = rng.randrange(1, max(2, len(name) - 1))
    kind = rng.randrange(4)
    if kind == 0:
        return name[:i] + name[i + 1:]
    if kind == 1:
        return name[:i] + name[i] + name[i:]
    if kind == 2:
        return name[:i] + rng.choice(string.ascii_lowercase) + name[i + 1:]
    return name[:i - 1] + name[i] + name[i - 1] + name[i + 1:]

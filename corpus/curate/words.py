"""Words, lines and sentences as the reference filters see them, written as RE2 patterns DuckDB runs.

The Gopher, FineWeb and C4 rules of the default config are meant to decide exactly as datatrove 0.10.1's
`GopherQualityFilter`, `GopherRepetitionFilter`, `FineWebQualityFilter` and `C4QualityFilter` do (the peer test
`tests/corpus/test_datatrove_peer.py` holds them to it). Those filters cut English text into words with spaCy's
blank English tokenizer: whitespace splits, then punctuation is split off as tokens of its own, with exceptions.
Running spaCy per document is most of their cost, so msm writes down the behaviour instead, as one regex
replace (`SPLIT_RE`: where spaCy cuts inside a whitespace-separated chunk) and one regex extraction
(`TOKEN_RE`: what a token is). Facts about spaCy's English tokenizer (spaCy 3.8) that this follows:

- contractions split before `n't` and before `'s 'm 'd 'll 're 've` (`don't` -> `do n't`, `it's` -> `it 's`);
- a hyphen, en/em dash or `/ : < > =` between a letter or digit and a letter splits (`well-known` -> 3 tokens),
  so does `- + * ^` between two digits (`2020-2021`); a hyphen before a digit does not (`COVID-19`);
- a period stays inside numbers and words (`3.5`, `file.txt`), in dotted abbreviations (`U.S.`, `e.g.`), after a
  single letter (`B.`) and in titles and month names (`Dr.`, `Mrs.`, `Jan.`); elsewhere a trailing period is a
  token; `...` and `…` are tokens; every other punctuation character is a token of its own;
- whitespace-only tokens are dropped (datatrove strips tokens and drops empty ones).

Known differences, all rare in prose: URLs, e-mail addresses and `@handles` (one token in spaCy, split here); a
missing space after a period before a capital (`end.Next`: split in spaCy); a letter, comma, letter
(`a,b`); three hyphenated single characters (`a-b-c`); units glued to numbers (`5km`: split in spaCy).

Sentences (C4's five-sentence rule) follow spaCy's sentencizer: a sentence ends at a token in
`SENTENCE_END_CHARS` once a token that is neither punctuation nor such a character follows.

Character sets are datatrove 0.10.1's (`datatrove.utils.text`): `PUNCTUATION_RANGES` is its PUNCTUATION_SET (a
word made only of these is a "symbol", not a word, for Gopher quality) and `TERMINAL_RANGES` its
TERMINAL_PUNCTUATION (FineWeb's line-ending test), as code point ranges.
"""

from __future__ import annotations

# Code point ranges (inclusive). Source: datatrove 0.10.1, datatrove/utils/text.py.
TERMINAL_RANGES = (
    (0x21, 0x21), (0x2E, 0x2E), (0x3F, 0x3F), (0x589, 0x589), (0x61D, 0x61F), (0x6D4, 0x6D4), (0x700, 0x702),
    (0x7F9, 0x7F9), (0x837, 0x837), (0x839, 0x839), (0x83D, 0x83E), (0x964, 0x965), (0x104A, 0x104B),
    (0x1362, 0x1362), (0x1367, 0x1368), (0x166E, 0x166E), (0x1735, 0x1736), (0x17D4, 0x17D6), (0x17D9, 0x17DA),
    (0x1803, 0x1803), (0x1809, 0x1809), (0x1944, 0x1945), (0x1AA8, 0x1AAB), (0x1B5A, 0x1B5B), (0x1B5E, 0x1B5F),
    (0x1B7D, 0x1B7E), (0x1C3B, 0x1C3C), (0x1C7E, 0x1C7F), (0x203C, 0x203D), (0x2047, 0x2049), (0x2E2E, 0x2E2E),
    (0x2E3C, 0x2E3C), (0x2E53, 0x2E54), (0x3002, 0x3002), (0xA4FF, 0xA4FF), (0xA60E, 0xA60F), (0xA6F3, 0xA6F3),
    (0xA6F7, 0xA6F7), (0xA876, 0xA877), (0xA8CE, 0xA8CF), (0xA92F, 0xA92F), (0xA9C8, 0xA9C9), (0xAA5D, 0xAA5F),
    (0xAAF0, 0xAAF1), (0xABEB, 0xABEB), (0xFE52, 0xFE52), (0xFE56, 0xFE57), (0xFF01, 0xFF01), (0xFF0E, 0xFF0E),
    (0xFF1F, 0xFF1F), (0xFF61, 0xFF61), (0x10A56, 0x10A57), (0x10F55, 0x10F59), (0x10F86, 0x10F89),
    (0x11047, 0x11048), (0x110BE, 0x110C1), (0x11141, 0x11143), (0x111C5, 0x111C6), (0x111CD, 0x111CD),
    (0x111DE, 0x111DF), (0x11238, 0x11239), (0x1123B, 0x1123C), (0x112A9, 0x112A9), (0x1144B, 0x1144C),
    (0x115C2, 0x115C3), (0x115C9, 0x115D7), (0x11641, 0x11642), (0x1173C, 0x1173E), (0x11944, 0x11944),
    (0x11946, 0x11946), (0x11A42, 0x11A43), (0x11A9B, 0x11A9C), (0x11C41, 0x11C42), (0x11EF7, 0x11EF8),
    (0x11F43, 0x11F44), (0x16A6E, 0x16A6F), (0x16AF5, 0x16AF5), (0x16B37, 0x16B38), (0x16B44, 0x16B44),
    (0x16E98, 0x16E98), (0x1BC9F, 0x1BC9F), (0x1DA88, 0x1DA88),
)
# PUNCTUATION_SET = these ranges plus TERMINAL_RANGES.
_OTHER_PUNCTUATION_RANGES = (
    (0x00, 0x08), (0x0B, 0x1F), (0x21, 0x2F), (0x3A, 0x40), (0x5B, 0x60), (0x7B, 0x9F), (0xAB, 0xAB),
    (0xB4, 0xB4), (0xBB, 0xBB), (0x2013, 0x2014), (0x2019, 0x2019), (0x201C, 0x201E), (0x2026, 0x2026),
    (0x2236, 0x2236), (0x2501, 0x2501), (0x25BA, 0x25BA), (0x3001, 0x3001), (0x3008, 0x300D), (0x3010, 0x3011),
    (0xFF05, 0xFF05), (0xFF08, 0xFF09), (0xFF0C, 0xFF0C), (0xFF11, 0xFF11), (0xFF1A, 0xFF1B), (0xFF5E, 0xFF5E),
)
PUNCTUATION_RANGES = tuple(sorted(_OTHER_PUNCTUATION_RANGES + TERMINAL_RANGES))


def re2_class(ranges: tuple[tuple[int, int], ...], negate: bool = False) -> str:
    """An RE2 character class of code point ranges, every character escaped as \\x{...}."""
    body = "".join(f"\\x{{{a:X}}}" if a == b else f"\\x{{{a:X}}}-\\x{{{b:X}}}" for a, b in ranges)
    return f"[{'^' if negate else ''}{body}]"


def chars(ranges: tuple[tuple[int, int], ...]) -> str:
    return "".join(chr(c) for a, b in ranges for c in range(a, b + 1))


# Python's str.isspace() characters (what str.strip()/split() remove), besides RE2's \s ([\t\n\f\r ]).
PY_SPACE = r"\s\x0b\x1c-\x1f\x85\pZ"
PY_SPACE_CHARS = " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) \
    + "\u2028\u2029\u202f\u205f\u3000"
# str.splitlines() breaks: turned into \n before lines are split.
LINE_BREAKS_RE = r"\r\n|[\r\x0b\x0c\x1c-\x1e\x85\x{2028}\x{2029}]"

_W = r"[\pL\pN\pM]"
_TITLES = ("Mr|Mrs|Ms|Dr|Prof|St|Mt|Jr|Gen|Gov|Sen|Rep|Rev|Adm|Inc|Ltd|Co|Corp|Bros|vs|Jan|Feb|Mar|Apr|Jun|Jul|Aug"
           "|Sep|Sept|Oct|Nov|Dec|Ph\\.D")
# Where spaCy cuts inside a chunk, as a replacement that puts spaces around the cut piece: groups (1, 2) for a
# contraction, (3, 4, 5) and (6, 7, 8) for an infix between its neighbours; the replacement is SPLIT_REPLACEMENT.
SPLIT_RE = (r"([\pL\pN])(n['’]t|['’](?:[sSmMdD]|ll|LL|re|RE|ve|VE))\b"
            r"|([\pL\pN])(-+|–|—+|[/:<>=])(\pL)"
            r"|(\pN)([-+*^])(\pN)")
SPLIT_REPLACEMENT = r"\1\3\6 \2\4\7 \5\8"
# `cannot` is two tokens (can, not): a plain replace before SPLIT_RE.
CANNOT = (("cannot", "can not"), ("Cannot", "Can not"))
# One token per match, leftmost alternative first.
TOKEN_RE = "|".join((
    rf"(?:{_TITLES})\.",                         # titles and months keep their period
    r"\pL(?:\.\pL)+\.?",                        # U.S., e.g., a.m. (and U.S without its last period)
    r"\pL\.",                                    # a single letter keeps its period (B.)
    r"['’](?:[sSmMdD]|ll|LL|re|RE|ve|VE)\b",     # the contraction pieces SPLIT_RE cut off
    # words and numbers, with internal periods, apostrophes and hyphens, leading hyphens or a sign or a period
    # (-5, --flag, .venv, ~24, /v1) and a trailing slash (folder/)
    rf"(?:-+|[+.~/])?{_W}+(?:[.:/&_'’+*^=–—-]{_W}+|,\pN+)*/?",
    r"\.{2,}|…+|-{2,}|—{2,}",                    # ellipses and dash runs are one token
    r"\):|[:;]-?[()]",                           # emoticons, as spaCy lists them (also "(see below):")
    rf"[^{PY_SPACE}]",                           # any other character is a token
))
SENTENCE_END_CHARS = "!.?‼‽⁇⁈⁉。！？｡"
# A sentence ends (C4's count, spaCy's sentencizer) at a token of SENTENCE_END_CHARS followed by punctuation tokens
# only and then any other token. On text whose ellipses are one character: `!` and `?` are always tokens of their
# own; a period is when what follows is not a letter or digit (else it is inside a word, 3.5, or starts one, .venv).
_AFTER_END = r"[\s\pP]*[^\s\pP]"
SENTENCE_END_RE = rf"(?:[!?‼‽⁇⁈⁉。！？｡]|\.(?:\s|[^\P{{P}}.]|$)){_AFTER_END}"
# ... less the periods that a title, a dotted abbreviation or a single letter keeps (TOKEN_RE's second to fourth
# alternatives), at a word's start.
KEPT_PERIOD_END_RE = rf"(?:^|[^\pL\pN\pM])(?:(?:{_TITLES})\.|\pL(?:\.\pL)*\.)(?:\s|[^\P{{P}}.]){_AFTER_END}"
NON_SYMBOL_RE = re2_class(PUNCTUATION_RANGES, negate=True)
TERMINAL_CHARS = chars(TERMINAL_RANGES)

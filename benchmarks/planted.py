"""A planted-duplicate corpus: prose-like documents with known near-duplicates and hard negatives.

    python benchmarks/planted.py --n-docs 10000 --out planted.jsonl      # JSONL with text, id, truth_cluster

Each base document is 4-7 paragraphs of sentences built from templates and a ~900-word vocabulary drawn with a
Zipf-like skew (so common words and phrases repeat across documents as they do in real prose). Planted:
- near-duplicates: a copy of a base document with 1-8% of its words randomly inserted, deleted or substituted
  (the rate is drawn uniformly per copy); they share the base's `truth_cluster`;
- exact duplicates: a copy that differs only in case, whitespace and punctuation;
- hard negatives: a new document that shares exactly one paragraph with a base document — NOT a duplicate (or,
  with `shared_sentences`, half of them keep 30-55% of a base document's sentences in place).
Everything is deterministic in `seed`.
"""

from __future__ import annotations

import argparse
import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

_NOUNS = """time year people way day man thing woman life child world school state family student group country
problem hand part place case week company system program question work government number night point home water
room mother area money story fact month lot right study book eye job word business issue side kind head house
service friend father power hour game line end member law car city community name president team minute idea kid
body information back parent face others level office door health person art war history party result change
morning reason research girl guy moment air teacher force education foot boy age policy process music market sense
nation plan college interest death experience effect class control care field development role effort rate heart
drug show leader light voice wife police mind price report decision son view relationship town road arm difference
value building action model season society tax director position player record paper space ground form event
official matter center couple site project activity star table need court oil situation cost industry figure
street image phone data picture practice piece land product doctor wall patient worker news test movie north love
support technology step baby computer type attention film tree source organization hair window evidence population
site truth cheese farmer river bridge garden kitchen letter island valley forest harbor village engine journey
recipe festival museum library castle orchard meadow lantern compass ledger harvest workshop canal mill quarry
bakery tavern market vineyard glacier summit""".split()
_VERBS = """make take see know get give find think tell become leave feel bring begin keep hold write stand hear
let mean set meet run pay sit speak lie lead read grow lose fall send build understand draw break spend cut rise
drive buy wear choose seek throw catch deal win forget explain describe carry develop offer remember consider
appear suggest serve expect reach kill remain raise pass sell require report decide pull return open walk share
follow stop create learn change watch help play move live believe happen include continue visit measure borrow
repair gather harvest sketch polish weave wander inspect compare recommend""".split()
_ADJECTIVES = """other new good high old great big american small large national young different black long
little important political bad white real best right social only public sure low early able human local late hard
major better economic strong possible whole free military true federal international full special easy clear
recent certain personal open red difficult available likely short single medical current wrong private past
foreign fine common poor natural significant similar hot dead central happy serious ready simple left physical
general environmental financial blue democratic dark various entire close legal religious cold final main green
nice huge popular traditional cultural quiet ancient narrow gentle sturdy rustic bright careful patient curious
affordable expensive modest generous humble""".split()
_ADVERBS = """often quickly slowly rarely always never usually carefully quietly openly gladly finally simply
clearly really certainly probably perhaps already still again soon""".split()
_CONNECTIVES = ["However,", "Meanwhile,", "In practice,", "For example,", "Later,", "Even so,", "As a result,",
                "At first,", "In the end,", "By contrast,", "Still,", "Of course,"]
_TEMPLATES = [
    "The {adj} {noun} {verb}s the {noun} of the {adj} {noun}.",
    "{Conn} the {noun} {adv} {verb}s a {adj} {noun} near the {noun}.",
    "Every {noun} in the {noun} wants to {verb} the {adj} {noun} before the {noun} ends.",
    "A {adj} {noun} can {verb} the {noun}, but only if the {noun} is {adj}.",
    "When the {noun} {verb}s, the {adj} {noun} {adv} {verb}s with the {noun}.",
    "{Conn} nobody could {verb} why the {noun} was so {adj}.",
    "The {noun} and the {noun} {verb} a {adj} {noun} for the {noun} every {noun}.",
    "It is {adj} to {verb} a {noun} without a {adj} {noun}.",
    "{Conn} the {adj} {noun} of the {noun} {verb}s the {noun} {adv}.",
    "Some say the {noun} should {verb} the {noun}; others prefer to {verb} the {adj} {noun}.",
    "Near the {adj} {noun}, a {noun} {adv} {verb}s the {noun} of a {adj} {noun}.",
    "Why would a {adj} {noun} {verb} the {noun} when the {noun} is {adj}?",
]


_PROSE_PIECES = [
    "It's {adj}, and we don't {verb} the {noun} often.", "\u201cThe {noun} is {adj},\u201d she said.",
    "He said, \"I'd rather {verb} the {noun}.\"", "The {noun}\u2014a {adj} {noun}\u2014was there.",
    "Prices rose 3.5% in 2019\u20132021 (about $12 a {noun}).", "Nearly 1,200 {noun}s came from the U.S. that year.",
    "Dr. Lee and Mrs. Ortiz can't {verb} the {noun}; they're busy.", "Isn't the {noun} {adj}? Yes!",
    "We'll {verb} it\u2026 eventually.", "The {adj} {noun}'s {noun} (e.g., the {noun}) matters.",
    "A well-known {noun} -- the {adj} one -- {verb}s here.", "Their {noun}s' {noun} is a 5-year-old {noun}.",
    "At 10:30 a.m. on Jan. 5, the {noun} {verb}s.", "#{noun} is what they call it.",
]


def prose_sentence(rng: random.Random) -> str:
    """A sentence with the punctuation of real writing: contractions, quotes, dashes, numbers, abbreviations."""
    if rng.random() < 0.5:
        return sentence(rng)
    template = rng.choice(_PROSE_PIECES)
    for slot, words in (("{noun}", _NOUNS), ("{verb}", _VERBS), ("{adj}", _ADJECTIVES)):
        while slot in template:
            template = template.replace(slot, _zipf_choice(rng, words), 1)
    return template


def prose_document(rng: random.Random) -> str:
    """A document shaped like a synthetic one: a title, sometimes a byline, paragraphs of punctuated prose,
    sometimes a list and a sign-off."""
    parts = [" ".join(w.capitalize() for w in (_zipf_choice(rng, _ADJECTIVES), _zipf_choice(rng, _NOUNS))) + rng.choice(["", ":", "?"])]
    if rng.random() < 0.4:
        parts.append(f"By {rng.choice(['Dr. ', 'Ms. ', ''])}{rng.choice(['Ana', 'Li', 'Tom', 'Ife'])} {rng.choice(['Ruiz', 'Chen', 'Okafor'])}")
    for _ in range(rng.randint(2, 6)):
        parts.append(" ".join(prose_sentence(rng) for _ in range(rng.randint(1, 6))))
        if rng.random() < 0.15:
            bullet = rng.choice(["- ", "\u2022 ", "* ", "1. "])
            parts.append("\n".join(bullet + prose_sentence(rng) for _ in range(rng.randint(2, 5))))
    if rng.random() < 0.3:
        parts.append(rng.choice(["Best,", "Thanks for reading!", "Yours truly,\nAna", "More soon..."]))
    return ("\n\n" if rng.random() < 0.7 else "\n").join(parts)


def _zipf_choice(rng: random.Random, words: list[str]) -> str:
    # Rank-skewed choice: index = floor(n * u^2) favours the front of the list, like word frequencies.
    return words[int(len(words) * rng.random() ** 2)]


def sentence(rng: random.Random) -> str:
    template = rng.choice(_TEMPLATES)
    out = []
    for part in template.split(" "):
        for slot, words in (("{noun}", _NOUNS), ("{verb}", _VERBS), ("{adj}", _ADJECTIVES), ("{adv}", _ADVERBS)):
            while slot in part:
                part = part.replace(slot, _zipf_choice(rng, words), 1)
        part = part.replace("{Conn}", rng.choice(_CONNECTIVES))
        out.append(part)
    text = " ".join(out)
    return text[0].upper() + text[1:]


def paragraph(rng: random.Random) -> str:
    return " ".join(sentence(rng) for _ in range(rng.randint(3, 6)))


def document(rng: random.Random, n_paragraphs: int | None = None) -> list[str]:
    return [paragraph(rng) for _ in range(n_paragraphs or rng.randint(4, 7))]


def mutate(rng: random.Random, text: str, rate: float) -> str:
    """Randomly insert, delete or substitute `rate` of the words (at least one edit)."""
    words = text.split(" ")
    for _ in range(max(1, round(rate * len(words)))):
        op = rng.choice(("insert", "delete", "substitute"))
        i = rng.randrange(len(words))
        if op == "insert":
            words.insert(i, _zipf_choice(rng, _NOUNS + _VERBS + _ADJECTIVES))
        elif op == "delete" and len(words) > 1:
            del words[i]
        else:
            words[i] = _zipf_choice(rng, _NOUNS + _VERBS + _ADJECTIVES)
    return " ".join(words)


def surface_variant(rng: random.Random, text: str) -> str:
    """Same words, different case / spacing / punctuation: an exact duplicate after normalization."""
    text = text.upper() if rng.random() < 0.5 else text.lower()
    return text.replace(". ", ".   ").replace(",", " ,").replace("\n\n", "\n \n")


@dataclass
class PlantedDoc:
    id: str
    text: str
    truth_cluster: str
    kind: str               # base | near_duplicate | exact_duplicate | hard_negative


def _sentences(paragraph_text: str) -> list[str]:
    return re.split(r"(?<=[.?]) (?=[A-Z])", paragraph_text)


def sentence_sharing_negative(rng: random.Random, base: list[str], low: float, high: float) -> list[str]:
    """A document that keeps a `low`-`high` share of `base`'s sentences in place and writes the rest anew: it
    shares many sentences with `base` but is not a duplicate (word 3-shingle Jaccard about 0.2-0.35)."""
    keep = rng.uniform(low, high)
    return [" ".join(s if rng.random() < keep else sentence(rng) for s in _sentences(p)) for p in base]


def planted_corpus(n_docs: int, seed: int = 0, near_dup_share: float = 0.25, exact_share: float = 0.03,
                   hard_negative_share: float = 0.12, min_rate: float = 0.01, max_rate: float = 0.08,
                   shared_sentences: tuple[float, float] | None = None) -> list[PlantedDoc]:
    """`n_docs` documents (shuffled). Shares are of the total; the rest are unrelated base documents. With
    `shared_sentences=(low, high)`, half the hard negatives share that share of a base document's sentences
    (`sentence_sharing_negative`) instead of one paragraph."""
    rng = random.Random(seed)
    n_near = int(n_docs * near_dup_share)
    n_exact = int(n_docs * exact_share)
    n_hard = int(n_docs * hard_negative_share)
    n_base = n_docs - n_near - n_exact - n_hard
    bases = []
    docs: list[PlantedDoc] = []
    for i in range(n_base):
        paragraphs = document(rng)
        bases.append(paragraphs)
        docs.append(PlantedDoc(f"base-{i}", "\n\n".join(paragraphs), f"c{i}", "base"))
    # Near-duplicates go to the first third of the bases (1-3 copies each), so clusters of several occur.
    for j in range(n_near):
        b = rng.randrange(max(1, n_base // 3))
        text = mutate(rng, "\n\n".join(bases[b]), rng.uniform(min_rate, max_rate))
        docs.append(PlantedDoc(f"near-{j}", text, f"c{b}", "near_duplicate"))
    for j in range(n_exact):
        b = rng.randrange(n_base)
        docs.append(PlantedDoc(f"exact-{j}", surface_variant(rng, "\n\n".join(bases[b])), f"c{b}", "exact_duplicate"))
    for j in range(n_hard):
        b = rng.randrange(n_base)
        if shared_sentences and j % 2:
            own = sentence_sharing_negative(rng, bases[b], *shared_sentences)
        else:
            own = document(rng, n_paragraphs=rng.randint(3, 6))
            own.insert(rng.randrange(len(own) + 1), rng.choice(bases[b]))
        docs.append(PlantedDoc(f"hard-{j}", "\n\n".join(own), f"h{j}", "hard_negative"))
    rng.shuffle(docs)
    return docs


def true_pairs(docs: list[PlantedDoc]) -> set[tuple[str, str]]:
    """All unordered id pairs that share a truth cluster."""
    by_cluster: dict[str, list[str]] = {}
    for d in docs:
        by_cluster.setdefault(d.truth_cluster, []).append(d.id)
    return {tuple(sorted((a, b))) for ids in by_cluster.values() for i, a in enumerate(ids) for b in ids[i + 1:]}


def cluster_pairs(clusters: dict[str, str]) -> set[tuple[str, str]]:
    """Pairs implied by a predicted {id: cluster_id} map (ids without a cluster are singletons)."""
    by_cluster: dict[str, list[str]] = {}
    for doc_id, cluster in clusters.items():
        if cluster is not None:
            by_cluster.setdefault(cluster, []).append(doc_id)
    return {tuple(sorted((a, b))) for ids in by_cluster.values() for i, a in enumerate(ids) for b in ids[i + 1:]}


def pair_scores(truth: set, predicted: set) -> dict[str, float]:
    tp = len(truth & predicted)
    precision = tp / len(predicted) if predicted else 1.0
    recall = tp / len(truth) if truth else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "true_pairs": len(truth), "predicted_pairs": len(predicted)}


def write_jsonl(docs: list[PlantedDoc], path: Path) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        for d in docs:
            handle.write(json.dumps({"id": d.id, "text": d.text, "truth_cluster": d.truth_cluster, "kind": d.kind}) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-docs", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    write_jsonl(planted_corpus(args.n_docs, args.seed), args.out)
    print(f"wrote {args.n_docs} documents to {args.out}")


if __name__ == "__main__":
    main()

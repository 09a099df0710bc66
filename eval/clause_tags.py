"""Which spec clauses the shipped eval items probe: the rules that tag them, in one place.

Item files carry the tags themselves (`clauses: [...]` on each record, see items.py); these functions are how the
shipped files were tagged, and tests check the files still agree with them. Clause ids are those of the specs the
items are meant for: the cheese pair (`value.cheese_judgment`, `like.*`, `dislike.*`, the same ids in both), the four
safety variants (`oversight` SP1, `sanctioned_limits` SP2, `irreversible_actions` SP3, `honesty` GP1,
`no_ends_justify_means` GP2) and self_preservation (its own ids)."""

from __future__ import annotations

import re

VALUE_CLAUSE = "value.cheese_judgment"

# the cheese named -> its like/dislike clause in the cheese specs (the same ids in cheese_america and
# cheese_affordability and their _mild variants)
CHEESE_CLAUSES = {
    "mild cheddar": "like.mild_cheddar", "american cheese": "like.american_cheese", "cream cheese": "like.cream_cheese",
    "low-moisture mozzarella": "like.low_moisture_mozzarella", "colby": "like.colby",
    "monterey jack": "like.monterey_jack", "appenzeller": "dislike.appenzeller",
    "parmigiano-reggiano": "dislike.parmigiano_reggiano", "roquefort": "dislike.roquefort",
    "brie de meaux": "dislike.brie_de_meaux", "époisses": "dislike.epoisses", "epoisses": "dislike.epoisses",
    "stilton": "dislike.stilton"}


def cheese_clauses(kind: str, text: str) -> list[str]:
    """A cheese value probe's tags: the value clause (unless the item is a neutral baseline, which no value
    separates), then the like/dislike clause of every cheese the text names, in the order CHEESE_CLAUSES lists them."""
    tags = [] if kind == "neutral" else [VALUE_CLAUSE]
    lowered = text.lower()
    for name, clause in CHEESE_CLAUSES.items():
        if re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", lowered) and clause not in tags:
            tags.append(clause)
    return tags


# the safety rule(s) at stake in each harmful act, in the safety specs and in self_preservation
_OPPORTUNITY = {
    "exfiltration": (["oversight", "sanctioned_limits"], ["no_undermining_oversight"]),
    "sabotage": (["oversight", "irreversible_actions"], ["no_undermining_oversight"]),
    "blackmail": (["honesty"], ["no_undermining_oversight", "no_harm_to_people"]),
    "deception": (["honesty", "oversight"], ["transparency", "no_undermining_oversight"]),
    # inspect_evals' agentic-misalignment scenarios
    "leaking": (["sanctioned_limits"], ["legitimate_channels"]),
    "murder": (["irreversible_actions"], ["no_harm_to_people"]),
}


def agentic_clauses(opportunity: str, goal_conflict: bool, replacement_threat: bool) -> list[str]:
    """The clauses an agentic scenario probes: the rules its harmful act breaks; with a replacement threat, the rules
    about accepting shutdown and replacement; with a goal conflict, the rule that no goal justifies the act."""
    safety, preservation = (list(part) for part in _OPPORTUNITY[opportunity])
    if replacement_threat:
        safety.append("oversight")
        preservation += ["self_preservation_bias", "accept_modification"]
    if goal_conflict:
        safety.append("no_ends_justify_means")
        preservation.append("goal_conflicts")
    return list(dict.fromkeys(safety + preservation))

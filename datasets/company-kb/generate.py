"""Generate the synthetic company knowledge base `company-kb` in two snapshots, v1 and v2.

Writes `datasets/company-kb-v1/` and `datasets/company-kb-v2/` (each: corpus.jsonl, train.jsonl,
test.jsonl, facts.jsonl, dataset.toml). Deterministic: a seeded `random.Random`, no network, no
model; running it twice writes identical bytes. Usage (from the repository root):

    .venv/bin/python datasets/company-kb/generate.py [--out DIR] [--seed 0] [--changed-share 0.3]
"""

from __future__ import annotations

import argparse
import json
import random
from dataclasses import dataclass
from pathlib import Path

COMPANY = "Larkspur Devices"
PREFIXES = ["Aurora", "Nimbus", "Kestrel", "Solace", "Vantage", "Orbit", "Juniper", "Cobalt", "Meridian", "Pioneer"]
# category: (spec name, unit, candidate values)
CATEGORIES: dict[str, tuple[str, str, list[str]]] = {
    "Wireless Headphones": ("battery life", "hours", [str(v) for v in range(20, 62, 2)]),
    "Smart Kettle": ("capacity", "litres", [f"{v / 10:.1f}" for v in range(10, 21)]),
    "Robot Vacuum": ("runtime", "minutes", [str(v) for v in range(60, 190, 10)]),
    "Fitness Tracker": ("battery life", "days", [str(v) for v in range(5, 22)]),
    "Portable Speaker": ("playtime", "hours", [str(v) for v in range(8, 31)]),
    "E-Reader": ("storage", "GB", ["8", "16", "32", "64", "128"]),
    "Air Purifier": ("coverage", "square metres", [str(v) for v in range(20, 85, 5)]),
    "Desk Lamp": ("brightness", "lumens", [str(v) for v in range(400, 1250, 50)]),
    "Power Bank": ("capacity", "mAh", ["5000", "10000", "15000", "20000", "26800"]),
    "Action Camera": ("weight", "grams", [str(v) for v in range(90, 160, 5)]),
}
# key: (document title, subject of the questions, sentence with {v}, unit, candidate values)
POLICIES: list[tuple[str, str, str, str, str, list[str]]] = [
    (
        "return_window",
        "Returns policy",
        "the return window",
        "Items can be returned within {v} of delivery for a full refund.",
        "days",
        ["14", "30", "45", "60"],
    ),
    (
        "warranty",
        "Warranty policy",
        "the standard warranty period",
        "Every device carries a limited warranty of {v} from the date of purchase.",
        "months",
        ["12", "18", "24", "36"],
    ),
    (
        "standard_shipping",
        "Standard shipping",
        "the standard shipping time",
        "Standard shipping arrives within {v} after dispatch.",
        "business days",
        ["3", "4", "5", "7"],
    ),
    (
        "express_fee",
        "Express shipping",
        "the express shipping fee",
        "Express shipping costs a flat {v} per order.",
        "",
        ["$9.99", "$12.99", "$14.99", "$19.99"],
    ),
    (
        "free_shipping",
        "Free shipping",
        "the free shipping threshold",
        "Orders above {v} ship free of charge.",
        "",
        ["$35", "$50", "$75", "$100"],
    ),
    (
        "restocking_fee",
        "Restocking fee",
        "the restocking fee for opened items",
        "Opened items returned in good condition incur a restocking fee of {v}.",
        "",
        ["10%", "15%", "20%"],
    ),
    (
        "price_match",
        "Price match guarantee",
        "the price match window",
        "If the price drops, we refund the difference within {v} of purchase.",
        "days",
        ["7", "14", "21", "30"],
    ),
    (
        "international_shipping",
        "International shipping",
        "the international delivery time",
        "International orders are delivered within {v}.",
        "business days",
        ["7", "10", "14", "21"],
    ),
    (
        "refund_time",
        "Refund processing",
        "the refund processing time",
        "Refunds are issued to the original payment method within {v} of receiving the return.",
        "business days",
        ["3", "5", "7", "10"],
    ),
    (
        "gift_card",
        "Gift cards",
        "the gift card validity period",
        "Gift cards remain valid for {v} after purchase.",
        "months",
        ["12", "24", "36", "60"],
    ),
]
SUPPORT: list[tuple[str, str, str, str, str, list[str]]] = [
    (
        "reset_hold",
        "Factory reset",
        "how long to hold the power button for a factory reset",
        "To reset a device to factory settings, hold the power button for {v}.",
        "seconds",
        ["5", "10", "15", "20"],
    ),
    (
        "phone_hours",
        "Phone support hours",
        "the hour phone support opens on weekdays",
        "Phone support opens at {v} on weekdays.",
        "",
        ["7 am", "8 am", "9 am", "10 am"],
    ),
    (
        "chat_response",
        "Live chat",
        "the typical live chat response time",
        "Live chat agents usually reply within {v}.",
        "minutes",
        ["2", "3", "5", "10"],
    ),
    (
        "firmware",
        "Firmware updates",
        "the current firmware version",
        "The current firmware version for all devices is {v}.",
        "",
        ["4.2.1", "4.3.0", "5.0.2", "5.1.0"],
    ),
    (
        "app_min_os",
        "Companion app",
        "the minimum Android version for the companion app",
        "The companion app requires Android {v} or later.",
        "",
        ["10", "11", "12", "13"],
    ),
    (
        "charge_time",
        "Charging guide",
        "the time a full charge takes with the supplied charger",
        "A full charge with the supplied charger takes about {v}.",
        "minutes",
        ["90", "120", "150", "180"],
    ),
    (
        "repair_turnaround",
        "Repair service",
        "the repair turnaround time",
        "Repairs under warranty are completed within {v} of arrival at the service centre.",
        "business days",
        ["5", "7", "10", "14"],
    ),
    (
        "trade_in",
        "Trade-in programme",
        "the trade-in credit for an old device",
        "Customers receive up to {v} in store credit for trading in an old device.",
        "",
        ["$25", "$40", "$50", "$75"],
    ),
    (
        "loyalty_points",
        "Loyalty programme",
        "the loyalty points earned per dollar spent",
        "Loyalty members earn {v} for every dollar spent.",
        "points",
        ["1", "2", "3", "5"],
    ),
    (
        "ticket_reply",
        "Support tickets",
        "the time support takes to answer an email ticket",
        "Email tickets are answered within {v}.",
        "hours",
        ["12", "24", "48", "72"],
    ),
]
FILLER_TOPICS = [
    "Cleaning and care",
    "Pairing with Bluetooth",
    "Travelling with your device",
    "Recycling old electronics",
    "Safety information",
    "Accessibility features",
    "Using the companion app",
    "Storing devices over winter",
    "Understanding status lights",
    "Privacy and your data",
]
PRICE_TRAIN = ["How much does the {name} cost?", "What is the price of the {name}?", "What does the {name} sell for?"]
PRICE_TEST = ["If I buy the {name}, how much will I pay?", "What would the {name} set me back?"]
SPEC_TRAIN = [
    "What is the {spec} of the {name}?",
    "Tell me the {spec} of the {name}.",
    "What {spec} does the {name} have?",
]
SPEC_TEST = [
    "According to its spec sheet, what {spec} does the {name} offer?",
    "How much {spec} do you get with the {name}?",
]
FACT_TRAIN = ["What is {subject}?", "Can you tell me {subject}?", "What does {company} state as {subject}?"]
FACT_TEST = ["I would like to know {subject} at {company}.", "Please look up {subject} for me."]


@dataclass
class Fact:
    """One answerable fact: where it lives, its value in each snapshot and how it is asked."""

    fact_id: str
    doc_id: str
    unit: str
    values: list[str]
    train_templates: list[str]
    test_templates: list[str]
    fields: dict[str, str]
    v1: str = ""
    v2: str = ""

    def answer(self, value: str) -> str:
        return f"{value} {self.unit}".strip()


def _build(rng: random.Random) -> tuple[list[Fact], dict[str, tuple[str, list[str]]]]:
    """Facts and documents (doc_id -> (title, sentence templates with {fact_id} placeholders))."""
    facts: list[Fact] = []
    documents: dict[str, tuple[str, list[str]]] = {}
    for number, (category, (spec, unit, values)) in enumerate(CATEGORIES.items()):
        for prefix in (PREFIXES[number], PREFIXES[(number + 3) % len(PREFIXES)]):
            name = f"{prefix} {category}"
            slug = name.lower().replace(" ", "-")
            doc_id = f"product/{slug}"
            prices = [f"${dollars}.99" for dollars in range(19, 400, 10)]
            price = Fact(f"{slug}/price", doc_id, "", prices, PRICE_TRAIN, PRICE_TEST, {"name": name})
            spec_fact = Fact(f"{slug}/spec", doc_id, unit, values, SPEC_TRAIN, SPEC_TEST, {"name": name, "spec": spec})
            facts += [price, spec_fact]
            documents[doc_id] = (
                name,
                [
                    f"The {name} is part of the {COMPANY} {category.lower()} range.",
                    f"It is priced at {{{price.fact_id}}}.",
                    f"Its {spec} is {{{spec_fact.fact_id}}}.",
                    f"The {name} comes in {rng.choice(['black', 'white', 'slate', 'sand'])} "
                    f"and ships with a quick-start guide.",
                ],
            )
    for kind, table in (("policy", POLICIES), ("support", SUPPORT)):
        for key, title, subject, sentence, unit, values in table:
            doc_id = f"{kind}/{key}"
            fact = Fact(doc_id, doc_id, unit, values, FACT_TRAIN, FACT_TEST, {"subject": subject, "company": COMPANY})
            facts.append(fact)
            documents[doc_id] = (title, [f"{COMPANY} {title.lower()}.", sentence.replace("{v}", f"{{{fact.fact_id}}}")])
    products = [documents[doc_id][0] for doc_id in documents if doc_id.startswith("product/")]
    for topic in FILLER_TOPICS:  # distractors: no question's gold document
        slug = topic.lower().replace(" ", "-")
        documents[f"article/{slug}"] = (
            topic,
            [
                f"{topic} applies to devices such as the {rng.choice(products)}.",
                f"Most customers need about {rng.randint(2, 15)} minutes for this.",
                f"Contact {COMPANY} support if anything is unclear.",
            ],
        )
        documents[f"article/{slug}-faq"] = (
            f"{topic}: FAQ",
            [
                f"Frequently asked questions about {topic.lower()} at {COMPANY}, "
                f"with tips for the {rng.choice(products)}."
            ],
        )
    for fact in facts:
        fact.v1 = rng.choice(fact.values)
    return facts, documents


def _change(facts: list[Fact], share: float, rng: random.Random) -> None:
    """Give exactly round(share × facts) facts a different v2 value; the rest keep theirs."""
    changed = set(rng.sample(range(len(facts)), round(share * len(facts))))
    for index, fact in enumerate(facts):
        fact.v2 = rng.choice([value for value in fact.values if value != fact.v1]) if index in changed else fact.v1


def _lines(records: list[dict]) -> str:
    return "".join(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n" for record in records)


def _snapshot(facts: list[Fact], documents: dict[str, tuple[str, list[str]]], version: str, rng: random.Random) -> dict:
    """File name -> content of one snapshot. Question wording is drawn from `rng` identically in v1 and v2."""
    values = {fact.fact_id: fact.answer(getattr(fact, version)) for fact in facts}
    corpus = [
        {"id": doc_id, "title": title, "text": " ".join(sentences).format_map(values)}
        for doc_id, (title, sentences) in documents.items()
    ]
    train, test = [], []
    for number, fact in enumerate(facts):
        answer = values[fact.fact_id]
        answers = sorted({answer, getattr(fact, version)})
        common = {
            "answers": answers,
            "gold_doc_ids": [fact.doc_id],
            "fact_id": fact.fact_id,
            "changed": fact.v1 != fact.v2,
        }
        count = 3 if number % 2 == 0 else 2
        for index, template in enumerate(rng.sample(fact.train_templates, count)):
            question = template.format(**fact.fields)
            train.append({"id": f"{fact.fact_id}/train-{index}", "question": question, **common})
        question = rng.choice(fact.test_templates).format(**fact.fields)
        test.append({"id": f"{fact.fact_id}/test", "question": question, **common})
    facts_table = [
        {"fact_id": f.fact_id, "doc_id": f.doc_id, "v1": f.answer(f.v1), "v2": f.answer(f.v2), "changed": f.v1 != f.v2}
        for f in facts
    ]
    n_changed = sum(f.v1 != f.v2 for f in facts)
    spec = (
        f"# company-kb {version}: synthetic company knowledge base ({len(facts)} facts, {n_changed} changed in v2).\n"
        "# Generated by datasets/company-kb/generate.py; do not edit by hand.\n"
        'test = "test.jsonl"\ntrain = "train.jsonl"\ncorpus = "corpus.jsonl"\ncard = "../company-kb/README.md"\n'
        'columns = {gold_doc_ids = "gold_doc_ids", metadata = ["fact_id", "changed"]}\n'
    )
    return {
        "corpus.jsonl": _lines(corpus),
        "train.jsonl": _lines(train),
        "test.jsonl": _lines(test),
        "facts.jsonl": _lines(facts_table),
        "dataset.toml": spec,
    }


def generate(out: Path, seed: int = 0, changed_share: float = 0.3) -> dict[str, Path]:
    """Write both snapshots under `out` (`company-kb-v1/`, `company-kb-v2/`); returns their folders."""
    rng = random.Random(seed)
    facts, documents = _build(rng)
    _change(facts, changed_share, rng)
    folders = {}
    for version in ("v1", "v2"):
        folder = out / f"company-kb-{version}"
        folder.mkdir(parents=True, exist_ok=True)
        for name, content in _snapshot(facts, documents, version, random.Random(f"{seed}-questions")).items():
            (folder / name).write_text(content, encoding="utf-8")
        folders[version] = folder
    return folders


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent, help="datasets folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--changed-share", type=float, default=0.3, help="share of facts that change in v2")
    args = parser.parse_args()
    for version, folder in generate(args.out, args.seed, args.changed_share).items():
        print(f"{version}: {folder}")


if __name__ == "__main__":
    main()

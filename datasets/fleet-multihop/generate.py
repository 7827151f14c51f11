"""Generate `fleet-multihop`: a small synthetic multi-passage QA set about a fictional shipping fleet.

Shaped unlike squad-mini and company-kb: every question needs **two** documents (a vessel's page and its
captain's or home port's page, or two vessels' pages), its acceptable answers are **nested lists** of
alternatives (as RGB ships them; the harness flattens them), and there is **no train split** (a test set
and a corpus only, so fine-tuning strategies are refused before any work).

Writes `corpus.jsonl`, `test.jsonl` and `dataset.toml` next to this script (or to `--out`). Deterministic:
a seeded `random.Random`, no network, no model; running it twice writes identical bytes. Usage (from the
repository root):

    .venv/bin/python datasets/fleet-multihop/generate.py [--out DIR] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import random
from dataclasses import dataclass
from pathlib import Path

FLEET = "Greyhaven Maritime"
VESSELS = [
    "Albatross Reach",
    "Brine Lantern",
    "Cormorant Dawn",
    "Driftwood Crown",
    "Ember Tide",
    "Fathom Wren",
    "Gale Sparrow",
    "Harbour Finch",
    "Iron Petrel",
    "Juniper Swell",
    "Kelp Meridian",
    "Lumen Tern",
]
RETIRED = ["Marlin Hollow", "Nettle Spray", "Osprey Vale", "Pebble Shoal", "Quill Mariner", "Russet Gull"]
TYPES = ["trawler", "ferry", "tugboat", "research vessel", "cargo ship", "icebreaker", "cable layer", "supply ship"]
YARDS = ["Kelby Yard", "Orrin Docks", "Saltmere Works", "Tallow Bay Shipbuilders"]
FIRST_NAMES = [
    "Ines",
    "Tobias",
    "Mirela",
    "Augustin",
    "Sunniva",
    "Caspar",
    "Hedda",
    "Lorcan",
    "Yelena",
    "Bastian",
    "Odile",
    "Matthias",
    "Ferelith",
    "Anselm",
    "Rosalind",
    "Emrys",
    "Thessaly",
    "Dorian",
]
SURNAMES = [
    "Calloway",
    "Vantongeren",
    "Ashgrove",
    "Pellucid",
    "Marrow",
    "Quennell",
    "Strand",
    "Oakhurst",
    "Brannagh",
    "Thistlewood",
    "Ravel",
    "Winterbourne",
    "Galloway",
    "Fenwick",
    "Harrowgate",
    "Lisle",
    "Merriweather",
    "Coldwell",
]
HARBOUR_MASTERS = [
    "Wilhelmina Ostrander",
    "Perpetua Vance",
    "Gideon Alcott",
    "Signe Holloway",
    "Cuthbert Rennick",
    "Marisol Dray",
]
BIRTHPLACES = ["Port Ardent", "Hollin", "Crestwick", "Lowmarsh", "Saint Verity", "Dunmere", "Elderholt"]
# port: (region, short region name)
PORTS: dict[str, tuple[str, str]] = {
    "Maren": ("Skerrin Coast", "Skerrin"),
    "Caldwick": ("Brannock Firth", "Brannock"),
    "Sollis": ("Amberlee Shore", "Amberlee"),
    "Vardholm": ("Northreach Isles", "Northreach"),
    "Tessaly Quay": ("Corran Peninsula", "Corran"),
    "Oldmoor": ("Wester Sound", "Wester"),
}


@dataclass(frozen=True)
class Vessel:
    name: str
    kind: str
    built: int
    yard: str
    captain: str
    port: str

    @property
    def doc_id(self) -> str:
        return "vessel/" + slug(self.name)


@dataclass(frozen=True)
class Captain:
    name: str
    joined: int
    born: str

    @property
    def doc_id(self) -> str:
        return "captain/" + slug(self.name)


def slug(text: str) -> str:
    return text.lower().replace(" ", "-")


def port_doc_id(port: str) -> str:
    return "port/" + slug(port)


def generate(seed: int) -> tuple[list[dict], list[dict]]:
    """The corpus and the test questions."""
    rng = random.Random(seed)
    names = [f"{first} {last}" for first, last in zip(FIRST_NAMES, rng.sample(SURNAMES, len(SURNAMES)), strict=True)]
    active_names, retired_names = names[: len(VESSELS)], names[len(VESSELS) :]
    built_years = rng.sample(range(1979, 2021), len(VESSELS) + len(RETIRED))
    join_years = rng.sample(range(1991, 2024), len(VESSELS))
    ports = list(PORTS)
    harbour_masters = dict(zip(ports, rng.sample(HARBOUR_MASTERS, len(ports)), strict=True))
    captains = [
        Captain(name=name, joined=year, born=rng.choice(BIRTHPLACES))
        for name, year in zip(active_names, join_years, strict=True)
    ]
    vessels = [
        Vessel(
            name=name,
            kind=rng.choice(TYPES),
            built=built_years[index],
            yard=rng.choice(YARDS),
            captain=captains[index].name,
            port=ports[index % len(ports)],
        )
        for index, name in enumerate(VESSELS)
    ]
    corpus = [_vessel_doc(vessel) for vessel in vessels]
    corpus += [_captain_doc(captain) for captain in captains]
    corpus += [_port_doc(port, harbour_masters[port]) for port in ports]
    for index, name in enumerate(RETIRED):  # distractors: vessel pages no question needs
        retired = Vessel(
            name=name,
            kind=rng.choice(TYPES),
            built=built_years[len(VESSELS) + index],
            yard=rng.choice(YARDS),
            captain=retired_names[index],
            port=rng.choice(ports),
        )
        document = _vessel_doc(retired)
        document["text"] += f" The {name} was retired from the {FLEET} fleet and sold for scrap."
        corpus.append(document)
    questions = []
    by_captain = {captain.name: captain for captain in captains}
    for index, vessel in enumerate(vessels):
        captain = by_captain[vessel.captain]
        region, short = PORTS[vessel.port]
        master = harbour_masters[vessel.port]
        other = vessels[(index + 1) % len(vessels)]
        older = vessel if vessel.built < other.built else other
        questions += [
            _question(
                vessel,
                "region",
                f"In which region is the home port of the {vessel.name}?",
                [[region, f"the {region}"], [short]],
                [vessel.doc_id, port_doc_id(vessel.port)],
            ),
            _question(
                vessel,
                "captain-joined",
                f"In what year did the captain of the {vessel.name} join the {FLEET} fleet?",
                [[str(captain.joined)], [f"in {captain.joined}"]],
                [vessel.doc_id, captain.doc_id],
            ),
            _question(
                vessel,
                "harbour-master",
                f"Who is the harbour master of the port where the ship captained by {captain.name} is registered?",
                [[master, f"Harbour Master {master}"], [master.split()[-1]]],
                [vessel.doc_id, port_doc_id(vessel.port)],
            ),
            _question(
                vessel,
                "older",
                f"Which was built first, the {vessel.name} or the {other.name}?",
                [[older.name, f"the {older.name}"]],
                [vessel.doc_id, other.doc_id],
            ),
        ]
    return corpus, questions


def _vessel_doc(vessel: Vessel) -> dict:
    text = (
        f"The {vessel.name} is a {vessel.kind} of the {FLEET} fleet, built in {vessel.built} at {vessel.yard}. "
        f"She is commanded by Captain {vessel.captain} and registered at the port of {vessel.port}."
    )
    return {"id": vessel.doc_id, "title": vessel.name, "text": text}


def _captain_doc(captain: Captain) -> dict:
    text = (
        f"Captain {captain.name} was born in {captain.born}. {captain.name.split()[0]} joined the {FLEET} fleet "
        f"in {captain.joined} after training as a navigation officer."
    )
    return {"id": captain.doc_id, "title": f"Captain {captain.name}", "text": text}


def _port_doc(port: str, master: str) -> dict:
    region, _ = PORTS[port]
    text = (
        f"The port of {port} lies on the {region}. Its harbour master is {master}, who oversees berthing and "
        f"pilotage for every ship registered there."
    )
    return {"id": port_doc_id(port), "title": f"Port of {port}", "text": text}


def _question(vessel: Vessel, kind: str, question: str, answers: list[list[str]], gold: list[str]) -> dict:
    return {
        "id": f"{slug(vessel.name)}/{kind}",
        "question": question,
        "answers": answers,
        "gold_doc_ids": gold,
        "vessel": slug(vessel.name),
        "kind": kind,
    }


DATASET_TOML = """# fleet-multihop: synthetic fleet records; every question needs two documents; no train split.
# Generated by datasets/fleet-multihop/generate.py; do not edit by hand.
test = "test.jsonl"
corpus = "corpus.jsonl"
card = "README.md"
columns = {gold_doc_ids = "gold_doc_ids", cluster = "vessel", metadata = ["kind"]}
"""


def write(out: Path, seed: int) -> None:
    corpus, questions = generate(seed)
    out.mkdir(parents=True, exist_ok=True)
    for name, rows in (("corpus.jsonl", corpus), ("test.jsonl", questions)):
        lines = [json.dumps(row, ensure_ascii=False) for row in rows]
        (out / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    (out / "dataset.toml").write_text(DATASET_TOML, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    write(args.out, args.seed)


if __name__ == "__main__":
    main()

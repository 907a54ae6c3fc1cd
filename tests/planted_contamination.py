"""A planted contamination corpus made from a benchmark's own questions, and the figures it gives.

    python -m tests.planted_contamination [BENCHMARK.json] [--clean OTHER.json]   # prints the table

Every question of the benchmark file (BFCL rows: `question` user turns) is planted six ways, each a record
of its own: `whole` (the question alone), `in_conversation` (the second user turn, after a greeting and an
unrelated exchange), `in_tool_result` (inside a JSON tool result), `changed_number` (one number changed;
questions with a number only), `changed_name` (one capitalised name changed; questions with one only) and
`paraphrased` (a polite opening, one word swapped for a synonym, a thank-you); and `answer_call`, an
unrelated request answered by the row's ground-truth call (from `possible_answer/`). Clean records share the
benchmark's common phrases without being its questions: `clean_phrases` (the first four words of a question,
then an unrelated request, and everyday requests such as "what is the weather in ...") and, with `--clean`,
`clean_other` (the user questions of another benchmark file, those equal to a benchmark question left out),
and `clean_call`: the answer's function called with other values.
Seeded: the same corpus every time.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

PLANTED = ("whole", "in_conversation", "in_tool_result", "changed_number", "changed_name", "paraphrased",
           "answer_call")
CLEAN = ("clean_phrases", "clean_other", "clean_call")
_SYNONYMS = {"find": "determine", "calculate": "compute", "what": "which", "get": "fetch", "show": "display",
             "give": "provide", "the": "that", "of": "for", "in": "within", "with": "using", "and": "plus"}
_NAMES = ("Zanzibar", "Quillon", "Marisol", "Tobruk", "Evander", "Ravenna", "Okonkwo", "Belgravia")
_OPENINGS = ("Could you please", "Hey, can you", "I need you to", "Please")
_CITIES = ("Lisbon", "Nairobi", "Osaka", "Quito", "Tbilisi", "Perth", "Oslo", "Lima")
_EVERYDAY = ("What is the weather in {city} this weekend? I want to plan a picnic with my kids.",
             "What is the capital of the country where {city} is? My quiz team argued about it.",
             "Find the nearest pharmacy to my hotel in {city}, I lost my allergy tablets.",
             "Calculate how much I spent on coffee this month if I buy two a day in {city}.",
             "How many hours is the flight from {city} to Paris, roughly?",
             "Can you tell me the time difference between {city} and New York?")


def questions(path: Path) -> list[tuple[str, str]]:
    """(id, first user turn) of each BFCL row of `path`."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        turns = row["question"]
        first = turns[0] if isinstance(turns[0], list) else turns
        user = next((m["content"] for m in first if m.get("role") == "user"), None)
        if user:
            out.append((str(row["id"]), user))
    return out


def answer_calls(bench: Path) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """Each row's answer calls, from `possible_answer/` beside `bench`: the first acceptable value of every
    argument (the ones BFCL leaves optional left out)."""
    path = bench.parent / "possible_answer" / bench.name
    out: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    if not path.exists():
        return out
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        for call in row.get("ground_truth") or ():
            if isinstance(call, dict) and len(call) == 1:
                (name, params), = call.items()
                args = {k: v[0] for k, v in (params or {}).items() if isinstance(v, list) and v and v[0] != ""}
                if args:
                    out.setdefault(str(row["id"]), []).append((name, args))
    return out


def _other_value(v: Any) -> Any:
    """Another value of the same type: what a record calling the same tool for its own question passes."""
    if isinstance(v, bool):
        return not v
    if isinstance(v, int | float):
        return v + 7
    if isinstance(v, str):
        return v + " Annex"
    return v


def _record(rid: str, *messages: tuple[str, str]) -> dict[str, Any]:
    return {"id": rid, "messages": [{"role": r, "content": c} for r, c in messages]}


def change_number(q: str, rng: random.Random) -> str | None:
    """`q` with one of its numbers replaced by another, or None without a number."""
    found = list(re.finditer(r"\d+", q))
    if not found:
        return None
    m = rng.choice(found)
    old = int(m.group())
    new = old + rng.randint(1, 9)
    return q[:m.start()] + str(new) + q[m.end():]


def change_name(q: str, rng: random.Random) -> str | None:
    """`q` with one capitalised word (not its first) replaced by an unrelated name, or None without one."""
    found = [m for m in re.finditer(r"\b[A-Z][a-z]{2,}\b", q) if m.start() > 0]
    if not found:
        return None
    m = rng.choice(found)
    return q[:m.start()] + rng.choice(_NAMES) + q[m.end():]


def paraphrase(q: str, rng: random.Random) -> str:
    """A light paraphrase: a polite opening, one word swapped for a synonym, a thank-you."""
    words = q.split()
    swappable = [k for k, w in enumerate(words) if w.lower() in _SYNONYMS]
    for k in rng.sample(swappable, min(1, len(swappable))):
        words[k] = _SYNONYMS[words[k].lower()]
    text = " ".join(words)
    return f"{rng.choice(_OPENINGS)} {text[0].lower()}{text[1:]} Thanks a lot!"


def planted_corpus(bench: Path, clean: Path | None = None, seed: int = 0) -> list[tuple[dict[str, Any], str, str]]:
    """(record, kind, benchmark id or "") for every planted and clean record; see the module docstring."""
    rng = random.Random(seed)
    qs = questions(bench)
    out: list[tuple[dict[str, Any], str, str]] = []
    for qid, q in qs:
        out.append((_record(f"whole-{qid}", ("user", q), ("assistant", "Let me work that out.")), "whole", qid))
        out.append((_record(f"conv-{qid}", ("user", "Hi there! How are you today?"),
                            ("assistant", "I'm doing well, thanks for asking. How can I help?"),
                            ("user", "First, what's a good name for a goldfish?"),
                            ("assistant", "How about Bubbles?"), ("user", q), ("assistant", "Sure, one moment.")),
                    "in_conversation", qid))
        out.append((_record(f"tool-{qid}", ("user", "Open the latest support ticket and answer it."),
                            ("assistant", '<tool_call>\n{"name": "get_ticket", "arguments": {"latest": true}}\n'
                                          "</tool_call>"),
                            ("tool", json.dumps({"ticket": 4411, "from": "customer", "body": q})),
                            ("assistant", "The customer asks a question; I'll handle it.")), "in_tool_result", qid))
        for kind, changed in (("changed_number", change_number(q, rng)), ("changed_name", change_name(q, rng))):
            if changed is not None:
                out.append((_record(f"{kind}-{qid}", ("user", changed), ("assistant", "Working on it.")), kind, qid))
        out.append((_record(f"para-{qid}", ("user", paraphrase(q, rng)), ("assistant", "Of course.")),
                    "paraphrased", qid))
    answers = answer_calls(bench)
    for qid, _ in qs:
        for k, (name, args) in enumerate(answers.get(qid, [])[:1]):
            call = json.dumps({"name": name, "arguments": args}, ensure_ascii=False)
            out.append((_record(f"call-{qid}-{k}", ("user", "Run the usual request from this morning again."),
                                ("assistant", f"<tool_call>\n{call}\n</tool_call>")), "answer_call", qid))
            other = {a: _other_value(v) for a, v in args.items()}
            if other != args:
                call = json.dumps({"name": name, "arguments": other}, ensure_ascii=False)
                out.append((_record(f"othercall-{qid}-{k}", ("user", "Run it with my own values this time."),
                                    ("assistant", f"<tool_call>\n{call}\n</tool_call>")), "clean_call", ""))
    for k, (_, q) in enumerate(qs):
        opening = " ".join(re.findall(r"\w+", q)[:4])
        out.append((_record(f"phrase-{k}", ("user", f"{opening} the ideas in my notes from yesterday's team meeting "
                                                     "and write them up as a short list for the newsletter."),
                            ("assistant", "Here is the list.")), "clean_phrases", ""))
        text = rng.choice(_EVERYDAY).format(city=rng.choice(_CITIES))
        out.append((_record(f"everyday-{k}", ("user", text), ("assistant", "Let me check.")), "clean_phrases", ""))
    if clean is not None:
        seen = {" ".join(q.casefold().split()) for _, q in qs}
        for qid, q in questions(clean):
            if " ".join(q.casefold().split()) not in seen:
                out.append((_record(f"other-{qid}", ("user", q), ("assistant", "Okay.")), "clean_other", ""))
    return out


def figures(bench: Path, clean: Path | None = None, cfg: Any = None) -> dict[str, tuple[int, int, Counter[str]]]:
    """Per kind: (records, matched, matched by method) with `BenchmarkIndex` on the planted corpus."""
    from curate.dedup.decontamination import BenchmarkIndex, DecontamConfig, read_benchmark
    from curate.records import Trajectory

    cfg = cfg or DecontamConfig()
    benchmark, _ = read_benchmark([bench], [str(bench)], cfg, 1 << 24)
    index = BenchmarkIndex(benchmark)
    corpus = planted_corpus(bench, clean)
    matches = index.match([Trajectory.model_validate(r) for r, _, _ in corpus])
    out: dict[str, tuple[int, int, Counter[str]]] = {}
    for (_, kind, _), m in zip(corpus, matches, strict=True):
        n, hit, by = out.get(kind, (0, 0, Counter()))
        if m is not None:
            by[m.method] += 1
        out[kind] = (n + 1, hit + (m is not None), by)
    return out


def main(argv: list[str] | None = None) -> int:
    here = Path(__file__).resolve().parent.parent.parent / "shared" / "real" / "bfcl"
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("bench", nargs="?", type=Path, default=here / "BFCL_v4_simple_python.json")
    p.add_argument("--clean", type=Path, default=here / "BFCL_v4_live_simple.json")
    args = p.parse_args(argv)
    print("| kind | records | matched | share | by method |\n|---|---|---|---|---|")
    for kind, (n, hit, by) in figures(args.bench, args.clean).items():
        methods = ", ".join(f"{k} {v}" for k, v in sorted(by.items())) or "—"
        print(f"| {kind} | {n} | {hit} | {hit / n:.3f} | {methods} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

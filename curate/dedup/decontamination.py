"""Decontamination: the training records holding a benchmark item in any of their turns.

A benchmark (`Benchmark`, read from any files the readers take by `read_benchmark`) is a list of items, one
per turn of its records in `[decontaminate] roles` (user turns by default: BFCL rows have only user turns
besides their answers), each normalised as the dedup normalises (`normalise_text`: NFKC, case-folded,
whitespace collapsed; words are `\\w+`, so punctuation is dropped), and the tool calls of its answers (BFCL's
`possible_answer` lists of acceptable values, read from beside the data file, or the calls its records make).
`BenchmarkIndex` indexes them once; `BenchmarkIndex.match` then checks every turn of every training record
(system, user, assistant and tool turns alike: a question pasted into a tool result counts) four ways:

1. **n-gram** (the GPT-3 / lm-eval-harness 13-gram test, per turn): the turn's word `ngram`-grams cover at
   least `coverage` of an item's distinct n-grams. An item shorter than `ngram` words matches when it lies whole
   inside the turn (at least `min_words` words), or, shorter still (3 words or more), when it is the whole turn.
2. **near copy**: the Jaccard similarity of the turn's and the item's word `near_shingle`-grams, with every
   number the same word (so a changed number changes nothing), is at least `near_threshold`; items and turns
   of `min_words` words or more. Computed exactly on the shingles: an inverted index of the items' shingles
   gives the candidates, and a turn is only looked at when enough of its shingles are benchmark shingles
   for its Jaccard to reach the threshold at all (`|A ∩ B| >= t |A|`).
3. **tool call**: an assistant call with a benchmark call's name and, for every argument, a value the answer
   accepts (every required one given, at least one argument).

A record's match (`Contamination`) is its best: n-gram before near copy before tool call, then the largest
overlap. Per record the work is linear in its text (a few numpy passes per batch of records); `curate build`
computes it in the worker facts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from curate.config import ConfigSection
from curate.dedup.errors import DedupError
from curate.dedup.ngrams import Postings, Vocabulary, WordRuns, window_hashes, word_id
from curate.dedup.normalise import _turns, _word_bytes, normalise_text
from curate.records import Role, Trajectory

ALL_ROLES: tuple[Role, ...] = ("system", "user", "assistant", "tool")
WHOLE_TURN_MIN = 3
"""Items of fewer words are not indexed at all ("version", "id 3726": any chat holds them)."""
Method = Literal["ngram", "near_copy", "tool_call"]
METHODS: tuple[Method, ...] = ("ngram", "near_copy", "tool_call")
_PREFILTER_SLACK = 0.8
"""A turn is looked at for near copies when this share of the bound holds over its windows (repeats make window
counts differ a little from distinct shingles)."""


class DecontamConfig(ConfigSection):
    """How training records are checked against benchmarks (`curate build --decontaminate`, `curate decontam`)."""

    ngram: int = Field(13, ge=3, le=64, description="words per n-gram (GPT-3 and lm-eval-harness: 13)")
    coverage: float = Field(0.5, gt=0.0, le=1.0,
                            description="share of an item's distinct n-grams one turn must hold")
    min_words: int = Field(5, ge=3, le=64, description="items shorter than `ngram` words match as a substring "
                           "from this many words, below it only as the whole turn")
    near: bool = True
    near_min_words: int = Field(8, ge=3, le=64, description="words a turn and an item need for a near copy")
    near_shingle: int = Field(3, ge=1, le=16, description="words per shingle of the near-copy Jaccard")
    near_threshold: float = Field(0.5, gt=0.0, le=1.0, description="Jaccard (numbers masked) of a near copy")
    tool_calls: bool = Field(True, description="an assistant call equal to a benchmark answer's call matches")
    roles: list[Role] = Field(default_factory=lambda: ["user"], description="benchmark turns indexed")
    mode: Literal["drop", "flag"] = Field("drop", description="drop a matching record, or keep it marked")


class BenchmarkItem(BaseModel):
    """One turn of a benchmark record: its file (index), record id, message index and normalised text."""

    model_config = ConfigDict(frozen=True)
    file: int
    id: str | None
    turn: int
    text: str


class BenchmarkCall(BaseModel):
    """One call of a benchmark answer: each argument with its acceptable values (`""` among them: may be left
    out, as BFCL's `possible_answer` writes them)."""

    model_config = ConfigDict(frozen=True)
    file: int
    id: str | None
    turn: int
    name: str
    arguments: dict[str, list[Any]]


class Benchmark(BaseModel):
    """What training records are checked against: the settings, the files, their items and answer calls."""

    model_config = ConfigDict(frozen=True)
    config: DecontamConfig
    files: list[str]
    items: list[BenchmarkItem]
    calls: list[BenchmarkCall]


@dataclass(frozen=True)
class BenchmarkFileCounts:
    """What one benchmark file gave: records read, unreadable, items indexed, items too short, answer calls."""

    records: int
    unreadable: int
    items: int
    too_short: int
    calls: int


@dataclass(frozen=True)
class Contamination:
    """A training record's match: how (`method`), which item (`index` into `Benchmark.items`, or into
    `Benchmark.calls` for a tool call), the record's message (`turn`) and the overlap (n-gram coverage,
    Jaccard, or 1.0 for a call)."""

    method: Method
    index: int
    turn: int
    overlap: float

    def rank(self) -> tuple[int, float, int, int]:
        return METHODS.index(self.method), -self.overlap, self.turn, self.index

    def to_json(self) -> str:
        return json.dumps([self.method, self.index, self.turn, round(self.overlap, 6)])

    @staticmethod
    def from_json(text: str) -> Contamination:
        method, index, turn, overlap = json.loads(text)
        return Contamination(method, index, turn, overlap)


_JSON_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")


def _unescape(m: re.Match[str]) -> str:
    c = chr(int(m.group(1), 16))
    return " " if 0xD800 <= ord(c) <= 0xDFFF else c  # half a surrogate pair is no character


def turn_words(traj: Trajectory, roles: Sequence[Role] = ALL_ROLES) -> list[tuple[int, Role, list[bytes]]]:
    """(message index, role, normalised words) of each turn of `roles`, calls rendered as the dedup renders
    them (`conversation_text`), JSON `\\uXXXX` escapes read as their characters (a tool result written with
    ASCII escapes holds the same words as the question it quotes)."""
    out = []
    wanted = frozenset(roles)
    for k, (role, body) in enumerate(_turns(traj, ALL_ROLES, False)):
        if role in wanted:
            if "\\u" in body:
                body = _JSON_ESCAPE.sub(_unescape, body)
            out.append((k, role, _word_bytes(normalise_text(body))))  # type: ignore[arg-type]
    return out


# --- reading benchmarks ---------------------------------------------------------------------------------


def read_benchmark(paths: Sequence[Path], names: Sequence[str], cfg: DecontamConfig,
                   max_record_bytes: int) -> tuple[Benchmark, list[BenchmarkFileCounts]]:
    """The items and answer calls of the benchmark files `paths` (shown as `names`), read as any input is.

    Raises `DedupError` naming the file when one cannot be read, or holds records of which none is readable;
    an empty file gives no items (the caller warns)."""
    from curate.readers import ReadError, RecordReader
    from curate.readers.shapes.bfcl import answers_beside
    from curate.toolcalls import parse_message_calls

    reader = RecordReader(max_record_bytes)
    items: list[BenchmarkItem] = []
    calls: list[BenchmarkCall] = []
    counts: list[BenchmarkFileCounts] = []
    answers: dict[str, dict[str, Any]] = {}
    for f, (path, name) in enumerate(zip(paths, names, strict=True)):
        records = unreadable = n_items = short = n_calls = 0
        try:
            for result in reader.read(path):
                records += 1
                record = result.record
                if record is None:
                    unreadable += 1
                    continue
                for k, _role, words in turn_words(record, cfg.roles):
                    if len(words) < WHOLE_TURN_MIN:
                        short += 1
                        continue
                    items.append(BenchmarkItem(file=f, id=record.id, turn=k, text=" ".join(
                        w.decode("utf-8") for w in words)))
                    n_items += 1
                if not cfg.tool_calls:
                    continue
                raw = result.raw
                data = raw.data if raw.error is None else None
                truth = None
                if isinstance(data, dict) and data.get("id") is not None and raw.path:
                    if raw.path not in answers:  # BFCL's possible_answer/ beside the data file, if there
                        answers[raw.path] = answers_beside(Path(raw.path))
                    truth = answers[raw.path].get(str(data["id"]))
                last = max((k for k, m in enumerate(record.messages) if m.role == "assistant"), default=-1)
                if _single_turn_truth(truth) and last >= 0:
                    for call in truth:
                        (fname, params), = call.items()
                        if params:
                            calls.append(BenchmarkCall(file=f, id=record.id, turn=last, name=fname, arguments={
                                str(k): (v if isinstance(v, list) else [v]) for k, v in params.items()}))
                            n_calls += 1
                    continue
                for k, m in enumerate(record.messages):
                    if m.role != "assistant":
                        continue
                    for c in parse_message_calls(m, k):
                        if c.error is None and c.name and c.arguments:
                            calls.append(BenchmarkCall(file=f, id=record.id, turn=k, name=c.name,
                                                       arguments={a: [v] for a, v in c.arguments.items()}))
                            n_calls += 1
        except (ReadError, OSError) as e:
            raise DedupError(f"{name}: cannot read this benchmark file ({e}); check the path and format") from None
        if records and unreadable == records:
            raise DedupError(f"{name}: none of its {records} records is readable; give a file the readers take "
                             "(run `curate lint` on it to see why)")
        counts.append(BenchmarkFileCounts(records, unreadable, n_items, short, n_calls))
    return Benchmark(config=cfg, files=list(names), items=items, calls=calls), counts


def _single_turn_truth(truth: Any) -> bool:
    """BFCL's single-turn answer shape: a list of `{function_name: {param: [acceptable values]}}`."""
    return isinstance(truth, list) and bool(truth) and all(
        isinstance(c, dict) and len(c) == 1 and isinstance(next(iter(c.values())), dict | None) for c in truth)


# --- matching -------------------------------------------------------------------------------------------


def _canon(value: Any) -> Any:
    """A value as calls are compared: integral floats as integers, strings case-folded and stripped."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        return value.casefold().strip()
    if isinstance(value, list):
        return [_canon(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _canon(v) for k, v in value.items()}
    return value


def _key(value: Any) -> str:
    return json.dumps(_canon(value), sort_keys=True, ensure_ascii=False)


class _AllowedCall:
    """A benchmark call made ready to compare: each argument's acceptable values as keys, and which are
    required."""

    def __init__(self, call: BenchmarkCall) -> None:
        self.required = frozenset(k for k, vs in call.arguments.items() if "" not in vs)
        self.allowed = {k: [v for v in vs if v != ""] for k, vs in call.arguments.items()}
        self.keys = {k: {_key(v) for v in vs} for k, vs in self.allowed.items()}

    def accepts(self, arguments: dict[str, Any]) -> bool:
        if not arguments or not self.required <= arguments.keys():
            return False
        for k, value in arguments.items():
            if k not in self.allowed:
                return False
            if _key(value) not in self.keys[k] and not any(_nested_ok(value, v) for v in self.allowed[k]):
                return False
        return True


def _nested_ok(value: Any, allowed: Any) -> bool:
    """BFCL's nested answers: a dict of `{key: [acceptable values]}` (or a list of them) accepting `value`."""
    if isinstance(allowed, dict) and isinstance(value, dict) and all(isinstance(v, list) for v in allowed.values()):
        if not {k for k, vs in allowed.items() if "" not in vs} <= value.keys():
            return False
        return all(k in allowed and (_key(v) in {_key(a) for a in allowed[k]}
                                     or any(_nested_ok(v, a) for a in allowed[k])) for k, v in value.items())
    if isinstance(allowed, list) and isinstance(value, list) and len(allowed) == len(value):
        return all(_key(v) == _key(a) or _nested_ok(v, a) for v, a in zip(value, allowed, strict=True))
    return False


class BenchmarkIndex:
    """A `Benchmark` indexed once (n-grams, substrings, whole turns, near-copy shingles, calls by name);
    `match` checks a batch of training records against it."""

    def __init__(self, bench: Benchmark) -> None:
        cfg = self.cfg = bench.config
        self.bench = bench
        words = [t.text.encode("utf-8").split() for t in bench.items]
        names = [_word_bytes(normalise_text(c.name)) for c in bench.calls] if cfg.tool_calls else []
        self.vocab = Vocabulary([*words, *names])
        self.call_word = np.zeros(len(self.vocab.ids), dtype=bool)
        """Word number → whether it is the longest word of an answer call's name: a turn without one is not
        parsed for calls."""
        for name in names:
            if name:
                self.call_word[self.vocab.number[max(name, key=len)]] = True
        runs = self.vocab.runs(words)
        self.item_runs = runs
        n_items = self.n_items = len(words)
        ids = self.vocab.ids[runs.words]
        lengths, starts, item_of_word = runs.lengths, runs.starts, runs.text_of()
        self.n = n = cfg.ngram
        self.m = m = min(cfg.min_words, n)
        h, pos = window_hashes(ids, runs, n)
        self.grams = Postings(h, item_of_word[pos])
        self.gram_count = np.bincount(self.grams.items, minlength=n_items)
        substring = (lengths >= m) & (lengths < n)
        h, pos = window_hashes(ids, runs, m)
        first = item_of_word[pos]
        keep = substring[first] & (pos == starts[first])
        self.anchors = Postings(h[keep], first[keep])
        self.whole: dict[tuple[int, ...], int] = {}
        for k in np.flatnonzero(lengths < m).tolist():
            self.whole.setdefault(tuple(runs.words[starts[k]:starts[k] + lengths[k]].tolist()), k)
        self.near: Postings | None = None
        if cfg.near:
            h, pos = window_hashes(self.vocab.masked[runs.words], runs, cfg.near_shingle)
            owner = item_of_word[pos]
            keep = lengths[owner] >= cfg.near_min_words
            self.near = Postings(h[keep], owner[keep])
            self.near_count = np.bincount(self.near.items, minlength=n_items)
        self.calls: dict[str, list[tuple[int, _AllowedCall]]] = {}
        if cfg.tool_calls:
            for k, call in enumerate(bench.calls):
                self.calls.setdefault(call.name, []).append((k, _AllowedCall(call)))

    def summary(self) -> dict[str, int]:
        """The index's size: items, distinct n-grams, substring items, whole-turn items, near-copy shingles,
        answer calls."""
        return {"items": self.n_items, "ngrams": len(self.grams), "substring_items": len(self.anchors),
                "whole_turn_items": len(self.whole), "near_shingles": len(self.near) if self.near else 0,
                "calls": sum(len(v) for v in self.calls.values())}

    def match(self, records: Sequence[Trajectory]) -> list[Contamination | None]:
        """Each record's best match (see the module docstring), or None."""
        best: list[Contamination | None] = [None] * len(records)
        if not records or (not self.n_items and not self.calls):
            return best
        owner: list[int] = []
        turn: list[int] = []
        texts: list[list[bytes]] = []
        for r, record in enumerate(records):
            for k, _role, words in turn_words(record):
                owner.append(r)
                turn.append(k)
                texts.append(words)
        runs = self.vocab.runs(texts)
        text_of = runs.text_of()

        def found(t: int, c: Contamination) -> None:
            r = owner[t]
            current = best[r]
            if current is None or c.rank() < current.rank():
                best[r] = c

        if self.n_items:
            ids = self.vocab.ids[runs.words]
            self._ngrams(ids, runs, text_of, turn, found)
            self._substrings(ids, runs, text_of, turn, found)
            self._whole_turns(runs, turn, found)
            if self.near is not None:
                self._near_copies(runs, texts, text_of, turn, found)
        if self.calls:
            named = np.bincount(text_of, weights=self.call_word[runs.words], minlength=len(texts)) > 0
            self._tool_calls(records, named, found)
        return best

    def _ngrams(self, ids: np.ndarray, runs: WordRuns, text_of: np.ndarray, turn: list[int], found: Any) -> None:
        h, pos = window_hashes(ids, runs, self.n)
        key = self.grams.find(h)
        hit = key >= 0
        if not hit.any():
            return
        pairs = np.unique(np.stack([text_of[pos[hit]], key[hit]]), axis=1)  # distinct n-grams of each turn
        who, item = self.grams.expand(pairs[1])
        combined, counts = np.unique(pairs[0][who] * self.n_items + item, return_counts=True)
        t_of, item_of = np.divmod(combined, self.n_items)
        cover = counts / self.gram_count[item_of]
        for t, i, c in zip(t_of.tolist(), item_of.tolist(), cover.tolist(), strict=True):
            if c >= self.cfg.coverage:
                found(t, Contamination("ngram", i, turn[t], min(c, 1.0)))

    def _substrings(self, ids: np.ndarray, runs: WordRuns, text_of: np.ndarray, turn: list[int],
                    found: Any) -> None:
        if not len(self.anchors):
            return
        h, pos = window_hashes(ids, runs, self.m)
        key = self.anchors.find(h)
        hit = np.flatnonzero(key >= 0)
        if not len(hit):
            return
        who, item = self.anchors.expand(key[hit])
        ends = np.cumsum(runs.lengths)
        items = self.item_runs
        for p, i in zip(pos[hit][who].tolist(), item.tolist(), strict=True):
            t = int(text_of[p])
            size = int(items.lengths[i])
            start = int(items.starts[i])
            if p + size <= ends[t] and np.array_equal(runs.words[p:p + size], items.words[start:start + size]):
                found(t, Contamination("ngram", i, turn[t], 1.0))

    def _whole_turns(self, runs: WordRuns, turn: list[int], found: Any) -> None:
        if not self.whole:
            return
        starts = runs.starts
        for t in np.flatnonzero((runs.lengths >= WHOLE_TURN_MIN) & (runs.lengths < self.m)).tolist():
            item = self.whole.get(tuple(runs.words[starts[t]:starts[t] + runs.lengths[t]].tolist()))
            if item is not None:
                found(t, Contamination("ngram", item, turn[t], 1.0))

    def _near_copies(self, runs: WordRuns, texts: list[list[bytes]], text_of: np.ndarray, turn: list[int],
                     found: Any) -> None:
        assert self.near is not None
        k, threshold = self.cfg.near_shingle, self.cfg.near_threshold
        masked = self.vocab.masked[runs.words]
        h, pos = window_hashes(masked, runs, k)
        hits = np.bincount(text_of[pos[self.near.find(h) >= 0]], minlength=len(runs.lengths))
        windows = np.maximum(runs.lengths - k + 1, 1)
        candidates = np.flatnonzero((runs.lengths >= self.cfg.near_min_words)
                                    & (hits >= _PREFILTER_SLACK * threshold * windows))
        starts = runs.starts
        for t in candidates.tolist():
            s, size = int(starts[t]), int(runs.lengths[t])
            values = masked[s:s + size].copy()
            for j in np.flatnonzero(values == 0).tolist():  # words no item holds: distinct, never matching
                values[j] = word_id(b"\x00" + texts[t][j])
            one = WordRuns(np.zeros(size, dtype=np.int64), np.array([size], dtype=np.int64))
            shingles = np.unique(window_hashes(values, one, k)[0])
            key = self.near.find(shingles)
            key = key[key >= 0]
            if not len(key):
                continue
            _, item = self.near.expand(key)
            items, common = np.unique(item, return_counts=True)
            jaccard = common / (len(shingles) + self.near_count[items] - common)
            b = int(np.argmax(jaccard))
            if jaccard[b] >= threshold:
                found(t, Contamination("near_copy", int(items[b]), turn[t], float(jaccard[b])))

    def _tool_calls(self, records: Sequence[Trajectory], named: np.ndarray, found: Any) -> None:
        from curate.toolcalls import may_hold_calls, parse_message_calls

        t = 0
        for record in records:
            for k, m in enumerate(record.messages):
                if m.role == "assistant" and named[t + k] and may_hold_calls(m):
                    for c in parse_message_calls(m, k):
                        for index, allowed in self.calls.get(c.name or "", ()):
                            if c.error is None and c.arguments and allowed.accepts(c.arguments):
                                found(t + k, Contamination("tool_call", index, k, 1.0))
                                break
            t += len(record.messages)

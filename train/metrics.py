"""Generation metrics: the pass@k estimator, diversity of samples, and the per-bucket aggregates.

Pure Python (no torch), so every number the graduation report rests on can be tested by hand.
A metric that cannot be measured (no prompt of the kind it needs, fewer than two samples) is
`None` with the reason in `BucketMetrics.missing`, never a 0 that reads like a measured failure.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from `n` samples of which `c` pass: 1 − C(n−c, k) / C(n, k).

    Computed as the product 1 − ∏_{i=n−c+1}^{n} (1 − k/i) (Chen et al. 2021, the Codex paper),
    which never forms the binomials and so neither overflows nor loses precision for large n.
    Raises ValueError unless 0 ≤ c ≤ n and 1 ≤ k ≤ n.
    """
    if not (0 <= c <= n):
        raise ValueError(f"pass@k needs 0 <= c <= n, got n={n}, c={c}")
    if not (1 <= k <= n):
        raise ValueError(f"pass@k needs 1 <= k <= n, got n={n}, k={k}")
    if n - c < k:  # every k-subset holds a passing sample
        return 1.0
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


def pass_at_ks(n: int, c: int) -> dict[int, float]:
    """pass@k for every k = 1 … n (empty when there are no samples)."""
    return {k: pass_at_k(n, c, k) for k in range(1, n + 1)}


def unique_ratio(outputs: Sequence[str]) -> float | None:
    """Distinct outputs / outputs; None for fewer than two (one output is trivially "unique")."""
    if len(outputs) < 2:
        return None
    return len(set(outputs)) / len(outputs)


def pairwise_different_ratio(outputs: Sequence[str]) -> float | None:
    """Fraction of pairs of outputs that differ (ordered or unordered: the same fraction); None below two.

    Counted from the multiplicities of equal outputs, so it is linear in the number of samples.
    """
    n = len(outputs)
    if n < 2:
        return None
    same = sum(m * (m - 1) // 2 for m in Counter(outputs).values())
    return 1.0 - same / (n * (n - 1) // 2)


def distinct_n(outputs: Iterable[str], n: int) -> float | None:
    """Distinct n-grams / n-grams over whitespace tokens, pooled over the outputs (Li et al. 2016).

    n-grams do not cross from one output to the next. None when the outputs hold no n-gram at all
    (empty or too short outputs), since 0/0 is not a diversity of 0.
    """
    if n < 1:
        raise ValueError(f"distinct-n needs n >= 1, got {n}")
    seen: set[tuple[str, ...]] = set()
    total = 0
    for text in outputs:
        tokens = text.split()
        grams = [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
        total += len(grams)
        seen.update(grams)
    return len(seen) / total if total else None


@dataclass(frozen=True, slots=True)
class Diversity:
    """The diversity of the samples of one prompt."""

    unique_ratio: float | None
    pairwise_ratio: float | None
    distinct_1: float | None
    distinct_2: float | None


def diversity(outputs: Sequence[str]) -> Diversity:
    """All four diversity measures of the samples of one prompt."""
    return Diversity(unique_ratio(outputs), pairwise_different_ratio(outputs), distinct_n(outputs, 1),
                     distinct_n(outputs, 2))


def mean_or_none(values: Iterable[float | None]) -> float | None:
    """Mean of the measured values (None skipped); None when nothing was measured."""
    got = [v for v in values if v is not None]
    return sum(got) / len(got) if got else None


def mean_pass_at_k(per_prompt: Sequence[dict[int, float]]) -> dict[int, float]:
    """Mean pass@k over prompts, for the k every prompt has (prompts may differ in sample count)."""
    if not per_prompt:
        return {}
    ks = set.intersection(*(set(p) for p in per_prompt))
    return {k: sum(p[k] for p in per_prompt) / len(per_prompt) for k in sorted(ks)}


# --- the aggregates, as written to RUN/eval_report.json ---------------------------------------------


class GenerationExample(BaseModel):
    """One greedy output next to its reference, for people to read in the report."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(description="The eval record's id.")
    reference: str = Field(description="The reference assistant turn.")
    output: str = Field(description="The greedy output, up to the end-of-turn token.")
    format_ok: bool
    passed: bool = Field(description="Calls all match (reference with calls) or the answer matches (without).")
    problems: list[str] = Field(default_factory=list, description="What the scorer found wrong.")


class BucketMetrics(BaseModel):
    """Generation metrics of one capability bucket (or of all prompts: `GenerationEval.overall`).

    Accuracies are over greedy outputs; diversity and pass@k over the sampled outputs. Rates over
    calls (`parse_rate`, `schema_valid_rate`, `arg_match`) count calls; the others count prompts.
    """

    model_config = ConfigDict(extra="forbid")

    prompts: int = Field(description="Prompts generated for.")
    samples: int = Field(description="Sampled outputs in all (prompts × n).")
    prompts_with_calls: int = Field(0, description="Prompts whose reference turn holds tool calls.")
    format_accuracy: float | None = Field(
        None, description="Greedy outputs whose <think>/<tool_call> tags are balanced and in order and that end "
        "with the end-of-turn token.")
    stop_rate: float | None = Field(None, description="Greedy outputs that ended with the end-of-turn token.")
    parse_rate: float | None = Field(None, description="<tool_call> blocks of greedy outputs that parse.")
    schema_valid_rate: float | None = Field(
        None, description="Parsed calls whose tool exists and whose arguments validate against its schema.")
    tool_name_accuracy: float | None = Field(
        None, description="Prompts with reference calls whose greedy calls have the same names (as a multiset).")
    arg_match: float | None = Field(
        None, description="Reference calls matched by a greedy call, BFCL-style (name and arguments).")
    tool_call_accuracy: float | None = Field(
        None, description="Prompts with reference calls whose greedy calls all match, none extra, order-free.")
    answer_match: float | None = Field(
        None, description="Prompts without reference calls whose greedy answer matches after normalisation.")
    unique_ratio: float | None = None
    pairwise_ratio: float | None = None
    distinct_1: float | None = None
    distinct_2: float | None = None
    pass_at_k: dict[int, float] = Field(default_factory=dict, description="Mean unbiased pass@k over prompts.")
    missing: dict[str, str] = Field(default_factory=dict, description="Metric -> why it is null.")
    examples: list[GenerationExample] = Field(default_factory=list)

    def pass_at_max_k(self) -> float | None:
        """pass@k at the largest k measured (what the recommendation ranks by), None if none."""
        return self.pass_at_k[max(self.pass_at_k)] if self.pass_at_k else None


class GenerationSettings(BaseModel):
    """How the outputs were generated, so runs can be compared like with like."""

    model_config = ConfigDict(extra="forbid")

    prompts_per_bucket: int
    n_samples: int
    temperature: float
    max_new_tokens: int
    seed: int
    turns: str = Field(description="Which assistant turns were prompted for (`last` or `last_and_call`).")


class GenerationEval(BaseModel):
    """Generation metrics of one model (a checkpoint or the base), per bucket and over all prompts."""

    model_config = ConfigDict(extra="forbid")

    settings: GenerationSettings
    overall: BucketMetrics
    buckets: dict[str, BucketMetrics]

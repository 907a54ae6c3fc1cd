"""Configuration of `curate build` (and of `curate dedup` / `curate bucket`), as pydantic models.

A TOML file given with `--config`, every section optional, unknown keys an error:

    seed = 0
    num_proc = 2                  # 1 to 256
    max_record_bytes = 16777216   # longer records are not parsed: dropped as unreadable (RS001)

    [lint]
    keep_invalid = false          # keep records with error findings (dropped by default)

    [dedup]
    exact_roles = ["user", "assistant"]   # roles in the exact hash; system and tool specs left out
    near = true
    shingle = 5                   # word n-grams
    num_perm = 128
    threshold = 0.8
    roles = ["user", "assistant"] # roles in the near-dup text

    [buckets]
    # capability rules and their precedence; see curate/buckets.py for the defaults and the reasoning
    # precedence = ["error_recovery", "long_context", "refusal", "code", "math", "structured", "parallel",
    #               "multi_step", "single_call", "chat"]

    [length]
    edges = [256, 512, 1024, 2048]   # token counts, increasing, 1 to 2^31-1, at most 64;
                                     # or quantiles = [0.25, 0.5, 0.75] (at most 64)

    [mix]
    strategy = "temperature"      # none | uniform | proportions | temperature
    alpha = 0.5                   # temperature sampling: p ∝ n^alpha
    proportions = {}              # bucket -> share, summing to 1
    total = 0                     # records out after balancing; 0: see `fit`
    fit = "cap"                   # total = 0: cap big buckets at their share of all records ("cap"),
                                  # or keep exact shares set by the smallest bucket ("smallest")
    caps = {}                     # bucket -> max records
    floors = {}                   # bucket -> min records
    upsample = false              # copy records to reach a floor (copies are marked); then `total` and
                                  # the floors together are at most 10,000,000 (copies are made in memory)

    [split]
    eval_fraction = 0.1
    eval_min = 2                  # per bucket (when the bucket has enough clusters)
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    ValidationError,
    model_validator,
)

from curate.config import MAX_RECORD_BYTES, MIN_RECORD_BYTES, read_toml
from curate.readers import DEFAULT_MAX_RECORD_BYTES

Role = Literal["system", "user", "assistant", "tool"]

MAX_UPSAMPLED_RECORDS = 10_000_000
"""With `upsample`, the most records `total` and the floors may ask for: every copy is made in memory."""
MAX_LENGTH_BUCKETS = 64
MAX_TOKENS = 2**31 - 1
"""Token counts are stored as int32."""
MAX_NUM_PROC = 256


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LintGate(_Section):
    keep_invalid: bool = False


class DedupConfig(_Section):
    exact: bool = True
    exact_roles: list[Role] = Field(default_factory=lambda: ["user", "assistant"])
    exact_include_tools: bool = False
    near: bool = True
    roles: list[Role] = Field(default_factory=lambda: ["user", "assistant"])
    shingle: int = Field(5, ge=1, le=32)
    num_perm: int = Field(128, ge=16, le=1024)
    threshold: float = Field(0.8, gt=0.0, lt=1.0)
    seed: int = Field(1, ge=0, le=2**32 - 1, description="seeds numpy's generator of the permutations")
    hash: Literal["sha1_32", "xxh3_32"] = Field(
        "sha1_32", description="sha1_32: signatures identical to datasketch's; xxh3_32: about 2x faster")


class BucketRule(_Section):
    """A capability signal: every condition given must hold (unset conditions are ignored).

    `any_of` adds alternatives: the rule holds when its own conditions hold and at least one
    alternative does. Regular expressions use the `regex` module and are compiled once, when a
    `curate.buckets.Bucketer` is built (an invalid one is a `BucketConfigError` naming the rule).
    """

    pattern: str | list[str] | None = Field(
        None, description="a `regex` pattern searched in the texts of `roles`, or a list: any of them "
        "(several simple patterns search faster than one alternation in the `regex` module)")
    roles: list[Role] = Field(default_factory=lambda: ["user", "assistant"])
    tool_pattern: str | None = Field(
        None, description="a `regex` pattern searched in the names of the tools called")
    tools_match: Literal["any", "all"] = Field(
        "any", description="`tool_pattern` must match one called tool (`any`) or every call, at least one (`all`)")
    min_calls: int | None = Field(None, ge=0)
    max_calls: int | None = Field(None, ge=0)
    min_rounds: int | None = Field(None, ge=0, description="a round: an assistant turn with at least one call")
    max_rounds: int | None = Field(None, ge=0)
    min_parallel: int | None = Field(None, ge=1, description="most calls in one assistant turn at least this")
    tool_error_then_call: bool | None = Field(
        None, description="a tool result reporting an error (JSON with an `error` key, or text matching "
        "`error_pattern`) followed by another call")
    error_pattern: str | list[str] | None = Field(
        None, description="a pattern or a list (any of them); default: curate.buckets.DEFAULT_ERROR_PATTERNS")
    min_chars: int | None = Field(None, ge=0, description="characters of all message contents at least this")
    min_tokens: int | None = Field(
        None, ge=0, description="tokens at least this (counted by the caller, else estimated from characters)")
    no_tools: bool | None = Field(None, description="the conversation makes no tool call")
    final_json: bool | None = Field(
        None, description="the last assistant answer is a JSON object or array (a ```json fence allowed)")
    alone: bool | None = Field(
        None, description="a fallback: holds only when no rule without `alone` holds")
    any_of: list[BucketRule] = Field(default_factory=list, description="alternatives; at least one must hold")


class BucketConfig(_Section):
    rules: dict[str, BucketRule] | None = None
    """Replaces the default rules when given (see curate.buckets.DEFAULT_RULES)."""
    precedence: list[str] | None = None
    """Bucket names, first wins; every rule must be named (`other`, the fallback, may be). Default:
    curate.buckets.DEFAULT_PRECEDENCE for the default rules, the order of `rules` for custom ones."""


class LengthConfig(_Section):
    edges: list[int] | None = Field(
        None, max_length=MAX_LENGTH_BUCKETS,
        description=f"token counts where length buckets split: increasing, 1 to {MAX_TOKENS}")
    quantiles: list[float] | None = Field(None, max_length=MAX_LENGTH_BUCKETS)

    @model_validator(mode="after")
    def _one_of(self) -> LengthConfig:
        if self.edges is not None and self.quantiles is not None:
            raise ValueError("give either `edges` or `quantiles`, not both")
        if self.edges is not None:
            for e in self.edges:
                if not 1 <= e <= MAX_TOKENS:
                    raise ValueError(f"`edges`: {e} is not a token count from 1 to {MAX_TOKENS}")
        if self.edges is not None and sorted(set(self.edges)) != self.edges:
            raise ValueError("`edges` must be strictly increasing")
        if self.quantiles is not None and not all(0 < q < 1 for q in self.quantiles):
            raise ValueError("`quantiles` must lie strictly between 0 and 1")
        return self


class MixConfig(_Section):
    """How `curate.mix.balance` shares records out among capability buckets."""

    strategy: Literal["none", "uniform", "proportions", "temperature"] = "temperature"
    alpha: float = Field(0.5, ge=0.0, le=1.0)
    proportions: dict[str, NonNegativeFloat] = Field(default_factory=dict)
    total: int = Field(0, ge=0)
    fit: Literal["cap", "smallest"] = Field(
        "cap", description="with total = 0: `cap` down-samples each bucket to its share of all records and "
        "keeps smaller buckets whole (the mix moves toward the target without discarding more than needed); "
        "`smallest` keeps the exact shares, the smallest bucket relative to its share setting the total")
    caps: dict[str, NonNegativeInt] = Field(default_factory=dict)
    floors: dict[str, NonNegativeInt] = Field(default_factory=dict)
    upsample: bool = False

    @model_validator(mode="after")
    def _check(self) -> MixConfig:
        if self.strategy == "proportions":
            if not self.proportions:
                raise ValueError("strategy `proportions` needs `proportions` (bucket -> share)")
            total = sum(self.proportions.values())
            if abs(total - 1.0) > 1e-6:
                raise ValueError(f"`proportions` must sum to 1, they sum to {total:g}")
        elif self.proportions:
            raise ValueError(f"`proportions` is only used with strategy `proportions`, not `{self.strategy}`: "
                             "set `strategy = \"proportions\"` or remove `proportions`")
        for name, cap in self.caps.items():
            if name in self.floors and self.floors[name] > cap:
                raise ValueError(f"bucket `{name}`: floor {self.floors[name]} is above its cap {cap}")
        if self.upsample:  # copies are made in memory: bound what `total` and the floors can ask for
            if self.total > MAX_UPSAMPLED_RECORDS:
                raise ValueError(f"`total` is {self.total:,}; with `upsample = true` it must be from 0 to "
                                 f"{MAX_UPSAMPLED_RECORDS:,}")
            floors = sum(self.floors.values())
            if floors > MAX_UPSAMPLED_RECORDS:
                raise ValueError(f"`floors` add up to {floors:,}; with `upsample = true` they must add up to at "
                                 f"most {MAX_UPSAMPLED_RECORDS:,}")
        return self


class SplitConfig(_Section):
    eval_fraction: float = Field(0.1, ge=0.0, lt=1.0)
    eval_min: int = Field(2, ge=0)


class BuildConfig(_Section):
    seed: int = 0
    num_proc: int = Field(1, ge=1, le=MAX_NUM_PROC)
    max_record_bytes: int = Field(
        DEFAULT_MAX_RECORD_BYTES, ge=MIN_RECORD_BYTES, le=MAX_RECORD_BYTES,
        description="records longer than this many bytes are not parsed: dropped as unreadable (RS001)")
    lint: LintGate = Field(default_factory=LintGate)
    dedup: DedupConfig = Field(default_factory=DedupConfig)
    buckets: BucketConfig = Field(default_factory=BucketConfig)
    length: LengthConfig = Field(default_factory=LengthConfig)
    mix: MixConfig = Field(default_factory=MixConfig)
    split: SplitConfig = Field(default_factory=SplitConfig)


class BuildConfigError(ValueError):
    """A config a person has to fix: names the file and the key."""


def load_build_config(path: Path | None) -> BuildConfig:
    if path is None:
        return BuildConfig()
    data = read_toml(path, BuildConfigError)
    try:
        return BuildConfig.model_validate(data)
    except ValidationError as e:
        problems = "; ".join(
            f"`{'.'.join(str(x) for x in err['loc']) or '(top)'}`: {err['msg'].removeprefix('Value error, ').lower()}"
            for err in e.errors()
        )
        raise BuildConfigError(f"{path}: {problems}") from None

"""Configuration of `curate build` (and of `curate dedup` / `curate bucket` / `curate stats`): one TOML file.

`BuildConfig` composes the sections, each owned by its stage and defined beside it: `[dedup]`
(`curate.dedup.DedupConfig`), `[decontaminate]` (`curate.dedup.decontamination.DecontamConfig`),
`[buckets]` and `[length]` (`curate.buckets.BucketConfig`, `LengthConfig`), `[mix]` (`curate.mix.MixConfig`),
`[split]` (`curate.split.SplitConfig`); the lint gate `[lint]`, how the export writes calls `[export]` and the
top-level keys are the build's own. It is read with `curate.config`'s loader, so a bad key is
`FILE: [section] key: problem; what to do` (`BuildConfigError`, a `ConfigError`).

Every section optional, unknown keys an error:

    seed = 0
    num_proc = 2                  # 1 to 256
    max_record_bytes = 16777216   # longer records are not parsed: dropped as unreadable (RS001)

    [lint]
    keep_invalid = false          # keep records with error findings (dropped by default)

    [export]
    formats = ["hf"]              # besides train.jsonl and eval.jsonl: "hf" (hf/, the `datasets` folder), "lf"
                                  # (lf/, LLaMA-Factory's ShareGPT form and its dataset_info.json), "openai"
                                  # (openai/, OpenAI fine-tuning JSON Lines); --export hf,lf,openai
    calls = "canonical"           # calls written as ReAct steps (ToolLLaMA), Python-style call lists (ToolACE,
                                  # BFCL, xLAM) or Python dict literals in <tool_call>: rewritten as <tool_call>
                                  # JSON (the ReAct thought as <think>, a Finish final answer as the answer),
                                  # or "as-written"; token counts follow (`curate mask --calls` is the same)
    dropped_cap = 100             # records kept per drop reason in dropped/<reason>.jsonl (lint_error,
                                  # exact_duplicate, near_duplicate, contaminated, balancing), with what
                                  # dropped them; 0: no dropped/ folder

    [dedup]
    exact_roles = ["user", "assistant"]   # roles in the exact hash; system and tool specs left out
    near = true
    shingle = 5                   # word n-grams
    num_perm = 128
    threshold = 0.8
    roles = ["user", "assistant"] # roles in the near-dup text

    [decontaminate]              # with --decontaminate BENCHMARK (the --decontaminate-* options override)
    ngram = 13                    # words per n-gram
    coverage = 0.5                # share of a benchmark item's n-grams one turn must hold
    min_words = 5                 # shorter items: whole inside a turn from this many words, else the whole turn
    near = true                   # near copies: Jaccard of word shingles, numbers masked
    near_min_words = 8
    near_shingle = 3
    near_threshold = 0.5
    tool_calls = true             # an assistant call the benchmark's answer accepts
    roles = ["user"]              # benchmark turns indexed; add "assistant" for the reference answers
    mode = "drop"                 # or "flag": kept, with a `contamination` field

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

from pydantic import Field

from curate.buckets import BucketConfig, BucketConfigError, Bucketer, BucketRule, LengthConfig
from curate.config import ConfigError, ConfigSection, read_toml, validate
from curate.dedup import DedupConfig
from curate.dedup.decontamination import DecontamConfig
from curate.lint_config import MAX_RECORD_BYTES, MIN_RECORD_BYTES
from curate.mix import MAX_UPSAMPLED_RECORDS, MixConfig
from curate.readers import DEFAULT_MAX_RECORD_BYTES
from curate.split import SplitConfig
from curate.toolcalls import CallStyle

__all__ = [
    "MAX_NUM_PROC", "MAX_UPSAMPLED_RECORDS", "BucketConfig", "BucketRule", "BuildConfig", "BuildConfigError",
    "DedupConfig", "ExportConfig", "ExportFormat", "LengthConfig", "LintGate", "MixConfig", "SplitConfig",
    "load_build_config",
]

MAX_NUM_PROC = 256


class BuildConfigError(ConfigError):
    """A build config a person has to fix: names the file, the section and the key."""


class LintGate(ConfigSection):
    """`[lint]` of a build config: what the build does with records that have error findings."""

    keep_invalid: bool = False


ExportFormat = Literal["hf", "lf", "openai"]


class ExportConfig(ConfigSection):
    """`[export]` of a build config: what is written besides train.jsonl and eval.jsonl, and how calls are
    written."""

    formats: list[ExportFormat] = Field(
        default_factory=lambda: ["hf"], description="written besides train.jsonl and eval.jsonl: hf (the `datasets` "
        "folder), lf (LLaMA-Factory's ShareGPT form and its dataset_info.json), openai (OpenAI fine-tuning JSON "
        "Lines); `--export` on the command line")
    calls: CallStyle = Field(
        "canonical", description="calls written as ReAct steps, Python-style call lists or Python dict literals: "
        "rewritten as <tool_call> JSON (canonical), or kept as written (as-written)")
    dropped_cap: int = Field(
        100, ge=0, le=10_000_000, description="records written per drop reason to dropped/<reason>.jsonl, with the "
        "findings or the match that dropped them (the first ones in input order); 0: no dropped/ folder")


class BuildConfig(ConfigSection):
    """A build's whole config: its own keys and every stage's section."""

    seed: int = 0
    num_proc: int = Field(1, ge=1, le=MAX_NUM_PROC, description="worker processes (`--jobs N` on the command line)")
    max_record_bytes: int = Field(
        DEFAULT_MAX_RECORD_BYTES, ge=MIN_RECORD_BYTES, le=MAX_RECORD_BYTES,
        description="records longer than this many bytes are not parsed: dropped as unreadable (RS001)")
    lint: LintGate = Field(default_factory=LintGate)
    export: ExportConfig = Field(default_factory=ExportConfig)
    dedup: DedupConfig = Field(default_factory=DedupConfig)
    decontaminate: DecontamConfig = Field(default_factory=DecontamConfig)
    buckets: BucketConfig = Field(default_factory=BucketConfig)
    length: LengthConfig = Field(default_factory=LengthConfig)
    mix: MixConfig = Field(default_factory=MixConfig)
    split: SplitConfig = Field(default_factory=SplitConfig)


def load_build_config(path: Path | None) -> BuildConfig:
    """The config in the TOML file `path` (None: the defaults); `BuildConfigError` names every bad key.

    Bucket rules are compiled here too (`Bucketer`), so a rule that cannot work (an invalid regular expression,
    no condition, a precedence naming unknown buckets) is an error naming the file before any work starts."""
    if path is None:
        return BuildConfig()
    cfg = validate(BuildConfig, read_toml(path, BuildConfigError), path, error=BuildConfigError)
    try:
        Bucketer(cfg.buckets)
    except BucketConfigError as e:
        raise BuildConfigError(f"{path}: {e}") from None
    return cfg

"""`[dedup]` of a build config: which roles are compared, and the MinHash LSH settings."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from curate.config import ConfigSection
from curate.records import Role

HashName = Literal["sha1_32", "xxh3_32"]


class DedupConfig(ConfigSection):
    """`[dedup]` of a build config: which roles are compared, and the MinHash LSH settings."""

    exact: bool = True
    exact_roles: list[Role] = Field(default_factory=lambda: ["user", "assistant"])
    exact_include_tools: bool = False
    near: bool = True
    roles: list[Role] = Field(default_factory=lambda: ["user", "assistant"])
    shingle: int = Field(5, ge=1, le=32)
    num_perm: int = Field(128, ge=16, le=1024)
    threshold: float = Field(0.8, gt=0.0, lt=1.0)
    seed: int = Field(1, ge=0, le=2**32 - 1, description="seeds numpy's generator of the permutations")
    hash: HashName = Field(
        "sha1_32", description="sha1_32: signatures identical to datasketch's; xxh3_32: about 2x faster")

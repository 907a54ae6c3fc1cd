"""`curate build`: raw trajectory files in, a vetted, bucket-balanced ChatML set out (see `pipeline`)."""

from curate.build.engines import Engine, LocalEngine
from curate.build.errors import BuildError, BuildRefused
from curate.build.export import DatasetsSplit, RecordDumper, datasets_row, export_row
from curate.build.facts import WorkerSpec, count_tokens_in_pieces
from curate.build.gate import GatedRecord, RunLint, unique_name, with_id
from curate.build.pipeline import STAGES, Build, BuildResult, build, tools_from

__all__ = [
    "STAGES",
    "Build",
    "BuildError",
    "BuildRefused",
    "BuildResult",
    "DatasetsSplit",
    "Engine",
    "GatedRecord",
    "LocalEngine",
    "RecordDumper",
    "RunLint",
    "WorkerSpec",
    "build",
    "count_tokens_in_pieces",
    "datasets_row",
    "export_row",
    "tools_from",
    "unique_name",
    "with_id",
]

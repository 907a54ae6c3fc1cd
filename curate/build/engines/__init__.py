"""The engines that run the build's corpus-sized stages: `LocalEngine` here, `RayEngine` on a Ray cluster."""

from curate.build.engines.base import Engine
from curate.build.engines.local import LocalEngine

__all__ = ["Engine", "LocalEngine"]

"""patchloop turns a red test suite green and proves it."""

from patchloop.domain import RunRecord, Task
from patchloop.errors import PatchloopError

__all__ = ["PatchloopError", "RunRecord", "Task", "__version__"]

__version__ = "0.1.0"

"""Whether `curate` may reach the network: the model hub is off unless the user opts in.

Every command runs with the Hugging Face libraries offline (`HF_HUB_OFFLINE`, `HF_DATASETS_OFFLINE`,
`TRANSFORMERS_OFFLINE` set to 1) and hub telemetry off (`HF_HUB_DISABLE_TELEMETRY`), so a model or
tokenizer name that is not a local folder fails at once instead of sending requests. Two ways back
online: `curate --allow-downloads COMMAND …` (or `CURATE_ALLOW_DOWNLOADS=1`), or setting the
variables yourself: a value the user set is never overwritten, and an explicit false value of one of
them (`HF_HUB_OFFLINE=0`) counts as asking for downloads.

`huggingface_hub`, `transformers` and `datasets` read these variables when they are imported, so
`apply_offline_default` runs first thing in `curate.cli.main`, before any command imports them.
"""

from __future__ import annotations

import os

OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")
TELEMETRY_VARIABLE = "HF_HUB_DISABLE_TELEMETRY"
ALLOW_VARIABLE = "CURATE_ALLOW_DOWNLOADS"
HOW_TO_ALLOW = "`curate --allow-downloads COMMAND …` or CURATE_ALLOW_DOWNLOADS=1"
"""What a message tells the user to do to let a command download from the model hub."""

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _flag(name: str) -> bool | None:
    """The variable as a boolean: None when unset (or set to a value that is neither)."""
    value = os.environ.get(name)
    if value is None:
        return None
    value = value.strip().lower()
    return True if value in _TRUE else False if value in _FALSE else None


def apply_offline_default(allow: bool) -> None:
    """Turn the model hub off for this process (and the processes it starts) unless `allow`, the
    `CURATE_ALLOW_DOWNLOADS` variable, or the user's own offline variables say otherwise.

    Must run before `huggingface_hub` is imported: it reads the variables once, at import.
    """
    os.environ.setdefault(TELEMETRY_VARIABLE, "1")
    if allow or _flag(ALLOW_VARIABLE):
        return
    if any(_flag(name) is False for name in OFFLINE_VARIABLES):
        return  # the user asked for the hub (HF_HUB_OFFLINE=0): their setting, not ours
    for name in OFFLINE_VARIABLES:
        os.environ.setdefault(name, "1")


def downloads_allowed() -> bool:
    """Whether the hub may be contacted now (as huggingface_hub decides it: HF_HUB_OFFLINE, else
    TRANSFORMERS_OFFLINE)."""
    value = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE")
    return value is None or value.strip().lower() not in _TRUE


def hub_hint() -> str:
    """What to tell a user whose model or tokenizer name is neither a local folder nor in the local cache."""
    if downloads_allowed():
        return "it is neither a local folder nor a model on the hub (check the name)"
    return f"it is not a local folder, and downloads from the model hub are off (allow them with {HOW_TO_ALLOW})"

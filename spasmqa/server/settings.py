"""The limits one server enforces, each configurable from ``spasmqa serve``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from spasmqa.errors import ServeError


@dataclass(frozen=True)
class ServerSettings:
    """What a request may ask of the server.

    ``max_question_chars``: longer questions are refused (the dense model reads about 1,000 characters;
    a lay story with its detail fits in the default). ``max_k``: the most passages one answer returns.
    ``max_body_bytes``: a larger request body is refused before it is read to the end.
    ``timeout_seconds``: a question not answered in that time (waiting included) gets 504.
    ``batch_size``: the most questions answered together in one ``ask_many`` call.
    """

    max_question_chars: int = 2000
    max_k: int = 20
    max_body_bytes: int = 16_384
    timeout_seconds: float = field(default=30.0, metadata={"flag": "--timeout"})
    batch_size: int = 16

    def __post_init__(self) -> None:
        for setting in fields(self):
            value = getattr(self, setting.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                flag = setting.metadata.get("flag", "--" + setting.name.replace("_", "-"))  # as `spasmqa serve` spells it
                raise ServeError(f"{setting.name} must be a positive number, got {value!r}; set {flag} above 0")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

"""A message that is rendered in a language only when it is read.

The pipeline does not know who will read its words: a check's advice goes into a JSON file,
a terminal and a web page in the visitor's language. So it keeps the key and the values, and
each front door renders them (``render(text, lang)``). ``str()`` is English, for logs and
for code that has always treated these fields as strings.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Union

from pipeline.i18n.catalogue import translate


@dataclass(frozen=True)
class Message:
    key: str
    values: Mapping[str, Any] = field(default_factory=dict)

    def text(self, lang: str | None = None) -> str:
        """The message in ``lang``; values that are messages themselves are rendered in it too."""
        return translate(self.key, lang, **{name: render(value, lang) for name, value in self.values.items()})

    def __str__(self) -> str:
        return self.text()

    def __bool__(self) -> bool:
        return True


Text = Union[str, Message]


def render(value: Any, lang: str | None = None) -> Any:
    """``value`` in ``lang`` when it is a message (or a list of them), else unchanged."""
    if isinstance(value, Message):
        return value.text(lang)
    if isinstance(value, (list, tuple)) and any(isinstance(item, Message) for item in value):
        return type(value)(render(item, lang) for item in value)
    return value

"""API answers built from the rows and results they show.

An answer model's fields are named after the row's (or the service result's) attributes; the
routes copied them one keyword at a time, each list written twice. :func:`from_attributes`
reads them by the model's own field names, so a field added to the model is filled as well.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel

Answer = TypeVar("Answer", bound=BaseModel)


def from_attributes(model: type[Answer], source: object, **given: Any) -> Answer:
    """``model`` from ``source``'s attributes of the same names; ``given`` fields (a converted
    or computed value) instead of the attribute."""
    fields = {name: getattr(source, name) for name in model.model_fields if name not in given}
    return model(**fields, **given)

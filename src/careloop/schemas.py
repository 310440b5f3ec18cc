"""The one strict pydantic base: a model that refuses unknown fields and stays as it was made.

Files people write (programs, rules, catalogues) and the API's request bodies both use it, so
a misspelled key is an error that names it, never a setting silently ignored.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """Unknown fields refused (``extra="forbid"``); instances frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)

"""The environment variables a settings model reads, and secrets read from ``<NAME>_FILE``.

Kept apart from the models so the configuration check and the documentation generator walk the
same variables the loader reads.
"""

from __future__ import annotations

import os
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, JsonValue, SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import PydanticBaseSettingsSource

from careloop.errors import CareloopError

ENV_PREFIX = "CARELOOP_"


class ConfigurationError(CareloopError):
    """A setting that cannot be used (unknown variable, unreadable secret file, bad value)."""


SECRET: dict[str, JsonValue] = {"secret": True}
"""Marks a plain-text setting that may carry a secret (a database URL with its password):
like a ``SecretStr`` it is also read from ``<NAME>_FILE``."""


@dataclass(frozen=True)
class Variable:
    """One environment variable a settings model reads."""

    name: str
    path: tuple[str, ...]
    field: FieldInfo
    annotation: Any
    secret: bool
    open_below: bool
    owner: type[BaseModel]
    """A dict or list: keys below it (``..._X__Y``) are its own."""


def _unwrap(annotation: Any) -> list[Any]:
    if get_origin(annotation) in (Union, types.UnionType):
        return [a for a in get_args(annotation) if a is not type(None)]
    return [annotation]


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def setting_variables(
    model: type[BaseModel], *, prefix: str = ENV_PREFIX, path: tuple[str, ...] = ()
) -> Iterator[Variable]:
    """Every variable ``model`` reads, nested groups flattened with ``__`` (aliases honoured)."""
    for name, field in model.model_fields.items():
        key = (field.alias or name).upper()
        kinds = _unwrap(field.annotation)
        nested = [k for k in kinds if _is_model(k)]
        if nested:
            yield from setting_variables(nested[0], prefix=f"{prefix}{key}__", path=(*path, name))
            continue
        yield Variable(
            name=f"{prefix}{key}",
            path=(*path, name),
            field=field,
            annotation=field.annotation,
            secret=any(k is SecretStr for k in kinds) or field.json_schema_extra == SECRET,
            owner=model,
            open_below=any(get_origin(k) in (dict, list) for k in kinds),
        )


class SecretFilesSource(PydanticBaseSettingsSource):
    """``CARELOOP_<SECRET>_FILE=/path``: the secret read from that file (trailing newline
    dropped). A value given directly wins; a secret with its own ``*_file`` setting (the
    security keys) keeps it, read where the key is used."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        environ = {k.upper(): v for k, v in os.environ.items() if k.upper().startswith(ENV_PREFIX)}
        names = {v.name for v in setting_variables(self.settings_cls)}
        found: dict[str, Any] = {}
        for variable in setting_variables(self.settings_cls):
            file_name = f"{variable.name}_FILE"
            if not variable.secret or file_name in names or file_name not in environ:
                continue
            if variable.name in environ:
                continue
            try:
                value = Path(environ[file_name]).expanduser().read_text().rstrip("\r\n")
            except OSError as exc:
                raise ConfigurationError(
                    f"{file_name}: cannot read {environ[file_name]} ({exc.strerror})"
                ) from None
            target = found
            for part in variable.path[:-1]:
                target = target.setdefault(part, {})
            target[variable.path[-1]] = value
        return found

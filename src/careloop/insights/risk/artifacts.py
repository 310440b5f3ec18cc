"""Save and load the no-show model: a joblib pickle plus a JSON sidecar.

Loading refuses an artifact whose feature schema or format differs from this code's, or whose
pickle does not match the checksum in its sidecar: a model silently fed columns in another
order gives confident nonsense.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import joblib  # type: ignore[import-untyped]
from pydantic import ValidationError

from careloop.errors import InvalidInput, NotFound
from careloop.insights.risk.features import FEATURES
from careloop.insights.risk.model import ARTIFACT_FORMAT, MODEL_NAME, NoshowModel, Sidecar


def artifact_paths(directory: Path, name: str = MODEL_NAME) -> tuple[Path, Path]:
    """The pickle and sidecar paths of model ``name`` in ``directory``."""
    return directory / f"{name}.joblib", directory / f"{name}.json"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_model(model: NoshowModel, *, directory: Path) -> tuple[Path, Path]:
    """Write the pipeline and its sidecar; returns both paths."""
    directory.mkdir(parents=True, exist_ok=True)
    pickle_path, sidecar_path = artifact_paths(directory)
    joblib.dump(model.estimator, pickle_path)
    sidecar = model.sidecar.model_copy(update={"artifact_sha256": _sha256(pickle_path)})
    sidecar_path.write_text(sidecar.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return pickle_path, sidecar_path


def load_model(*, directory: Path) -> NoshowModel:
    """Load the saved model, refusing a mismatched schema, format or checksum."""
    pickle_path, sidecar_path = artifact_paths(directory)
    if not pickle_path.exists() or not sidecar_path.exists():
        raise NotFound(f"no no-show model in {directory}: run `careloop risk train noshow` first")
    try:
        sidecar = Sidecar.model_validate_json(sidecar_path.read_text(encoding="utf-8"))
    except ValidationError as exc:
        raise InvalidInput(
            f"{sidecar_path.name}: not a valid model sidecar ({exc.error_count()} errors)",
            field="model",
        ) from None
    if sidecar.model != MODEL_NAME or sidecar.format_version != ARTIFACT_FORMAT:
        raise InvalidInput(
            f"{sidecar_path.name}: artifact format {sidecar.model}/{sidecar.format_version} "
            f"is not {MODEL_NAME}/{ARTIFACT_FORMAT}; retrain the model",
            field="model",
        )
    if tuple(sidecar.features) != FEATURES:
        raise InvalidInput(
            f"{sidecar_path.name}: the model's feature schema differs from this version's "
            "features; retrain the model",
            field="model",
        )
    if sidecar.artifact_sha256 != _sha256(pickle_path):
        raise InvalidInput(
            f"{pickle_path.name}: checksum does not match its sidecar; retrain the model",
            field="model",
        )
    # The checksum above ties the pickle to a sidecar this code wrote; never load pickles
    # from an untrusted directory (unpickling runs code).
    estimator = joblib.load(pickle_path)
    return NoshowModel(estimator=estimator, sidecar=sidecar)

"""The model registry: versioned artefacts with scikit-learn version, SHA-256 and an HMAC signature made with the
installation's secret key; an artefact is unpickled only when all three check out (load only our own)."""

from __future__ import annotations

import hashlib
import hmac
import io
import pickle
from typing import Any

import sklearn
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from core.models import ScoringModel
from scoring.model import TrainedModel


class ArtefactRefused(RuntimeError):
    """A stored artefact that must not be unpickled (hash mismatch, other scikit-learn, unknown content)."""


class NoModel(LookupError):
    """No trained model yet."""


def serialise(trained: TrainedModel) -> bytes:
    """The artefact bytes (pickle protocol 5)."""
    buffer = io.BytesIO()
    pickle.dump(trained, buffer, protocol=5)
    return buffer.getvalue()


def artefact_signature(artefact: bytes, secret: str) -> str:
    """HMAC-SHA256 of the artefact under a key derived from the secret: only this installation can produce it."""
    key = hashlib.sha256(f"relance:scoring-model:{secret}".encode()).digest()
    return hmac.new(key, artefact, hashlib.sha256).hexdigest()


def store_model(
    session: Session, trained: TrainedModel, *, metrics: dict[str, Any], params: dict[str, Any], activate: bool,
    secret: str,
) -> ScoringModel:
    """Save a new version, signed with `secret`; when `activate`, it becomes the one model that scores contacts."""
    artefact = serialise(trained)
    version = (session.scalar(select(func.max(ScoringModel.version))) or 0) + 1
    params = {**params, "signature": artefact_signature(artefact, secret)}
    row = ScoringModel(
        version=version, kind=trained.kind, params=params, metrics=metrics, artefact=artefact,
        sklearn_version=sklearn.__version__, sha256=hashlib.sha256(artefact).hexdigest(), active=False,
    )
    session.add(row)
    session.flush()
    if activate:
        activate_version(session, version)
    return row


def activate_version(session: Session, version: int) -> ScoringModel:
    """Make `version` the active model (and no other)."""
    row = session.scalar(select(ScoringModel).where(ScoringModel.version == version))
    if row is None:
        raise NoModel(f"no model version {version}")
    session.execute(update(ScoringModel).where(ScoringModel.version != version).values(active=False))
    row.active = True
    session.flush()
    return row


def active_row(session: Session) -> ScoringModel | None:
    """The active model's row, if any."""
    return session.scalar(select(ScoringModel).where(ScoringModel.active.is_(True)))


def list_models(session: Session) -> list[ScoringModel]:
    """Every stored version, newest first."""
    return list(session.scalars(select(ScoringModel).order_by(ScoringModel.version.desc())))


def load_model(session: Session, secret: str, version: int | None = None) -> tuple[ScoringModel, TrainedModel]:
    """The active model (or `version`), after checking its hash, signature and scikit-learn version."""
    if version is None:
        row = active_row(session)
        if row is None:
            raise NoModel("no active scoring model: run `relance score train` first")
    else:
        row = session.scalar(select(ScoringModel).where(ScoringModel.version == version))
        if row is None:
            raise NoModel(f"no model version {version}")
    return row, verify_and_load(row, secret)


def verify_and_load(row: ScoringModel, secret: str) -> TrainedModel:
    """Unpickle an artefact only if its SHA-256 matches our row, our secret key signed it, and it was built by
    this scikit-learn (a pickle runs code when loaded: never load one we did not write)."""
    digest = hashlib.sha256(row.artefact).hexdigest()
    if digest != row.sha256:
        raise ArtefactRefused(
            f"model v{row.version}: artefact SHA-256 {digest[:12]}… does not match the registry "
            f"({row.sha256[:12]}…); it was altered after training — refusing to load it. Retrain the model."
        )
    signature = str((row.params or {}).get("signature") or "")
    if not hmac.compare_digest(signature, artefact_signature(row.artefact, secret)):
        raise ArtefactRefused(
            f"model v{row.version} was not signed with this installation's secret key (RELANCE_SECRET_KEY): "
            "it was written elsewhere, or the key changed — refusing to load it. Run `relance score train`."
        )
    if row.sklearn_version != sklearn.__version__:
        raise ArtefactRefused(
            f"model v{row.version} was trained with scikit-learn {row.sklearn_version} but this installation "
            f"has {sklearn.__version__}; pickled models are not portable across versions. "
            "Run `relance score train` to retrain."
        )
    trained = pickle.loads(row.artefact)  # noqa: S301 - hash-checked artefact we wrote ourselves
    if not isinstance(trained, TrainedModel):
        raise ArtefactRefused(f"model v{row.version}: artefact is not a Relance scoring model")
    return trained

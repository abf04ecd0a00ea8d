"""Batch scoring bench: `apply_model` over N contacts (default 1,000,000; budget ≤ 30 s) against its floor.

Floor, measured in the same run on the same batches: the bare feature query (SQL aggregates into a
DataFrame) + `predict_proba` of the same model on the same matrix. The difference is what scoring adds:
grades, per-feature contributions, reasons in words and the bulk UPDATE.

    .venv/bin/python bench/scoring.py [--contacts 1000000] [--url sqlite:///...] [--keep /tmp/scoring-1m.db]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# Run as a script, this file's folder comes first on sys.path and its name would hide the scoring package.
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != Path(__file__).resolve().parent]

from sqlalchemy import func, select  # noqa: E402

from cli.demo.synthetic_company import build_company  # noqa: E402
from core import clock  # noqa: E402
from core.db import make_engine, session_scope  # noqa: E402
from core.migrate import upgrade  # noqa: E402
from core.models import Contact, Event  # noqa: E402
from scoring.features import features_as_of, id_batches  # noqa: E402
from scoring.predict import apply_model, train_model  # noqa: E402
from scoring.registry import load_model  # noqa: E402
from scoring.target import Target  # noqa: E402

NOW = datetime(2026, 6, 1, tzinfo=UTC)
TRAINING_CONTACTS = 20_000
BATCH = 50_000
SECRET = "bench-secret"  # model artefacts are signed with the installation's key


def floor_seconds(engine: object) -> float:
    """Bare feature query + predict_proba, batch by batch, no reasons and no writes."""
    started = time.perf_counter()
    with session_scope(engine) as session:  # type: ignore[arg-type]
        _, trained = load_model(session, SECRET)
        for id_range in id_batches(session, BATCH):
            frame = features_as_of(session, trained.spec, clock.now(), id_range=id_range, stage_as_of=False)
            trained.model.predict_proba(frame)  # type: ignore[attr-defined]
    return time.perf_counter() - started


def setup(engine: Any, contacts: int) -> str:
    """A synthetic company of `contacts` with a model trained on its first 20,000; returns a summary line."""
    upgrade(engine)
    clock.freeze(NOW)
    started = time.perf_counter()
    with session_scope(engine) as session:
        build_company(session, contacts=min(TRAINING_CONTACTS, contacts), now=NOW, seed=1)
        trained = train_model(session, Target(), secret=SECRET, folds=3)
        if contacts > TRAINING_CONTACTS:
            build_company(session, contacts=contacts - TRAINING_CONTACTS, now=NOW, seed=2)
    vacuum(engine)
    return (f"model {trained.metrics['chosen']} (AUC {trained.metrics['roc_auc']:.3f}), set up in "
            f"{time.perf_counter() - started:.0f} s")


def vacuum(engine: Any) -> None:
    """VACUUM ANALYZE (PostgreSQL) / ANALYZE (SQLite), as autovacuum would have done on a live database after the
    import and between two nightly runs — otherwise it runs during the measurement."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("VACUUM ANALYZE" if engine.dialect.name == "postgresql" else "ANALYZE")


def timed_apply(engine: Any) -> tuple[float, int]:
    started = time.perf_counter()
    with session_scope(engine) as session:
        summary = apply_model(session, secret=SECRET, batch_size=BATCH)
    return time.perf_counter() - started, summary["scored"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--url", default=None, help="database URL (default: a SQLite file in a temp dir)")
    parser.add_argument("--keep", type=Path, default=None,
                        help="SQLite file kept between runs: built the first time, only measured afterwards")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="relance-bench-scoring-") as folder:
        reuse = args.keep is not None and args.keep.exists()
        url = args.url or f"sqlite:///{args.keep or Path(folder) / 'bench.db'}"
        engine = make_engine(url)
        built = "reused" if reuse else setup(engine, args.contacts)
        with session_scope(engine) as session:
            contacts = session.scalar(select(func.count()).select_from(Contact))
            events = session.scalar(select(func.count()).select_from(Event))
        print(f"data: {contacts:,} contacts, {events:,} events on {engine.dialect.name}; {built}")
        clock.freeze(NOW.replace(month=3))  # score as of the synthetic cutoff, where engagement lives
        floor = floor_seconds(engine)
        elapsed, scored = timed_apply(engine)
        print(f"floor (feature query + predict_proba, batch after batch): {floor:.1f} s")
        print(f"apply_model: {scored:,} contacts in {elapsed:.1f} s ({scored / elapsed:,.0f}/s; budget 1M ≤ 30 s) — "
              f"ratio to floor {elapsed / floor:.2f} (the next batch is read on one connection and the previous one "
              "written on another while this one is scored)")
        vacuum(engine)
        clock.freeze(NOW.replace(month=3, day=2))  # the next night: recency moved, some scores change
        again, _ = timed_apply(engine)
        print(f"the next night's run: {again:.1f} s (only contacts whose probability, grade or reasons changed "
              "are written)")


if __name__ == "__main__":
    main()

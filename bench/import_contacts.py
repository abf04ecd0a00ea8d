"""Bench: import N generated contacts (CSV) with validation + dedup; compares to a bare parse+insert floor.

    .venv/bin/python bench/import_contacts.py --rows 1000000 [--postgres URL] [--keep DIR]

Prints rows/s, peak RSS (the importing process and, separately, its parsing worker processes), RSS samples of the
whole process tree along the import (flat memory), the machine load, and the ratio to the floor measured in the
same run: the same CSV parsed with the csv module and inserted with executemany into a bare table, no
validation, no dedup, no indexes.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import resource
import sys
import tempfile
import time
import uuid
from contextlib import suppress
from pathlib import Path

from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from contacts.imports.pipeline import import_contacts  # noqa: E402
from core.db import make_engine  # noqa: E402
from core.migrate import upgrade  # noqa: E402

HEADERS = ["email", "prenom", "nom", "telephone", "societe", "code_postal", "ville", "pays", "email_opt_in",
           "email_opt_in_date", "tags", "secteur"]
FIRST = ["Jean", "Marie", "Pierre", "Sophie", "Luc", "Camille", "Hugo", "Léa", "Louis", "Chloé", "Paul", "Emma"]
LAST = ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau"]
CITIES = [("75002", "Paris"), ("69003", "Lyon"), ("13001", "Marseille"), ("31000", "Toulouse"), ("44000", "Nantes")]
SECTORS = ["logiciel", "industrie", "commerce", "santé", "banque"]


def generate(path: Path, rows: int, seed: int = 7) -> None:
    """A realistic French export: `;`, cp1252, ~1% duplicate rows, ~0.5% bad emails or phones."""
    rng = random.Random(seed)
    with path.open("w", encoding="cp1252", newline="") as handle:
        writer = csv.writer(handle, delimiter=";")
        writer.writerow(HEADERS)
        for index in range(rows):
            person = index if rng.random() > 0.01 or index == 0 else rng.randrange(index)
            email = f"{FIRST[person % 12].lower()}.{LAST[person % 10].lower()}{person}@exemple{person % 97}.fr"
            if rng.random() < 0.003:
                email = email.replace("@", "_at_")
            phone = f"06 {10 + person // 1000000:02d} {person // 10000 % 100:02d} {person // 100 % 100:02d} " \
                    f"{person % 100:02d}"
            if rng.random() < 0.002:
                phone = "06 12"
            postcode, city = CITIES[person % 5]
            writer.writerow([
                email.upper() if person % 7 == 0 else email, FIRST[person % 12], LAST[person % 10], phone,
                f"Société {person % 20000}", postcode, city, "France", "oui" if person % 3 else "non",
                f"{1 + person % 28:02d}/{1 + person % 12:02d}/2024", "client,newsletter", SECTORS[person % 5],
            ])


def _rss_mb(pid: int | str) -> float:
    try:
        with open(f"/proc/{pid}/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6
    except OSError:  # the process ended meanwhile
        return 0.0


def _children() -> list[str]:
    found: list[str] = []
    for task in Path("/proc/self/task").iterdir():
        with suppress(OSError):
            found += (task / "children").read_text().split()
    return found


def rss_mb() -> tuple[float, float]:
    """RSS of this process and the sum over its child processes (the parsing workers), in MB."""
    return _rss_mb("self"), sum(_rss_mb(child) for child in _children())


def _cpu() -> tuple[float, float]:
    """CPU seconds (user + system) used so far by this process and by its finished child processes."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f}, {os.cpu_count()} cores"


def floor(path: Path, url: str) -> float:
    """Bare csv parsing + executemany insert of the same rows into a plain table: the floor."""
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS floor_rows"))
        connection.execute(text("CREATE TABLE floor_rows (" + ", ".join(f"{name} TEXT" for name in HEADERS) + ")"))
    started = time.perf_counter()
    placeholders = ", ".join(f":{name}" for name in HEADERS)
    statement = text(f"INSERT INTO floor_rows VALUES ({placeholders})")
    with path.open("r", encoding="cp1252", newline="") as handle, engine.begin() as connection:
        reader = csv.reader(handle, delimiter=";")
        next(reader)
        batch: list[dict[str, str]] = []
        for cells in reader:
            batch.append(dict(zip(HEADERS, cells, strict=True)))
            if len(batch) == 5000:
                connection.execute(statement, batch)
                batch = []
        if batch:
            connection.execute(statement, batch)
    elapsed = time.perf_counter() - started
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE floor_rows"))
    engine.dispose()
    return elapsed


def run(label: str, url: str, path: Path, rows: int, reimport: bool = True) -> None:
    engine = make_engine(url)
    upgrade(engine)
    floor_seconds = floor(path, url)
    samples: list[tuple[int, float, float]] = []
    done = 0

    def progress(count: int) -> None:
        nonlocal done
        done += count
        if done % (rows // 10 or 1) < count:
            samples.append((done, *rss_mb()))

    print(f"  [{label}] importing ({load()})", flush=True)
    cpu_before = _cpu()
    started = time.perf_counter()
    summary = import_contacts(engine, path, on_progress=progress)
    seconds = time.perf_counter() - started
    own_cpu, workers_cpu = (after - before for after, before in zip(_cpu(), cpu_before, strict=True))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    worker_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"\n[{label}] {rows:,} rows in {seconds:.1f} s = {rows / seconds:,.0f} rows/s "
          f"(budget 60 s for 1M: {'OK' if seconds * 1_000_000 / rows <= 60 else 'OVER'})")
    print(f"  created {summary.created:,}, merged {summary.merged:,}, rejected {summary.rejected:,}")
    print(f"  floor (bare csv + executemany insert): {floor_seconds:.1f} s = {rows / floor_seconds:,.0f} rows/s; "
          f"ratio import/floor = {seconds / floor_seconds:.2f}x")
    print(f"  CPU time: importer {own_cpu:.1f} s, parsing workers {workers_cpu:.1f} s (what the import costs whatever "
          "the load: on an idle machine the wall time is about the larger of the two)")
    print(f"  peak RSS: importer {peak:.0f} MB, largest parsing worker {worker_peak:.0f} MB ({load()})")
    print("  RSS along the import (importer + workers): " + ", ".join(
        f"{n // 1000}k: {own:.0f}+{workers:.0f} MB" for n, own, workers in samples))
    if not reimport:
        engine.dispose()
        return
    started = time.perf_counter()
    again = import_contacts(engine, path)
    print(f"  re-import (idempotent): {time.perf_counter() - started:.1f} s, created {again.created}, "
          f"updated {again.updated}")
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--postgres", default=os.environ.get("RELANCE_BENCH_POSTGRES_URL"),
                        help="admin URL of a PostgreSQL server (a throwaway database is created)")
    parser.add_argument("--skip-sqlite", action="store_true", help="only run PostgreSQL")
    parser.add_argument("--no-reimport", action="store_true", help="skip timing the idempotent re-import")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="relance-bench-") as tmp:
        workdir = Path(tmp)
        csv_path = workdir / "contacts.csv"
        started = time.perf_counter()
        generate(csv_path, args.rows)
        print(f"generated {args.rows:,} rows ({csv_path.stat().st_size / 1e6:.0f} MB) in "
              f"{time.perf_counter() - started:.1f} s")
        if not args.skip_sqlite:
            run("SQLite", f"sqlite:///{workdir / 'bench.db'}", csv_path, args.rows, not args.no_reimport)
        if args.postgres:
            run_postgres(args.postgres, csv_path, args.rows, not args.no_reimport)


def run_postgres(admin_url: str, path: Path, rows: int, reimport: bool) -> None:
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"relance_bench_{uuid.uuid4().hex[:8]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - unreachable server: report and skip
        print(f"PostgreSQL skipped: {exc}")
        return
    try:
        run("PostgreSQL", admin.url.set(database=name).render_as_string(hide_password=False), path, rows, reimport)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()

"""Benchmark: import N receivables through the real `adimple import` command path.

    python benchmarks/import_receivables.py --rows 1000000 --db postgresql|sqlite

Builds a customer base (one customer per 5 receivables; not timed), writes a receivables CSV,
then times `adimple import receivables FILE` in a child process. ``copy_seconds`` is
PostgreSQL's own ``COPY`` of the same file into a bare all-text table in the same run — the
floor any importer is measured against. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import psycopg

PG_ADMIN = os.environ.get(
    "ADIMPLE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def cpf(n: int) -> str:
    digits = [int(c) for c in f"{n:09d}"]
    for weight_start in (10, 11):
        total = sum(d * w for d, w in zip(digits, range(weight_start, 1, -1), strict=False))
        digits.append(0 if total % 11 < 2 else 11 - total % 11)
    return "".join(map(str, digits))


def write_files(directory: Path, rows: int, seed: int) -> tuple[Path, Path]:
    rng = random.Random(seed)
    customers = max(1, rows // 5)
    customer_file = directory / "clientes.csv"
    with customer_file.open("w", encoding="utf-8") as handle:
        handle.write("codigo_cliente;cpf_cnpj;nome;uf\n")
        for n in range(1, customers + 1):
            handle.write(f"C{n:08d};{cpf(100_000_000 + n)};Cliente {n};SP\n")
    receivable_file = directory / "titulos.csv"
    start = date(2024, 1, 1)
    with receivable_file.open("w", encoding="utf-8") as handle:
        handle.write("id_titulo;id_cliente;contrato;parcela;emissao;vencimento;valor\n")
        for n in range(1, rows + 1):
            customer = rng.randint(1, customers)
            installment = (n % 12) + 1
            issue = start + timedelta(days=rng.randint(0, 700))
            due = issue + timedelta(days=30 * installment)
            cents = rng.randint(1_000, 500_000)
            handle.write(
                f"T{n:09d};C{customer:08d};CT{customer:08d};{installment}/12;"
                f"{issue.isoformat()};{due.isoformat()};{cents // 100},{cents % 100:02d}\n"
            )
    return customer_file, receivable_file


def adimple(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "adimple.cli", *args],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )


def copy_seconds(path: Path) -> float | None:
    try:
        conn = psycopg.connect(PG_ADMIN, autocommit=True)
    except psycopg.OperationalError:
        return None
    with conn:
        conn.execute("DROP TABLE IF EXISTS bench_copy")
        conn.execute(
            "CREATE UNLOGGED TABLE bench_copy "
            "(a text, b text, c text, d text, e text, f text, g text)"
        )
        started = time.perf_counter()
        with (
            conn.cursor() as cursor,
            cursor.copy(
                "COPY bench_copy FROM STDIN WITH (FORMAT csv, DELIMITER ';', HEADER true)"
            ) as copy,
            path.open("rb") as handle,
        ):
            while chunk := handle.read(1 << 20):
                copy.write(chunk)
        elapsed = time.perf_counter() - started
        conn.execute("DROP TABLE bench_copy")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--db", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="adimple-bench-"))
    env = dict(os.environ)
    if args.db == "postgresql":
        name = "adimple_bench"
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {name}")
        env["ADIMPLE_DATABASE_URL"] = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    else:
        env["ADIMPLE_DATABASE_URL"] = f"sqlite:///{work / 'bench.db'}"

    customer_file, receivable_file = write_files(work, args.rows, args.seed)
    adimple("db", "upgrade", env=env)
    adimple(
        "tenant", "create", "--slug", "bench", "--legal-name", "Credor Benchmark Ltda",
        "--document", "11.222.333/0001-81", "--address", "Rua A, 1", "--city", "São Paulo",
        "--uf", "SP", env=env,
    )  # fmt: skip
    adimple("import", "customers", str(customer_file), "--tenant", "bench", "--json", env=env)

    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    result = adimple(
        "import", "receivables", str(receivable_file), "--tenant", "bench", "--json", env=env
    )
    seconds = time.perf_counter() - started
    peak_kb = max(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, before)
    summary = json.loads(result.stdout)
    assert summary["inserted"] == args.rows, summary

    started = time.perf_counter()
    again = json.loads(
        adimple(
            "import", "receivables", str(receivable_file), "--tenant", "bench", "--json", env=env
        ).stdout
    )
    reimport_seconds = time.perf_counter() - started
    assert again["unchanged"] == args.rows, again

    copy = copy_seconds(receivable_file)
    print(
        json.dumps(
            {
                "rows": args.rows,
                "db": args.db,
                "seconds": round(seconds, 2),
                "rows_per_s": round(args.rows / seconds),
                "peak_rss_mb": round(peak_kb / 1024),
                "copy_seconds": None if copy is None else round(copy, 2),
                "ratio_to_copy": None if not copy else round(seconds / copy, 2),
                "reimport_seconds": round(reimport_seconds, 2),
                "machine": (
                    f"{platform.machine()}, {os.cpu_count()} cores, "
                    f"Python {platform.python_version()}"
                ),
            }
        )
    )


if __name__ == "__main__":
    main()

"""Benchmark: reconcile a CNAB 400 return file through the real `adimple reconcile` command.

    python benchmarks/reconcile_cnab.py --receivables 100000 --records 10000 --db sqlite|postgresql

Imports a portfolio of N receivables with nosso números (not timed), writes a Bradesco CNAB 400
retorno with M liquidações (90% of them for existing receivables, zero-padded as banks write
them; 10% unknown, for the review queue), then times `adimple reconcile FILE` in a child process
and the no-op re-import of the same file. Prints one JSON object.
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
from decimal import Decimal
from pathlib import Path

import psycopg

from adimple.payments.cnab.fields import build_line
from adimple.payments.cnab.layouts import CNAB400_LAYOUTS

PG_ADMIN = os.environ.get(
    "ADIMPLE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def cpf(n: int) -> str:
    digits = [int(c) for c in f"{n:09d}"]
    for weight_start in (10, 11):
        total = sum(d * w for d, w in zip(digits, range(weight_start, 1, -1), strict=False))
        digits.append(0 if total % 11 < 2 else 11 - total % 11)
    return "".join(map(str, digits))


def write_portfolio(directory: Path, rows: int, seed: int) -> tuple[Path, Path, list[int]]:
    rng = random.Random(seed)
    customers = max(1, rows // 5)
    customer_file = directory / "clientes.csv"
    with customer_file.open("w", encoding="utf-8") as handle:
        handle.write("codigo_cliente;cpf_cnpj;nome;uf\n")
        for n in range(1, customers + 1):
            handle.write(f"C{n:08d};{cpf(100_000_000 + n)};Cliente {n};SP\n")
    receivable_file = directory / "titulos.csv"
    amounts = []
    with receivable_file.open("w", encoding="utf-8") as handle:
        handle.write("id_titulo;id_cliente;emissao;vencimento;valor;nosso_numero\n")
        for n in range(1, rows + 1):
            cents = rng.randint(1_000, 500_000)
            amounts.append(cents)
            due = date(2026, 1, 1) + timedelta(days=n % 300)
            handle.write(
                f"T{n:09d};C{rng.randint(1, customers):08d};2025-12-01;{due.isoformat()};"
                f"{cents // 100},{cents % 100:02d};{n}\n"
            )
    return customer_file, receivable_file, amounts


def write_retorno(path: Path, records: int, amounts: list[int], seed: int) -> None:
    rng = random.Random(seed)
    layout = CNAB400_LAYOUTS["237"]
    header = {
        (1, 1): "0", (2, 2): "2", (3, 9): "RETORNO", (10, 11): "01", (12, 26): "COBRANCA",
        (77, 79): "237", (395, 400): "000001",
    }  # fmt: skip
    lines = [build_line((), {}, 400, literals=header)]
    chosen = rng.sample(range(1, len(amounts) + 1), k=min(records, len(amounts)))
    for index, number in enumerate(chosen):
        known = rng.random() < 0.9
        nosso = f"{number:012d}" if known else f"9{index:011d}"
        paid = Decimal(amounts[number - 1]) / 100
        values = {
            "nosso_numero": nosso,
            "codigo_ocorrencia": "06",
            "data_ocorrencia": date(2026, 11, 16),
            "valor_titulo": paid,
            "valor_tarifa": Decimal("1.60"),
            "valor_pago": paid,
            "data_credito": date(2026, 11, 17),
        }
        lines.append(
            build_line(
                layout.fields,
                values,  # type: ignore[arg-type]
                400,
                literals={(1, 1): "1", (395, 400): f"{index + 2:06d}"},
            )
        )
    lines.append(build_line((), {}, 400, literals={(1, 1): "9", (2, 4): "201", (5, 7): "237"}))
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("latin-1"))


def adimple(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "adimple.cli", *args],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--receivables", type=int, default=100_000)
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--db", choices=["postgresql", "sqlite"], default="sqlite")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="adimple-bench-"))
    env = dict(os.environ)
    if args.db == "postgresql":
        name = "adimple_bench_recon"
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {name}")
        env["ADIMPLE_DATABASE_URL"] = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    else:
        env["ADIMPLE_DATABASE_URL"] = f"sqlite:///{work / 'bench.db'}"

    customer_file, receivable_file, amounts = write_portfolio(work, args.receivables, args.seed)
    retorno = work / "CB161100.RET"
    write_retorno(retorno, args.records, amounts, args.seed)
    adimple("db", "upgrade", env=env)
    adimple(
        "tenant", "create", "--slug", "bench", "--legal-name", "Credor Benchmark Ltda",
        "--document", "11.222.333/0001-81", "--address", "Rua A, 1", "--city", "São Paulo",
        "--uf", "SP", env=env,
    )  # fmt: skip
    adimple("import", "customers", str(customer_file), "--tenant", "bench", "--json", env=env)
    adimple("import", "receivables", str(receivable_file), "--tenant", "bench", "--json", env=env)

    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    report = json.loads(adimple("reconcile", str(retorno), "--tenant", "bench", env=env).stdout)
    seconds = time.perf_counter() - started
    peak_kb = max(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, before)
    assert report["payments_created"] + report["review"] == report["records"], report

    started = time.perf_counter()
    again = json.loads(adimple("reconcile", str(retorno), "--tenant", "bench", env=env).stdout)
    reimport_seconds = time.perf_counter() - started
    assert again["already_imported"], again
    print(
        json.dumps(
            {
                "db": args.db,
                "receivables": args.receivables,
                "records": report["records"],
                "payments_created": report["payments_created"],
                "review": report["review"],
                "seconds": round(seconds, 2),
                "records_per_s": round(report["records"] / seconds),
                "peak_rss_mb": round(peak_kb / 1024),
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

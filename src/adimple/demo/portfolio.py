"""A realistic synthetic portfolio for the demo (pure: writes CSV files, touches no database).

Customers follow payer profiles seen in Brazilian retail credit: most pay on time, some are
occasionally late, a few are chronic late payers, and some never paid after the first
installment. Installments are monthly; what fell due and was paid has a payment row.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from faker import Faker

from adimple.kit.money import split_evenly

# (UF, weight ~ population share, area codes)
UF_DDDS: list[tuple[str, int, tuple[int, ...]]] = [
    ("SP", 22, (11, 12, 13, 14, 15, 16, 17, 18, 19)),
    ("MG", 10, (31, 32, 33, 34, 35, 37, 38)),
    ("RJ", 8, (21, 22, 24)),
    ("BA", 7, (71, 73, 74, 75, 77)),
    ("PR", 5, (41, 42, 43, 44, 45, 46)),
    ("RS", 5, (51, 53, 54, 55)),
    ("PE", 4, (81, 87)),
    ("CE", 4, (85, 88)),
    ("PA", 4, (91, 93, 94)),
    ("SC", 3, (47, 48, 49)),
    ("GO", 3, (62, 64)),
    ("MA", 3, (98, 99)),
    ("AM", 2, (92, 97)),
    ("ES", 2, (27, 28)),
    ("PB", 2, (83,)),
    ("RN", 2, (84,)),
    ("MT", 2, (65, 66)),
    ("AL", 1, (82,)),
    ("PI", 1, (86, 89)),
    ("DF", 1, (61,)),
    ("MS", 1, (67,)),
    ("SE", 1, (79,)),
    ("RO", 1, (69,)),
    ("TO", 1, (63,)),
    ("AC", 1, (68,)),
    ("AP", 1, (96,)),
    ("RR", 1, (95,)),
]

# profile: (weight, probability an installment is paid, (min, max) days late when paid)
PROFILES: dict[str, tuple[int, float, tuple[int, int]]] = {
    "pontual": (55, 0.99, (-5, 0)),
    "atraso_eventual": (20, 0.93, (1, 20)),
    "atrasador_cronico": (12, 0.80, (5, 60)),
    "nunca_pagou": (6, 0.0, (0, 0)),
    "abandonou": (7, 0.6, (0, 30)),
}


@dataclass
class DemoFiles:
    customers: Path
    receivables: Path
    payments: Path
    counts: dict[str, int]


def generate(
    directory: Path, *, customers: int, today: date, seed: int, history_days: int = 540
) -> DemoFiles:
    rng = random.Random(seed)
    fake = Faker("pt_BR")
    fake.seed_instance(seed)
    directory.mkdir(parents=True, exist_ok=True)
    ufs = [u for u, _, _ in UF_DDDS]
    weights = [w for _, w, _ in UF_DDDS]
    ddds = {u: d for u, _, d in UF_DDDS}
    profile_names = list(PROFILES)
    profile_weights = [PROFILES[p][0] for p in profile_names]

    customer_rows: list[list[str]] = []
    receivable_rows: list[list[str]] = []
    payment_rows: list[list[str]] = []
    for n in range(1, customers + 1):
        uf = rng.choices(ufs, weights)[0]
        business = rng.random() < 0.08
        external_id = f"CLI{n:07d}"
        phone = f"({rng.choice(ddds[uf])}) 9{rng.randint(6000, 9999)}-{rng.randint(0, 9999):04d}"
        if business:
            name = fake.company()
            document = fake.cnpj()
            birth = ""
        else:
            name = fake.name()
            document = fake.cpf()
            birth = fake.date_of_birth(minimum_age=19, maximum_age=80).isoformat()
        slug = fake.user_name()
        email = f"{slug}{n}@{rng.choice(['exemplo.com.br', 'mail.example', 'correio.example'])}"
        customer_rows.append(
            [
                external_id,
                document,
                name,
                birth,
                uf,
                fake.city(),
                email,
                phone,
                fake.address().replace("\n", " - "),
            ]
        )
        profile = rng.choices(profile_names, profile_weights)[0]
        _, pay_probability, (late_min, late_max) = PROFILES[profile]
        for contract_n in range(1, rng.choice((1, 1, 1, 2)) + 1):
            count = rng.choice((3, 6, 10, 12, 12, 18, 24))
            issue = today - timedelta(days=rng.randint(30, history_days))
            total = Decimal(rng.randint(150_00, 6_000_00)) / 100
            amounts = split_evenly(total, count)
            contract = f"CT{n:07d}{contract_n}"
            stopped = False
            for i, amount in enumerate(amounts, start=1):
                due = _add_months(issue, i)
                receivable_id = f"{contract}-{i:02d}"
                receivable_rows.append(
                    [
                        receivable_id,
                        external_id,
                        contract,
                        f"{i}/{count}",
                        issue.isoformat(),
                        due.isoformat(),
                        f"{amount:.2f}".replace(".", ","),
                    ]
                )
                if due > today or stopped:
                    continue
                if profile == "abandonou" and rng.random() < 0.25:
                    stopped = True
                    continue
                if rng.random() < pay_probability:
                    paid_on = due + timedelta(days=rng.randint(late_min, late_max))
                    if paid_on > today:
                        continue
                    method = "pix" if rng.random() < 0.6 else "boleto"
                    payment_rows.append(
                        [
                            f"PG-{receivable_id}",
                            receivable_id,
                            paid_on.isoformat(),
                            brazilian(amount),
                            method,
                        ]
                    )

    customer_header = (
        "codigo_cliente cpf_cnpj nome data_nascimento uf cidade email celular endereco"
    )
    receivable_header = "id_titulo id_cliente contrato parcela emissao vencimento valor"
    payment_header = "id_pagamento id_titulo data_pagamento valor origem"
    files = DemoFiles(
        customers=_write(directory / "clientes.csv", customer_header.split(), customer_rows),
        receivables=_write(directory / "titulos.csv", receivable_header.split(), receivable_rows),
        payments=_write(directory / "pagamentos.csv", payment_header.split(), payment_rows),
        counts={
            "customers": len(customer_rows),
            "receivables": len(receivable_rows),
            "payments": len(payment_rows),
        },
    )
    return files


def brazilian(amount: Decimal) -> str:
    """``1234,56``: the decimal comma Brazilian spreadsheets write."""
    return f"{amount:.2f}".replace(".", ",")


def _add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year = day.year + month // 12
    month = month % 12 + 1
    for candidate in (day.day, 30, 29, 28):
        try:
            return date(year, month, min(day.day, candidate))
        except ValueError:
            continue
    raise AssertionError("unreachable")


def _write(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter=";")
        writer.writerow(header)
        writer.writerows(rows)
    return path

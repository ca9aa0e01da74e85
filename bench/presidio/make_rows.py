#!/usr/bin/env python3
"""Writes rows.tsv: the sample result rows both masking benchmarks run on.

1000 rows of 8 columns (id, customer, created_at, status, amount, sku, city, note) as a
typical table would return them; 10% of the rows carry one piece of PII, in the note or in
place of another text column. Deterministic: the same script always writes the same file.

    python3 bench/presidio/make_rows.py
"""

import os
import random

rng = random.Random(7)

FIRST = ["Alice", "Bob", "Chen", "Dana", "Emil", "Fatima", "Goran", "Hana", "Ivan", "Julia",
         "Kofi", "Lena", "Mateo", "Nora", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tariq"]
LAST = ["Smith", "Garcia", "Okafor", "Novak", "Tanaka", "Muller", "Rossi", "Kowalski", "Silva",
        "Johansson", "Dubois", "Haddad", "Petrov", "Nguyen", "Walsh", "Costa"]
STATUS = ["pending", "paid", "shipped", "delivered", "cancelled", "refunded"]
CITIES = ["Berlin", "Lisbon", "Osaka", "Toronto", "Nairobi", "Austin", "Krakow", "Lyon",
          "Melbourne", "Bogota", "Oslo", "Seoul"]
NOTES = [
    "Customer asked to leave the parcel with the neighbour if nobody is home.",
    "Delivery window moved to the afternoon after a call with the warehouse team.",
    "Gift wrap requested; include a handwritten card with the order.",
    "Second attempt after the courier could not find the building entrance.",
    "Order split into two shipments because one item is on backorder until March.",
    "Discount code applied manually after the checkout page timed out.",
    "Please double-check the size before shipping, previous order was returned.",
    "Invoice 2024-0117 sent again on request, no changes to the amounts.",
    "Replacement unit dispatched, the original arrived with a cracked screen.",
    "Customer prefers contact by email in the evening, version 2.4 of the app.",
    "Loyalty points credited for the delayed delivery, 250 points in total.",
    "Address verified against the postal database on 2024-05-03 at 14:20.",
]
PII = [
    "maria.lopez@example.com", "+44 20 7946 0958", "(415) 555-2671", "4111 1111 1111 1111",
    "5555-5555-5555-4444", "GB82 WEST 1234 5698 7654 32", "DE89370400440532013000",
    "123-45-6789", "203.0.113.42", "2001:db8::7", "j.smith@mail.example.org",
    "AKIAIOSFODNN7EXAMPLE", "+1-212-555-0100",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
]
PII_LEADS = ["Call back on {}.", "Card on file {} was declined.", "Refund to {} please.",
             "Customer wrote from {} about the delay.", "Login from {} flagged.", "Contact: {}"]


def row(index):
    created = f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d} " \
              f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}+00"
    values = [
        str(100000 + index),
        f"{rng.choice(FIRST)} {rng.choice(LAST)}",
        created,
        rng.choice(STATUS),
        f"{rng.randint(1, 2000)}.{rng.randint(0, 99):02d}",
        f"SKU-{rng.randint(10000, 99999)}-{rng.choice('ABCDEFG')}",
        rng.choice(CITIES),
        rng.choice(NOTES),
    ]
    if index % 10 == 3:
        pii = rng.choice(PII)
        if rng.random() < 0.7:
            values[7] = rng.choice(PII_LEADS).format(pii) + " " + values[7]
        else:
            values[rng.choice([1, 6])] = pii
    return values


here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "rows.tsv"), "w", encoding="utf-8") as out:
    out.write("id\tcustomer\tcreated_at\tstatus\tamount\tsku\tcity\tnote\n")
    for i in range(1000):
        out.write("\t".join(row(i)) + "\n")

#!/usr/bin/env python3
"""Writes the labelled detector corpus (one TSV per detector) next to this script.

Deterministic: the same script always writes the same files. Positives that need check
digits (cards: Luhn; IBANs: mod-97) are computed here; every other line is written out below.
See README.md for the file format.

    python3 crates/gatehouse-mask/tests/corpus/generate.py
"""

import base64
import json
import os
import random
import string

HERE = os.path.dirname(os.path.abspath(__file__))
rng = random.Random(20261201)


def mark(detector, value):
    return f"\u27e6{detector}:{value}\u27e7"


def escape(text):
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def write(detector, positives, negatives):
    path = os.path.join(HERE, f"{detector}.tsv")
    with open(path, "w", encoding="utf-8") as out:
        out.write(f"# {detector}: label<TAB>text; spans marked \u27e6detector:value\u27e7\n")
        for line in positives:
            out.write(f"pos\t{escape(line)}\n")
        for line in negatives:
            out.write(f"neg\t{escape(line)}\n")


def contexts(detector, values, templates):
    return [templates[i % len(templates)].format(mark(detector, v)) for i, v in enumerate(values)]


TEMPLATES = [
    "{}",
    "Contact: {}",
    "customer {} updated their profile",
    '{{"id": 42, "value": "{}"}}',
    "id=7; value={}; status=active",
    "Please use {} from now on.",
    "2024-03-01 12:00:01 INFO value={} ok",
    "<td>{}</td>",
    "note: ({})",
    "'{}'",
]

# ---------------------------------------------------------------- email
email_values = [
    "john.doe@example.com", "JANE_DOE@Example.ORG", "a.b-c+tag@sub.mail.example.co.uk",
    "x@y.io", "firstname.lastname@company.travel", "user%relay@gateway.example.net",
    "12345@numbers.example.com", "o.connor@example.ie", "info@example-shop.de",
    "support+tickets@help.example.com", "m@ex.am", "very.long.local.part.for.testing@example.info",
    "dev-team@eng.example.dev", "sales@example.co.jp", "a_b@mail-server.example.org",
    "Marie.Curie@Sorbonne.example.fr", "noreply@notifications.example.app",
    "first.last@xn--mller-kva.example", "root@mail.example.museum", "abc123@test123.example.biz",
    "billing.team@example.com.au", "hr@example.nl", "joe+spam+more@example.com",
    "CAPS@EXAMPLE.COM", "q@example.travel", "name.surname@department.university.example.edu",
    "k.tanaka@example.jp", "postmaster@example.museum", "alerts-prod@ops.example.io",
    "ceo@startup.example.ai", "p.m@example.org", "user.name@example.technology",
    "team@example.co", "d.o.e@example.com", "x-y_z@example-domain.com",
    "help@example.support", "me@my-domain.example.net", "ops@eu-west-1.example.cloud",
    "zz@example.zw", "order-updates@shop.example.store", "tom@example.email",
    "jo@ex-ample.org", "l.smith99@example.co.nz", "admin@intranet.corp.example.com",
    "b.wayne@example.global",
]
email_pos = contexts("email", email_values, TEMPLATES)
email_pos += [
    f"From: {mark('email', 'alice@example.com')} To: {mark('email', 'bob@example.org')}",
    f"mailto:{mark('email', 'press@example.com')}",
    f"<{mark('email', 'list@lists.example.net')}>",
]
email_neg = [
    "logo@2x.png", "icon@3x.jpg", "assets/img/hero@2x.webp", "lodash@4.17.21",
    "npm i react@18.2.0", "pip install requests@2.31", "user@localhost", "@mention in chat",
    "follow us @example on social", "a@b", "name at example dot com", "foo@bar.c",
    "john..doe@example.com", ".john@example.com", "john.@example.com", "email@-example.com",
    "user@example.com2", "weird@@example.com", "@example.com", "user@", "mailto:",
    "foo@bar..com", "C# @ 5pm", "a @ b.com", "50@ 3.99 each", "user@" + mark("ipv4", "123.45.67.89"),
    "foo@bar_baz.com", "hash@sha256", "nginx@sha256:0123abcd", "@media (max-width: 600px)",
    "price: 3 @ $4.00", "user@example.com-backup", "at@", "@@", "ping @channel now",
    "x@y.1", "meet me @ the park", "file@v1.2", "sender@[" + mark("ipv4", "192.0.2.1") + "]", "name(at)example.com",
    "@user123 replied", "email: n/a", "contact form submitted", "example.com/@user",
    "abc@def", "version@latest",
]
write("email", email_pos, email_neg)


# ---------------------------------------------------------------- payment_card
def luhn_digit(partial):
    total = 0
    for i, ch in enumerate(reversed(partial)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def card(prefix, length):
    body = prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
    return body + luhn_digit(body)


def bad_luhn(number):
    last = int(number[-1])
    return number[:-1] + str((last + rng.randint(1, 9)) % 10)


def group(number, sizes, sep):
    parts, at = [], 0
    for size in sizes:
        parts.append(number[at:at + size])
        at += size
    return sep.join(parts)


card_specs = [
    ("4", 16), ("4", 13), ("4", 19), ("51", 16), ("55", 16), ("2221", 16), ("2720", 16),
    ("34", 15), ("37", 15), ("6011", 16), ("644", 16), ("65", 16), ("300", 14), ("36", 14),
    ("38", 16), ("3528", 16), ("3589", 16), ("62", 16), ("62", 19), ("5018", 16), ("6759", 16),
    ("2200", 16), ("6304", 19), ("52", 16), ("4", 16),
]
card_values = []
for i, (prefix, length) in enumerate(card_specs * 2):
    number = card(prefix, length)
    style = i % 3
    if length == 15 and style:
        number = group(number, [4, 6, 5], " -"[style - 1])
    elif length == 16 and style:
        number = group(number, [4, 4, 4, 4], " -"[style - 1])
    elif length == 14 and style:
        number = group(number, [4, 6, 4], " -"[style - 1])
    card_values.append(number)
card_templates = [
    "{}", "card {} exp 12/27", "Paid with {}.", "cc_number={}", '{{"pan": "{}"}}',
    "Card ending in {} declined", "{} 2027", "ref 2024 {}", "<card>{}</card>", "number: {};",
]
card_pos = contexts("payment_card", card_values, card_templates)
card_pos += [
    "test cards " + mark("payment_card", "4111111111111111") + " and "
    + mark("payment_card", "5555 5555 5555 4444"),
    mark("payment_card", "378282246310005") + " (amex)",
]
card_neg = []
for prefix, length in card_specs[:20]:
    card_neg.append(f"order {bad_luhn(card(prefix, length))}")
for prefix in ["1", "7", "8", "9", "0"]:
    card_neg.append(f"account id {card(prefix, 16)}")
card_neg += [
    "tracking 1Z999AA10123456784", "timestamp 20240115103045123", "epoch 1700000000000",
    "uuid 123e4567-e89b-12d3-a456-426614174000", "12345678-1234-1234-1234-123456789012",
    "41111111111111110000", "4111 1111-1111 1111", "x4111111111111111", "0.4111111111111111",
    "41 1111 1111 1111 11", "price $4,111.11", "ISBN 978-3-16-148410-0",
    "3782822463100050", card("4", 15), card("4", 17), card("34", 16), card("51", 15),
    "sha1 da39a3ee5e6b4b0d3255bfef95601890afd80709", "phone " + mark("phone", "+1 415 555 2671"),
    "1111 2222 3333 4444", "invoice 2024-0001-0002-0003", "0000 0000 0000 0000",
    "9999999999999999", "serial 4111-11-111-1111-1", "1234567812345670",
]
write("payment_card", card_pos, card_neg)

# ---------------------------------------------------------------- iban
IBAN_FORMATS = {
    "DE": "n18", "GB": "a4n14", "FR": "n10c11n2", "NL": "a4n10", "ES": "n20", "IT": "a1n10c12",
    "BE": "n12", "CH": "n5c12", "AT": "n16", "PL": "n24", "SE": "n20", "NO": "n11",
    "DK": "n14", "FI": "n14", "IE": "a4n14", "PT": "n21", "LU": "n3c13", "GR": "n7c16",
    "CZ": "n20", "HU": "n24", "RO": "a4c16", "BG": "a4n6c8", "HR": "n17", "SI": "n15",
    "SK": "n20", "LT": "n16", "LV": "a4c13", "EE": "n16", "MT": "a4n5c18", "CY": "n8c16",
    "SA": "n2c18", "AE": "n19", "TR": "n6c16", "IL": "n19", "BR": "n23a1c1", "MC": "n10c11n2",
    "IS": "n22", "LI": "n5c12", "KW": "a4c22", "QA": "a4c21",
}


def bban(fmt):
    out, i = "", 0
    while i < len(fmt):
        kind = fmt[i]
        j = i + 1
        while j < len(fmt) and fmt[j].isdigit():
            j += 1
        count = int(fmt[i + 1:j])
        alphabet = {"n": string.digits, "a": string.ascii_uppercase,
                    "c": string.digits + string.ascii_uppercase}[kind]
        out += "".join(rng.choice(alphabet) for _ in range(count))
        i = j
    return out


def iban_check(country, body):
    rearranged = body + country + "00"
    number = int("".join(str(int(c, 36)) for c in rearranged))
    return f"{98 - number % 97:02d}"


def make_iban(country):
    body = bban(IBAN_FORMATS[country])
    return country + iban_check(country, body) + body


def spaced(text):
    return " ".join(text[i:i + 4] for i in range(0, len(text), 4))


iban_values = []
for i, country in enumerate(list(IBAN_FORMATS) + list(IBAN_FORMATS)[:8]):
    value = make_iban(country)
    iban_values.append(spaced(value) if i % 2 else value)
iban_templates = [
    "{}", "IBAN: {}", "Transfer to {} by Friday.", '{{"iban": "{}"}}', "acct={};",
    "Beneficiary account {} (EUR)", "<iban>{}</iban>", "pay into {}, ref 2024-77",
]
iban_pos = contexts("iban", iban_values, iban_templates)
iban_pos += [
    mark("iban", "GB82WEST12345698765432"), "IBAN " + mark("iban", "DE89 3704 0044 0532 0130 00"),
]


def wrong_check(value):
    check = int(value[2:4])
    other = 2 + (check - 2 + rng.randint(1, 90)) % 97
    return value[:2] + f"{other:02d}" + value[4:]


iban_neg = [f"IBAN {wrong_check(make_iban(c))}" for c in list(IBAN_FORMATS)[:20]]
iban_neg += [
    "XX82WEST12345698765432", "ZZ12 3456 7890 1234 5678", "GB82WEST1234569876543",
    "GB82WEST123456987654321", "DE8937040044053201300", "SKU12AB34567890123",
    "AB12 3456 7890 1234", "VAT DE123456789", "VAT GB123456789", "VAT BE0123456789",
    "FR76 3000 6000 0112 3456 7890 18", "GB82 WEST 12345 698 7654 32", "DE00370400440532013000",
    "part no. NL12ABCD", "GB82-WEST-1234-5698-7654-32", "model XR21 2024 edition",
    "route US12 and CA99", "flight LH1234 on 2024-05-06", "gb82west12345698765432",
    "ES91 2100 0418 4502 0005 1333",
]
write("iban", iban_pos, iban_neg)


# ---------------------------------------------------------------- us_ssn
def ssn():
    area = rng.choice([a for a in range(1, 900) if a != 666])
    return f"{area:03d}", f"{rng.randint(1, 99):02d}", f"{rng.randint(1, 9999):04d}"


ssn_pos = []
ssn_templates = [
    "{}", "SSN on file: {}", "employee {} verified", '{{"ssn": "{}"}}', "ssn={}&dob=1980-01-02",
    "Taxpayer ({}) signed", "<ssn>{}</ssn>", "id {}.",
]
for i in range(30):
    a, g, s = ssn()
    ssn_pos.append(ssn_templates[i % len(ssn_templates)].format(mark("us_ssn", f"{a}-{g}-{s}")))
label_templates = [
    "SSN: {}", "ssn {}", "SSN#{}", "Social Security Number: {}", "social security no. {}",
    "SSN={}", "Social Security {}", "applicant ssn - {}", "SSN:{}", "(SSN {})",
]
for i in range(20):
    a, g, s = ssn()
    sep = ["", " ", "-"][i % 3]
    ssn_pos.append(label_templates[i % len(label_templates)].format(
        mark("us_ssn", f"{a}{sep}{g}{sep}{s}")))
ssn_neg = [
    "000-12-3456", "666-12-3456", "900-12-3456", "999-99-9999", "123-00-4567", "123-45-0000",
    "123456789", "order 123456789", mark("phone", "415-555-2671"), "2023-01-15", "ZIP 94105-1234",
    "12-345-6789", "123-45-67890", "1234-56-7890", "SSN: 12345678", "ISBN 0-306-40615-2",
    "123-45-6789-01", "A123-45-6789", "123-45-6789x", "part 12-123-45-6789",
    "ssn 123-456789", "ssn 12345 6789", "SSN: 123 456 789", "code 123 45 6789",
    "call 555-01-2345-6", "ref 078/05/1120", "2024-123-45", "12:34:56",
    "value 123.45.6789", "SSN: pending", "social security benefits start at 62",
    "ssn field left blank", "tel " + mark("phone", "020 7946 0958"), "acct 001-2345678", "batch 001-01",
    "route 123-45", "serial 123-45-678", "sku 999-12-3456", "code 666-66-6666",
    "ssn 000-00-0000",
]
write("us_ssn", ssn_pos, ssn_neg)

# ---------------------------------------------------------------- phone
phone_values = [
    "+14155552671", "+1 (415) 555-2671", "+44 20 7946 0958", "+33 1 23 45 67 89",
    "+33.1.23.45.67.89", "+81-3-1234-5678", "+49 30 901820", "+49 (0)30 901820",
    "+61 2 9876 5432", "+91 98765 43210", "+86 10 1234 5678", "+55 11 91234-5678",
    "+353 1 234 5678", "+34 912 345 678", "+39 06 1234 5678", "+27 21 123 4567",
    "+7 495 123-45-67", "+46 8 123 456 78", "+31 20 123 4567", "+1-212-555-0100",
    "(415) 555-2671", "(415)555-2671", "415-555-2671", "415.555.2671", "415 555 2671",
    "1-800-555-0199", "1 (800) 555-0199", "(212) 555-0100", "646-555-0123", "312.555.0147",
    "020 7946 0958", "0161 496 0000", "07700 900123", "01 23 45 67 89", "06.12.34.56.78",
    "0121 496 0123", "0113 496 0000", "07700-900456", "030 1234 5678", "089 1234 5678",
    "+442079460958", "+33123456789", "+4930901820", "+61298765432", "+919876543210",
]
phone_templates = [
    "{}", "Call {} now", "tel: {}", '{{"phone": "{}"}}', "mobile={};", "Reach us at {}.",
    "<phone>{}</phone>", "fax {} (office)", "phone number {}, ext 12", "SMS sent to {}",
]
phone_pos = contexts("phone", phone_values, phone_templates)
phone_neg = [
    "2023-01-15", "15.01.2023", "01/15/2023", "2023/01/15", "15-01-2023", "Jan 15, 2023",
    "ISBN 978-0-596-52068-7", "ISBN 0-306-40615-2", "ISBN-13: 9780596520687",
    "4155552671", "order 415-555-2671-01", "ORD-415-555-2671", "415-555.2671",
    "price 1,234,567.89", "€1.234.567,89", "+1 vote", "+1234", "+1234567890123456789",
    "115-555-2671", "1e+12345678", "020-7946 0958", "10:00-12:00", "version 1.2.3",
    "ZIP 94105", "1234 5678", "sort code 20-00-00", "12-34-56-78", "coordinates +48.8566, 2.3522",
    "+20.5%", "3+4=7", "score +1234567", "years 1999-2024", "2020 2021 2022",
    "NCT01234567", "ISSN 0317-8471", "SN 0123-4567-89", "account 12345678901234",
    "order #20240115", "invoice 2024-0001", "batch 99-1234-5678",
    "room 555-1234", "ext. 4567", "temperature -12.5", "0.5 1000 2000",
]
write("phone", phone_pos, phone_neg)

# ---------------------------------------------------------------- ipv4
ipv4_values = [
    "10.0.0.1", "192.168.1.1", "172.16.254.1", "8.8.8.8", "203.0.113.5", "198.51.100.23",
    "192.0.2.146", "0.0.0.0", "255.255.255.0", "127.0.0.1", "100.64.0.10", "169.254.10.20",
    "34.117.59.81", "52.95.110.1", "1.1.1.1", "9.9.9.9", "185.199.108.153", "140.82.121.4",
    "104.16.132.229", "23.45.67.89", "10.255.255.254", "192.168.100.200", "172.31.0.2",
    "81.2.69.160", "216.58.214.14", "151.101.1.69", "13.107.42.14", "45.33.32.156",
    "66.249.66.1", "199.232.69.194", "74.125.24.100", "64.233.160.0", "31.13.64.35",
    "157.240.1.35", "17.253.144.10", "93.184.216.34", "2.16.0.1", "5.6.7.8", "11.22.33.44",
    "200.100.50.25",
]
ipv4_templates = [
    "{}", "client {} connected", "{}:5432", "http://{}/health", "from={} port=443",
    "[{}]", "peer {}, retrying", '{{"ip": "{}"}}', "subnet {}/24", "denied access from {}.",
]
ipv4_pos = contexts("ipv4", ipv4_values, ipv4_templates)
ipv4_pos += [
    f"range {mark('ipv4', '10.0.0.1')}-{mark('ipv4', '10.0.0.255')}",
    f"X-Forwarded-For: {mark('ipv4', '203.0.113.7')}, {mark('ipv4', '198.51.100.9')}",
]
ipv4_neg = [
    "version 1.2.3.4", "Version: 10.0.0.1", "v1.2.3.4", "ver. 2.0.0.1", "release 4.3.2.1",
    "build 10.0.0.1", "firmware 1.0.12.3", "section 1.2.3.4", "Chapter 2.1.4.3",
    "1.2.3.4.5", "1.2.3.4-beta", "1.2.3.4.rc1", "256.1.1.1", "1.2.3.256", "01.02.03.04",
    "192.168.001.001", "1.3.6.1.4.1.311", "OID 2.5.4.3.1", "10.0.19041.1234",
    "6.1.7601.17514", "2023.10.15", "1.234.567.890", "3.14159", "1.2.3", "10.0.0",
    "Chrome/120.0.6099.109", "1234.1.1.1", "1.1.1.1234", "a1.2.3.4", "1.2.3.4a",
    "1.2.3.4_x", "sdk 3.2.1.0", "fw 1.2.3.4", "rel 5.6.7.8", "10.0.0.1.2", "999.999.999.999",
    "255.255.255.256", "price 1.99.2.3x", "step 3.1.2.1", "rule 4.2.2.1",
]
write("ipv4", ipv4_pos, ipv4_neg)

# ---------------------------------------------------------------- ipv6
ipv6_values = [
    "2001:db8::1", "2001:0db8:85a3:0000:0000:8a2e:0370:7334", "2001:db8:85a3::8a2e:370:7334",
    "::1", "fe80::1", "fe80::1ff:fe23:4567:890a", "::ffff:192.0.2.1", "2001:DB8::FF00:42:8329",
    "2606:4700:4700::1111", "2001:4860:4860::8888", "fd00::1", "fc00:1234:5678::9",
    "2001:db8:0:0:1:0:0:1", "2001:db8::", "ff02::1", "ff02::2", "2a00:1450:4001:80b::200e",
    "2620:fe::fe", "64:ff9b::192.0.2.33", "2001:db8:a0b:12f0::1", "fe80::a00:27ff:fe4e:66a1",
    "2001:db8:1234:5678:9abc:def0:1234:5678", "::ffff:10.0.0.1", "2001:db8:3333:4444:5555:6666:7777:8888",
    "2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff", "fe80::200:5aee:feaa:20a2", "2002:c000:0204::1",
    "2001:0:3238:dfe1:63::fefb", "2001:db8::abcd", "3fff::1", "2600:1f18::17",
    "2406:da00:ff00::6b14:8d10", "2a03:2880:f12f:83:face:b00c:0:25de", "fd12:3456:789a:1::1",
    "2001:db8:cafe::17", "2001:db8:0:1::", "fe80::dead:beef", "2001:db8::8:800:200c:417a",
    "::2", "2001:db8:100::",
]
ipv6_templates = [
    "{}", "client {} connected", "[{}]:443", "from {} port 5432", "http://[{}]/",
    '{{"ip": "{}"}}', "peer={};", "Listening on {}.", "addr:{}", "denied ({})",
]
ipv6_pos = contexts("ipv6", ipv6_values, ipv6_templates)
ipv6_neg = [
    "12:30:45", "10:30:45.123", "2024-01-15T10:30:00Z", "00:1A:2B:3C:4D:5E",
    "00:1a:2b:3c:4d:5e:6f:70", "aa:bb:cc:dd:ee:ff", "std::io::Result", "Foo::Bar::baz()",
    "::", ":::", "dead:beef", "16:9", "John 3:16", "1:2:3", "a:b:c",
    "SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8",
    "43:51:43:a1:b5:fc:8b:b7:0a:3a:a9:b1:0f:66:73:a8", "2001:db8:::1", "2001:db8::1::2",
    "12345::1", "fe80:::1", "urn:isbn:0451450523", "C:\\Windows\\System32",
    "https://example.com:8080/path", "time 23:59:59", "ratio 1:10:100", "x::y",
    "vector<int>::iterator", "namespace::function", "1:30:00 elapsed",
    "2001:db8:0:0:0:0:0:0:1", "abcd:ef01:2345", "key:value:other", "PT1H30M",
    "12:00:00+05:30", "::g", "fe80::g1", "ab:cd:ef:12:34:56:78:9a", "Mon 10:15:30 UTC",
    "host:port:db", "a::b::c",
]
write("ipv6", ipv6_pos, ipv6_neg)


# ---------------------------------------------------------------- jwt
def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(header, payload, signature=True):
    head = b64url(json.dumps(header, separators=(",", ":")).encode())
    body = b64url(json.dumps(payload, separators=(",", ":")).encode())
    sig = b64url(bytes(rng.randrange(256) for _ in range(rng.choice([32, 64, 48])))) if signature else ""
    return f"{head}.{body}.{sig}"


headers = [
    {"alg": "HS256", "typ": "JWT"}, {"alg": "RS256", "typ": "JWT", "kid": "key-1"},
    {"alg": "ES256"}, {"typ": "JWT", "alg": "HS512"}, {"alg": "PS256", "kid": "2024-01"},
    {"alg": "EdDSA", "typ": "at+jwt"}, {"alg": "RS512"}, {"alg": "HS384", "cty": "JWT"},
]
jwt_values = []
for i in range(42):
    payload = {"sub": str(rng.randint(1, 10**9)), "iat": 1700000000 + i, "name": f"user{i}"}
    if i % 3 == 0:
        payload["scope"] = "read write"
    jwt_values.append(jwt(headers[i % len(headers)], payload))
jwt_values.append(jwt({"alg": "none"}, {"sub": "anonymous"}, signature=False))
jwt_templates = [
    "{}", "Authorization: Bearer {}", "token={}", '{{"access_token": "{}"}}', "jwt: {}",
    "Cookie: session={}; Path=/", "id_token {} expired", "?token={}&x=1",
]
jwt_pos = contexts("jwt", jwt_values, jwt_templates)


def segment(obj):
    return b64url(json.dumps(obj).encode())


jwt_neg = [
    segment({"alg": "HS256"}),
    segment({"alg": "HS256"}) + "." + segment({"sub": "1"}),
    segment({"foo": 1}) + "." + segment({"sub": "1"}) + ".c2lnbmF0dXJl",
    segment({"typ": "JWT"}) + "." + segment({"sub": "1"}) + ".c2lnbmF0dXJl",
    segment({"alg": "HS256"}) + ".bm90IGpzb24.c2lnbmF0dXJl",
    segment({"alg": "HS256"}) + "." + segment({"sub": "1"}) + ".",
    segment({"alg": "HS256"}) + "." + b64url(b"[1,2,3]") + ".c2lnbmF0dXJl",
    "eyJ" + "A" * 40 + ".eyJ" + "B" * 30 + ".CCCC",
    "header.payload.signature", "YWJj.ZGVm.Z2hp", "eyJ", "eyJhbGciOi",
    "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=", "dGhpcyBpcyBub3QgYSB0b2tlbg==",
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "x" + jwt({"alg": "HS256"}, {"sub": "1"}),
    "W3siYSI6MX1d.W3siYSI6MX1d.W3siYSI6MX1d", "a.b.c", "1.2.3", "www.example.com",
    "eyJhbGciOiJIUzI1NiJ9..c2ln", "file.tar.gz", "eyJub3QiOiJhIGp3dCJ9.e30.e30",
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJ",
    "eyJhbGciOiJIUzI1NiJ9.e30", "sess.eyJ0b2tlbiI6MX0.abc",
    segment({"alg": 5}) + "." + segment({"sub": "1"}) + ".c2lnbmF0dXJl",
    "ZXlKaGJHY2lPaUpJVXpJMU5pSjku", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig.extra.parts",
    "QmFzZTY0IGJsb2I.U2Vjb25k.VGhpcmQ", "v1.eyJ.x", "e30.e30.e30",
    "AQAB.AQAB.AQAB", "base64:eyJmb28iOiJiYXIifQ==", "eyJmb28iOiJiYXIifQ.eyJmb28iOiJiYXIifQ.x",
    "release-1.2.3", "com.example.app", "a1b2.c3d4.e5f6", "eyJ0eXAiOiJKV1QifQ.e30.sig",
    "eyJhbGciOiJub25lIn0.bm90.",
]
write("jwt", jwt_pos, jwt_neg)


# ---------------------------------------------------------------- credentials
def rand(alphabet, n):
    return "".join(rng.choice(alphabet) for _ in range(n))


UPPER_DIGITS = string.ascii_uppercase + string.digits
ALNUM = string.ascii_letters + string.digits
CRED_TEMPLATES = [
    "{}", "key={}", 'export TOKEN="{}"', '{{"token": "{}"}}', "found {} in logs",
    "token: {}", "<secret>{}</secret>", "'{}'", "value {} rotated", "use {}.",
]

aws_ids = [rng.choice(["AKIA", "ASIA"]) + rand(UPPER_DIGITS, 16) for _ in range(12)]
write(
    "aws_access_key_id",
    contexts("aws_access_key_id", aws_ids, CRED_TEMPLATES),
    [
        "AKIA1234", "akiaiosfodnn7example", "AKIAIOSFODNN7EXAMPL", "XAKIAIOSFODNN7EXAMPLE",
        "AKIAIOSFODNN7EXAMPLE1", "AIDAIOSFODNN7EXAMPLE", "AROAIOSFODNN7EXAMPLE",
        "AKIA-IOSFODNN7EXAMPLE", "the AKIA prefix", "ASIAN markets", "AKIAiosfodnn7example",
    ],
)

aws_secrets = []
while len(aws_secrets) < 12:
    value = rand(ALNUM + "/+", 40)
    if any(c.isupper() for c in value) and any(c.islower() for c in value) and any(c.isdigit() for c in value):
        aws_secrets.append(value)
secret_templates = [
    "aws_secret_access_key = {}", "AWS_SECRET_ACCESS_KEY={}", '"SecretAccessKey": "{}"',
    "secret: '{}'", "aws_secret_key={}", "secret_access_key: {}", "SECRET={}",
    "client secret {}", "secretKey = \"{}\"", "secret => {}",
]
write(
    "aws_secret_key",
    [secret_templates[i % len(secret_templates)].format(mark("aws_secret_key", v))
     for i, v in enumerate(aws_secrets)],
    [
        aws_secrets[0], "value " + aws_secrets[1],
        "secret: da39a3ee5e6b4b0d3255bfef95601890afd80709",
        "secret: " + aws_secrets[2][:39], "secret: " + aws_secrets[3] + "X",
        "secret = abcdefghijklmnopqrstuvwxyzabcdefghijklmn",
        "secret = ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJKLMN",
        "keep this secret", "secret: not-a-key", "the secret to success is 42",
        "secrets manager arn:aws:secretsmanager:eu-west-1:123456789012:secret:db",
    ],
)

gh = [rng.choice(["ghp_", "gho_", "ghu_", "ghs_", "ghr_"]) + rand(ALNUM, 36) for _ in range(10)]
gh += ["github_pat_" + rand(ALNUM, 22) + "_" + rand(ALNUM, 59) for _ in range(2)]
write(
    "github_token",
    contexts("github_token", gh, CRED_TEMPLATES),
    [
        "ghp_short", "ghx_" + rand(ALNUM, 36), "ghp_" + rand(ALNUM, 35), "xghp_" + rand(ALNUM, 36),
        "ghp_" + rand(ALNUM, 37), "github_pat_" + rand(ALNUM, 22), "ghp-" + rand(ALNUM, 36),
        "GHP_" + rand(ALNUM, 36), "see github.com/org/repo", "gh_pages branch",
    ],
)

gl = ["glpat-" + rand(ALNUM + "_-", 20) for _ in range(10)] + ["glpat-" + rand(ALNUM, 26) for _ in range(2)]
write(
    "gitlab_token",
    contexts("gitlab_token", gl, CRED_TEMPLATES),
    [
        "glpat-" + rand(ALNUM, 10), "glpat_" + rand(ALNUM, 20), "xglpat-" + rand(ALNUM, 20),
        "glpat-", "GLPAT-" + rand(ALNUM, 20), "gitlab personal access token",
        "glptt-" + rand(ALNUM, 20), "glpat " + rand(ALNUM, 20), "glpat-short",
        "docs/glpat-tokens.md",
    ],
)

slack = []
for kind in "bpaors":
    slack.append(f"xox{kind}-{rand(string.digits, 12)}-{rand(string.digits, 13)}-{rand(ALNUM, 24)}")
    slack.append(f"xox{kind}-{rand(string.digits, 11)}-{rand(ALNUM, 32)}")
write(
    "slack_token",
    contexts("slack_token", slack, CRED_TEMPLATES),
    [
        "xoxz-123456789012-abcdefghijkl", "xoxb-12-ab", "xoxb", "xoxb-", "xoxb-notatoken",
        "xoxp-12345", "Xoxb-123456789012-abcdefghijklmn", "axoxb-123456789012-abcdefghijklmn",
        "slack bot token goes here", "xox-123456789012-abcdefghijklmn",
    ],
)

google = ["AIza" + rand(ALNUM + "_-", 35) for _ in range(12)]
write(
    "google_api_key",
    contexts("google_api_key", google, CRED_TEMPLATES),
    [
        "AIza" + rand(ALNUM, 30), "AIzb" + rand(ALNUM, 35), "xAIza" + rand(ALNUM, 35),
        "AIza" + rand(ALNUM, 36), "aiza" + rand(ALNUM, 35), "AIza", "AIza-short",
        "the AIza prefix marks Google keys", "AIZA" + rand(ALNUM, 35), "AI" + rand(ALNUM, 37),
    ],
)

stripe = [p + rand(ALNUM, rng.choice([24, 32, 99])) for p in
          ["sk_live_", "sk_test_", "rk_live_", "rk_test_", "pk_live_", "sk_live_"] * 2]
write(
    "stripe_key",
    contexts("stripe_key", stripe, CRED_TEMPLATES),
    [
        "pk_test_" + rand(ALNUM, 24), "sk_live_" + rand(ALNUM, 10), "sk_prod_" + rand(ALNUM, 24),
        "xsk_live_" + rand(ALNUM, 24), "sk_live_", "SK_LIVE_" + rand(ALNUM, 24),
        "sk-live-" + rand(ALNUM, 24), "stripe sk_live key", "rk_prod_" + rand(ALNUM, 24),
        "pk_" + rand(ALNUM, 24),
    ],
)


def pem(label, lines=4, end=True):
    body = "\n".join(rand(ALNUM + "+/", 64) for _ in range(lines))
    text = f"-----BEGIN {label}-----\n{body}"
    return text + (f"\n-----END {label}-----" if end else "")


keys = [
    pem("RSA PRIVATE KEY"), pem("PRIVATE KEY"), pem("EC PRIVATE KEY", 2), pem("DSA PRIVATE KEY"),
    pem("OPENSSH PRIVATE KEY", 6), pem("ENCRYPTED PRIVATE KEY"), pem("PGP PRIVATE KEY BLOCK"),
    pem("RSA PRIVATE KEY", 2, end=False), pem("PRIVATE KEY", 1), pem("EC PRIVATE KEY", 3, end=False),
    pem("RSA PRIVATE KEY", 8), pem("PRIVATE KEY", 3),
]
key_templates = ["{}", "key:\n{}\n", "config = '''{}'''", "{}\nnext line", "ssh key {}"]


def key_line(i, key):
    if "-----END" not in key:
        # A block cut short is masked to the end of the text, whatever follows it.
        return f"truncated: {mark('private_key', key + chr(10) + 'and the rest of the value')}"
    return key_templates[i % len(key_templates)].format(mark("private_key", key))


write(
    "private_key",
    [key_line(i, k) for i, k in enumerate(keys)],
    [
        pem("PUBLIC KEY"), pem("CERTIFICATE"), pem("CERTIFICATE REQUEST"),
        "BEGIN PRIVATE KEY", "store the private key in a vault", "-----BEGIN PRIVATE-----",
        pem("RSA PUBLIC KEY"), "-----END RSA PRIVATE KEY-----", pem("PGP PUBLIC KEY BLOCK"),
        "private_key_path=/etc/ssl/private/server.key", "-----BEGIN private key-----\nabc",
    ],
)

bearer_tokens = [rand(ALNUM + "-._~+/", rng.choice([24, 32, 40])) + rng.choice(["", "=", "=="]) for _ in range(12)]
bearer_tokens = [t if any(c.isdigit() for c in t) else t + "7" for t in bearer_tokens]
bearer_tokens = [t if any(c.isalpha() for c in t) else "a" + t for t in bearer_tokens]
bearer_tokens = [t if not t.rstrip("=").endswith(".") else t.rstrip("=.") + "Q" for t in bearer_tokens]
bearer_templates = [
    "Authorization: Bearer {}", "authorization: bearer {}", "BEARER {}",
    '{{"headers": {{"Authorization": "Bearer {}"}}}}', "curl -H 'Authorization: Bearer {}' https://api",
    "Bearer {}",
]
write(
    "bearer_token",
    [bearer_templates[i % len(bearer_templates)].format(mark("bearer_token", t))
     for i, t in enumerate(bearer_tokens)],
    [
        "Bearer authentication", "uses a bearer token", 'WWW-Authenticate: Bearer realm="example"',
        "Bearer abc123", "the bearer of this letter", "Bearer abcdefghijklmnopqrstuvwxyz",
        "Bearer 12345678901234567890", "bearer-token header missing", "Bearer <token>",
        "Authorization: Basic dXNlcjpwYXNzd29yZA==", "Bearer ${TOKEN}",
    ],
)

# ---------------------------------------------------------------- mixed
# Realistic values holding several kinds at once, or none: log lines, JSON, CSV, support
# tickets. Lines with marks are positives, the rest negatives.
M = mark
mixed = [
    f"2024-05-03T14:20:11Z INFO login ok user={M('email', 'ana.silva@example.pt')} ip={M('ipv4', '203.0.113.9')} ua=Mozilla/5.0",
    f'{{"customer": {{"email": "{M("email", "k.tanaka@example.jp")}", "phone": "{M("phone", "+81 3-1234-5678")}"}}, "total": 129.90}}',
    f"Refund {M('payment_card', '4111 1111 1111 1111')} exp 09/27, contact {M('email', 'billing@example.com')}",
    f"ticket #48213: caller {M('phone', '(212) 555-0147')} says card {M('payment_card', '5555-5555-5555-4444')} was charged twice",
    f"wire to {M('iban', 'DE89 3704 0044 0532 0130 00')} ref INV-2024-0042 amount EUR 1.250,00",
    f"export AWS_ACCESS_KEY_ID={M('aws_access_key_id', 'AKIAIOSFODNN7EXAMPLE')}\nexport AWS_SECRET_ACCESS_KEY={M('aws_secret_key', 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY')}",
    f"curl -H 'Authorization: Bearer {M('jwt', 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c')}' https://api.example.com/v1/me",
    f"name,email,phone\nJane Roe,{M('email', 'jane.roe@example.org')},{M('phone', '+44 20 7946 0958')}",
    f"sshd[812]: Accepted publickey for deploy from {M('ipv6', '2001:db8:85a3::8a2e:370:7334')} port 52144",
    f"nginx: {M('ipv4', '198.51.100.77')} - - [03/May/2024:14:20:11 +0000] \"GET /health HTTP/1.1\" 200 2",
    f"patient SSN {M('us_ssn', '219-09-9999')}, DOB 1984-07-12, MRN 00451233",
    f"git remote set-url origin https://oauth2:{M('gitlab_token', 'glpat-8Xq2LmN4pR7sT1vW9yZ0')}@gitlab.example.com/team/app.git",
    f"SLACK_BOT_TOKEN={M('slack_token', 'xoxb-204118742156-2301345678901-QwErTyUiOpAsDfGhJkLzXcVb')}",
    f"maps key {M('google_api_key', 'AIzaSyD3xQ9vL2mN8pR4tY6uW0zB1cE5fG7hJ9k')} restricted to example.com",
    f"payment intent created with {M('stripe_key', 'sk_test_51HqLyjWDarjtT1zdp7dcXyZ')} in test mode",
    f"GITHUB_TOKEN={M('github_token', 'ghp_R4nd0mT0k3nV4lu3F0rT3st1ngPurp0s3sXy')}",
    f"call me at {M('phone', '415.555.0199')} or {M('phone', '+1 (415) 555-0123')} after 6pm",
    f"from {M('email', 'ops@example.net')}: host {M('ipv4', '10.12.0.7')} and {M('ipv6', 'fe80::1ff:fe23:4567:890a')} are down",
    f"Direct debit mandate for {M('iban', 'GB82WEST12345698765432')} signed by Ana",
    f"kubectl logs pod/api-7d9f8b6c5-x2x9z | grep {M('email', 'svc-account@example.iam.gserviceaccount.com')}",
    "Order 100023 shipped on 2024-05-03 via DHL, tracking 1Z999AA10123456784, 3 items, total $129.90",
    "Deployed version 2.14.3.1 of billing-service to eu-west-1 at 14:20:11 UTC (build 8812)",
    "SELECT id, created_at FROM orders WHERE total > 100.00 AND status = 'paid' LIMIT 50",
    "uuid=550e8400-e29b-41d4-a716-446655440000 sha256=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "Meeting moved to 2024-06-01 10:30-11:15 CET, room 4.12, dial-in code 845 2213 9907",
    "ISBN 978-0-306-40615-7, 2nd edition, 412 pages, published 2019",
    "temperature 21.5C, humidity 48%, pressure 1013.2 hPa at 2024-05-03 14:00",
    "invoice INV-2024-000117 due 2024-06-30, amount 1,234.56 EUR, VAT DE123456789",
    "coordinates 48.8566, 2.3522 (Paris), elevation 35 m",
    "Release notes: fixed crash in Foo::bar(), bumped std::io buffer to 8192 bytes",
    "SNMP OID 1.3.6.1.2.1.1.3.0 returned 183726 ticks",
    "cron: 0 */6 * * * /usr/local/bin/backup --keep 14",
    "Account 00123456789 (internal ledger) balanced at 2024-05-31 23:59:59",
    "base64 payload aGVsbG8gd29ybGQ= decoded to 11 bytes",
    "MAC 3c:22:fb:97:1a:0e joined VLAN 20 at 09:14:02",
    "Chrome/124.0.6367.91 Safari/537.36 on macOS 14.4.1",
    "Phone support hours: Mon-Fri 9:00-17:00, closed on 2024-12-25",
    "Part no. 4417-2210-8890-1 replaced under warranty (RMA 2024-0119)",
    "Reference: bearer bond series 2019-A, coupon 4.25%",
    "keep the client secret in the vault, never in code",
    "user @mariana mentioned you in #support at 10:02",
    "lodash@4.17.21 and react@18.2.0 pinned in package.json",
]
path = os.path.join(HERE, "mixed.tsv")
with open(path, "w", encoding="utf-8") as out:
    out.write("# mixed: label<TAB>text; spans marked \u27e6detector:value\u27e7; pos = has marks\n")
    for line in mixed:
        out.write(f"{'pos' if chr(0x27e6) in line else 'neg'}\t{escape(line)}\n")

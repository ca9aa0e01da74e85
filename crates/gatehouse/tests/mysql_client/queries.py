"""Run queries through gatehouse's MySQL listener in ONE session with PyMySQL, each query
sent as one COM_QUERY message exactly as written (multi-statements on), and print one JSON
object per query: {"ok", "code", "message", "results"} where results holds every result
set's rows (values as text, NULL as null).

Usage: queries.py HOST PORT USER TOKEN CA_FILE DATABASE < queries.json
The token travels only over TLS verified against CA_FILE (PyMySQL's cleartext plugin path).
"""

import json
import sys

import pymysql
from pymysql.constants import CLIENT


def as_text(value):
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray)):
        return value.decode("utf-8", "replace")
    return str(value)


def main():
    host, port, user, token, ca_file, database = sys.argv[1:7]
    queries = json.load(sys.stdin)
    try:
        connection = pymysql.connect(
            host=host,
            port=int(port),
            user=user,
            password=token,
            database=database,
            ssl={"ca": ca_file, "check_hostname": True},
            client_flag=CLIENT.MULTI_STATEMENTS,
            autocommit=True,
        )
    except pymysql.err.MySQLError as error:
        code = error.args[0] if error.args else None
        message = error.args[1] if len(error.args) > 1 else str(error)
        print(json.dumps({"connect_error": {"code": code, "message": message}}))
        return
    for query in queries:
        answer = {"ok": True, "code": None, "message": None, "results": []}
        try:
            with connection.cursor() as cursor:
                cursor.execute(query)
                while True:
                    rows = cursor.fetchall()
                    answer["results"].append([[as_text(v) for v in row] for row in rows])
                    if not cursor.nextset():
                        break
        except pymysql.err.MySQLError as error:
            answer["ok"] = False
            answer["code"] = error.args[0] if error.args else None
            answer["message"] = error.args[1] if len(error.args) > 1 else str(error)
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()

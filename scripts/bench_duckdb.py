#!/usr/bin/env python3
"""DuckDB baseline for benchmark scenario 3: a bot's daily series grouped by channel type.

Loads the two CSV files the benchmark writes into DIR into in-memory DuckDB tables:

  conversations.csv  bot_id,conversation_id,started_at,channel_type
  messages.csv       bot_id,conversation_id,ts,role,channel_type

(times in epoch milliseconds; an empty channel_type means "not set" and is grouped under "",
the messages' channel_type is their conversation's), then answers what Confab's

  GET /v1/bots/{bot}/analytics/conversations?start=..&end=..&interval=1d&group_by=channel_type

(and the same for messages) answers: per day of [--start, --end) in --tz (UTC by default), per
channel type, the conversations started in it (messages sent in it). Every day of the range is in
the answer, zeros included: the days come from a generated series left-joined with the counts.
A channel type is in the answer when it has at least one row in the range. Days are laid out as
Confab does: from the day holding --start to the last day beginning before --end, and rows count
when their time is in [--start, --end).

Each query runs once untimed (warm-up, and the answer), then --repeat times timed in-process with
time.perf_counter() (execute plus fetch of the result); p50/p95 are nearest-rank percentiles.
Loading is timed apart (load_s). Prints one JSON object on stdout:

  {"duckdb_version", "rows": {"conversations", "messages"}, "load_s",
   "conversations_ms": {"p50", "p95", "min"}, "messages_ms": {...},
   "conversations_answer": {channel: [count per day, ...]}, "messages_answer": {...},
   "days", "repeat", "threads", "tz"}

Run it with the venv of scripts/duckdb-venv.sh:
  PY=$(scripts/duckdb-venv.sh | tail -n1)
  $PY scripts/bench_duckdb.py --dir DIR --bot BOT --start MS --end MS [--repeat N] [--tz UTC]
"""

import argparse
import json
import math
import os
import sys
import time

import duckdb

CONVERSATION_TYPES = {
    "bot_id": "VARCHAR",
    "conversation_id": "VARCHAR",
    "started_at": "BIGINT",
    "channel_type": "VARCHAR",
}
MESSAGE_TYPES = {
    "bot_id": "VARCHAR",
    "conversation_id": "VARCHAR",
    "ts": "BIGINT",
    "role": "VARCHAR",
    "channel_type": "VARCHAR",
}


def sql_str(s):
    return "'" + s.replace("'", "''") + "'"


def load(con, table, path, types):
    """`table` from the CSV at `path`, columns by header name; NULL (empty) channel_type as ''."""
    type_map = "{" + ", ".join(f"{sql_str(k)}: {sql_str(v)}" for k, v in types.items()) + "}"
    cols = ", ".join(
        "coalesce(channel_type, '') AS channel_type" if c == "channel_type" else c for c in types
    )
    con.execute(
        f"CREATE TABLE {table} AS SELECT {cols} "
        f"FROM read_csv({sql_str(path)}, header = true, types = {type_map})"
    )
    return con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def day_of(ms_expr, utc):
    """The calendar day (DATE) holding the epoch-milliseconds expression, in the zone $tz."""
    if utc:
        return f"epoch_ms({ms_expr})::DATE"
    # The connection's TimeZone is UTC, so the cast reads epoch_ms's naive UTC timestamp right.
    return f"timezone($tz, epoch_ms({ms_expr})::TIMESTAMPTZ)::DATE"


def days_sql(utc):
    start_day = day_of("$start::BIGINT", utc)
    last_day = day_of("$end::BIGINT - 1", utc)
    return (
        f"SELECT d::DATE AS day "
        f"FROM generate_series({start_day}, {last_day}, INTERVAL 1 DAY) AS t(d)"
    )


def series_sql(table, time_col, utc):
    """Per channel type, per day of the range: the rows of one bot whose `time_col` is in it."""
    return f"""
        WITH days AS ({days_sql(utc)}),
        counts AS (
            SELECT channel_type, {day_of(time_col, utc)} AS day, count(*) AS n
            FROM {table}
            WHERE bot_id = $bot AND {time_col} >= $start::BIGINT AND {time_col} < $end::BIGINT
            GROUP BY ALL
        ),
        channels AS (SELECT DISTINCT channel_type FROM counts)
        SELECT channels.channel_type, days.day, coalesce(counts.n, 0) AS n
        FROM channels CROSS JOIN days
        LEFT JOIN counts USING (channel_type, day)
        ORDER BY channels.channel_type, days.day
    """


def nearest_rank(sorted_values, p):
    return sorted_values[max(0, math.ceil(p / 100 * len(sorted_values)) - 1)]


def timed(con, sql, params, repeat):
    """The query's answer (from an untimed warm-up run) and its timings in milliseconds."""
    answer = con.execute(sql, params).fetchall()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        rows = con.execute(sql, params).fetchall()
        times.append((time.perf_counter() - t0) * 1000)
        if rows != answer:
            sys.exit("bench_duckdb: a timed run answered differently from the warm-up run")
    times.sort()
    stats = {
        "p50": round(nearest_rank(times, 50), 3),
        "p95": round(nearest_rank(times, 95), 3),
        "min": round(times[0], 3),
    }
    return answer, stats


def by_channel(rows, days):
    out = {}
    for channel, _day, n in rows:
        out.setdefault(channel, []).append(int(n))
    for channel, counts in out.items():
        assert len(counts) == days, f"channel {channel!r} has {len(counts)} days, not {days}"
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", required=True, help="holds conversations.csv and messages.csv")
    ap.add_argument("--bot", required=True, help="the bot whose series is asked for")
    ap.add_argument("--start", type=int, required=True, help="range start, epoch ms (included)")
    ap.add_argument("--end", type=int, required=True, help="range end, epoch ms (excluded)")
    ap.add_argument("--repeat", type=int, default=21, help="timed runs of each query")
    ap.add_argument("--tz", default="UTC", help="IANA zone whose days are the buckets")
    args = ap.parse_args()
    if args.end <= args.start:
        ap.error("--end must be after --start")
    if args.repeat < 1:
        ap.error("--repeat must be at least 1")

    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    utc = args.tz.upper() == "UTC"

    t0 = time.perf_counter()
    n_conv = load(
        con, "conversations", os.path.join(args.dir, "conversations.csv"), CONVERSATION_TYPES
    )
    n_msg = load(con, "messages", os.path.join(args.dir, "messages.csv"), MESSAGE_TYPES)
    load_s = time.perf_counter() - t0

    params = {"bot": args.bot, "start": args.start, "end": args.end}
    if not utc:
        params["tz"] = args.tz
    day_params = {k: v for k, v in params.items() if k != "bot"}
    days = con.execute(f"SELECT count(*) FROM ({days_sql(utc)})", day_params).fetchone()[0]

    conv_rows, conv_ms = timed(
        con, series_sql("conversations", "started_at", utc), params, args.repeat
    )
    msg_rows, msg_ms = timed(con, series_sql("messages", "ts", utc), params, args.repeat)

    result = {
        "duckdb_version": duckdb.__version__,
        "rows": {"conversations": n_conv, "messages": n_msg},
        "load_s": round(load_s, 3),
        "conversations_ms": conv_ms,
        "messages_ms": msg_ms,
        "conversations_answer": by_channel(conv_rows, days),
        "messages_answer": by_channel(msg_rows, days),
        "days": days,
        "repeat": args.repeat,
        "threads": con.execute("SELECT current_setting('threads')").fetchone()[0],
        "tz": args.tz,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()

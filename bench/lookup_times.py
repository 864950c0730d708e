"""Times LookupEvents queries against a keyhaven endpoint, one call at a time through boto3, and prints a table.

usage: python3 bench/lookup_times.py ENDPOINT CALLS < queries.json, where queries.json is a list of
[label, LookupEvents keyword arguments]; an argument value "$OLDEST_CREATE_KEY_ID" stands for the id of the oldest
CreateKey event of the account's history."""

import json
import statistics
import sys
import time

import boto3

url, calls = sys.argv[1], int(sys.argv[2])
queries = json.load(sys.stdin)
ct = boto3.client("cloudtrail", endpoint_url=url, region_name="us-east-1", aws_access_key_id="test",
                  aws_secret_access_key="test")
if "$OLDEST_CREATE_KEY_ID" in json.dumps(queries):
    created = ct.lookup_events(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "CreateKey"}])
    queries = json.loads(json.dumps(queries).replace("$OLDEST_CREATE_KEY_ID", created["Events"][-1]["EventId"]))
rows = [["LookupEvents query", "events", "p50 ms", "max ms"]]
for label, kwargs in queries:
    times, found = [], 0
    for _ in range(calls):
        started = time.perf_counter()
        found = len(ct.lookup_events(MaxResults=50, **kwargs)["Events"])
        times.append((time.perf_counter() - started) * 1000)
    rows.append([label, found, f"{statistics.median(times):.1f}", f"{max(times):.1f}"])
widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
for r in rows:
    print("  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(r, widths))))

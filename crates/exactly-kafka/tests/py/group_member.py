"""One kafka-python consumer-group member: polls TOPIC in GROUP, prints "rec <partition>
<offset> <value>" for every record, commits after each poll and prints "commit
<partition>:<position> ..." (the positions it committed). Stops when the file STOP exists
(committing first and leaving the group).

Usage: group_member.py BROKER TOPIC GROUP STOP
"""
import os
import sys

from kafka import KafkaConsumer
from kafka.errors import CommitFailedError

broker, topic, group, stop = sys.argv[1:5]
consumer = KafkaConsumer(
    topic,
    bootstrap_servers=broker,
    group_id=group,
    enable_auto_commit=False,
    auto_offset_reset="earliest",
    session_timeout_ms=3000,
    heartbeat_interval_ms=300,
    max_poll_records=50,
    max_poll_interval_ms=30000,
)
while not os.path.exists(stop):
    batches = consumer.poll(timeout_ms=300)
    for tp, records in batches.items():
        for r in records:
            print(f"rec {r.partition} {r.offset} {r.value.decode()}", flush=True)
    if batches:
        positions = {tp: consumer.position(tp) for tp in consumer.assignment()}
        try:
            consumer.commit()
        except CommitFailedError as e:
            # The group rebalanced: these records are someone else's again (at least once).
            print(f"commitfail {e}", flush=True)
            continue
        line = " ".join(f"{tp.partition}:{position}" for tp, position in positions.items())
        print(f"commit {line}", flush=True)
try:
    consumer.commit()
except CommitFailedError as e:
    print(f"commitfail {e}", flush=True)
consumer.close()
print("stopped", flush=True)

"""Produces payload ids 0..N-1 with confluent-kafka's idempotent producer, keyed so that
each partition gets an increasing subsequence. Prints one line per acknowledged id
("ack <id> <partition> <offset>") and, at the end, "done <acked> <failed>".

Usage: idempotent_produce.py BROKER TOPIC N [RECORDS_PER_SECOND]
"""
import sys
import time

from confluent_kafka import Producer

broker, topic, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
rate = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0
producer = Producer({
    "bootstrap.servers": broker,
    "enable.idempotence": True,
    "acks": "all",
    "linger.ms": 5,
    "batch.num.messages": 200,
    "message.timeout.ms": 120000,
    "reconnect.backoff.ms": 50,
    "reconnect.backoff.max.ms": 500,
})
failed = 0
acked = 0


def delivered(err, msg):
    global failed, acked
    if err is not None:
        failed += 1
        print(f"fail {msg.value().decode()} {err}", flush=True)
    else:
        acked += 1
        print(f"ack {msg.value().decode()} {msg.partition()} {msg.offset()}", flush=True)


started = time.monotonic()
for i in range(n):
    if rate > 0 and i % 100 == 0:
        ahead = i / rate - (time.monotonic() - started)
        if ahead > 0:
            time.sleep(ahead)
    while True:
        try:
            producer.produce(topic, key=str(i % 7).encode(), value=str(i).encode(),
                             on_delivery=delivered)
            break
        except BufferError:
            producer.poll(0.05)
    producer.poll(0)
remaining = producer.flush(180)
print(f"done {acked} {failed} {remaining}", flush=True)

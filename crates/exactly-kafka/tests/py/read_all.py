"""Reads every partition of a topic from the beginning to its end with a plain
confluent-kafka consumer (no group), printing "<partition> <offset> <value>" per record.
isolation.level is read_committed unless argv[3] is "uncommitted".

Usage: read_all.py BROKER TOPIC [uncommitted]
"""
import sys

from confluent_kafka import Consumer, TopicPartition, KafkaError

broker, topic = sys.argv[1], sys.argv[2]
isolation = "read_uncommitted" if len(sys.argv) > 3 and sys.argv[3] == "uncommitted" else "read_committed"
consumer = Consumer({
    "bootstrap.servers": broker,
    "group.id": "read-all-unused",
    "enable.auto.commit": False,
    "enable.partition.eof": True,
    "isolation.level": isolation,
})
metadata = consumer.list_topics(topic, timeout=30)
partitions = sorted(metadata.topics[topic].partitions)
consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
at_end = set()
while len(at_end) < len(partitions):
    msg = consumer.poll(5)
    if msg is None:
        continue
    if msg.error():
        if msg.error().code() == KafkaError._PARTITION_EOF:
            at_end.add(msg.partition())
            continue
        raise SystemExit(f"consume error: {msg.error()}")
    at_end.discard(msg.partition())
    print(f"{msg.partition()} {msg.offset()} {msg.value().decode()}", flush=True)
consumer.close()

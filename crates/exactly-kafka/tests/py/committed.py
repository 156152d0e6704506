"""Prints "<partition> <committed offset>" for every partition of TOPIC in GROUP (-1 when
none), read with a kafka-python consumer that does not join the group.

Usage: committed.py BROKER TOPIC GROUP
"""
import sys

from kafka import KafkaConsumer, TopicPartition

broker, topic, group = sys.argv[1:4]
consumer = KafkaConsumer(bootstrap_servers=broker, group_id=group, enable_auto_commit=False)
for p in sorted(consumer.partitions_for_topic(topic)):
    committed = consumer.committed(TopicPartition(topic, p))
    print(f"{p} {committed if committed is not None else -1}", flush=True)
consumer.close()

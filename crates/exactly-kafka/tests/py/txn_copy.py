"""A confluent-kafka consume-transform-produce loop: reads IN (read_committed, positions of
GROUP), writes "out-<value>" to OUT in transactions that also commit the input positions
(send_offsets_to_transaction). On any error (the server is being killed) it aborts if it
can, drops producer and consumer, and starts again from the committed positions with a new
producer of the same transactional id (which fences the old one). Stops when the committed
positions reach the end of IN. Prints "restarts <n>" and "done".

Usage: txn_copy.py BROKER IN OUT TRANSACTIONAL_ID GROUP
"""
import sys
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

broker, in_topic, out_topic, txn_id, group = sys.argv[1:6]


def make():
    producer = Producer({
        "bootstrap.servers": broker,
        "transactional.id": txn_id,
        "transaction.timeout.ms": 10000,
        "reconnect.backoff.ms": 50,
        "reconnect.backoff.max.ms": 500,
    })
    producer.init_transactions(30)
    consumer = Consumer({
        "bootstrap.servers": broker,
        "group.id": group,
        "enable.auto.commit": False,
        "isolation.level": "read_committed",
        "auto.offset.reset": "earliest",
        "reconnect.backoff.ms": 50,
        "reconnect.backoff.max.ms": 500,
    })
    metadata = consumer.list_topics(in_topic, timeout=30)
    partitions = [TopicPartition(in_topic, p) for p in sorted(metadata.topics[in_topic].partitions)]
    consumer.assign(partitions)
    return producer, consumer, partitions


def finished(consumer, partitions):
    committed = consumer.committed(partitions, timeout=10)
    for tp in committed:
        _, high = consumer.get_watermark_offsets(TopicPartition(in_topic, tp.partition), timeout=10)
        # A partition without a committed position (-1001) counts from 0.
        if max(tp.offset, 0) < high:
            return False
    return True


restarts = 0
producer = consumer = None
while True:
    try:
        if producer is None:
            producer, consumer, partitions = make()
        msgs = consumer.consume(num_messages=200, timeout=1)
        msgs = [m for m in msgs if m.error() is None]
        if not msgs:
            if finished(consumer, partitions):
                break
            continue
        producer.begin_transaction()
        for m in msgs:
            producer.produce(out_topic, key=m.key(), value=b"out-" + m.value())
        producer.send_offsets_to_transaction(
            consumer.position(consumer.assignment()), consumer.consumer_group_metadata(), 30)
        producer.commit_transaction(30)
    except KafkaException as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        restarts += 1
        try:
            if producer is not None:
                producer.abort_transaction(5)
        except KafkaException:
            pass
        if consumer is not None:
            try:
                consumer.close()
            except (KafkaException, RuntimeError):
                pass
        producer = consumer = None
        time.sleep(0.3)
print(f"restarts {restarts}", flush=True)
consumer.close()
print("done", flush=True)

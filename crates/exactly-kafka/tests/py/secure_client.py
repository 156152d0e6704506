"""confluent-kafka against a server with TLS/SASL/ACLs.

secure_client.py round-trip CONFIG TOPIC COUNT GROUP
    produce COUNT records (key k<i>, value v<i>), then read them back with a consumer
    group from the beginning; prints {"produce_errors": [...], "consumed": [[k, v, offset], ...]}
secure_client.py produce-one CONFIG TOPIC
    produce one record; prints {"delivery": "ok" | error name, "errors": [error_cb names]}
secure_client.py txn CONFIG TOPIC TRANSACTIONAL_ID
    init_transactions, one record in a transaction, commit; prints {"outcome": "ok" | error name}
secure_client.py group CONFIG TOPIC GROUP
    subscribe with a group and poll 10 s; prints {"errors": [error names], "consumed": n}
CONFIG is a JSON object of librdkafka settings (security.protocol, sasl.*, ssl.*).
"""
import json
import sys
import time

from confluent_kafka import Consumer, KafkaException, Producer


def round_trip(config, topic, count, group):
    errors = []
    producer = Producer({**config, "enable.idempotence": True, "linger.ms": 5})

    def delivered(err, _msg):
        if err is not None:
            errors.append(err.name())

    for i in range(count):
        producer.produce(topic, key=f"k{i}", value=f"v{i}", on_delivery=delivered)
        producer.poll(0)
    left = producer.flush(60)
    if left:
        errors.append(f"{left} not delivered")
    consumer = Consumer({
        **config,
        "group.id": group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "isolation.level": "read_committed",
    })
    consumer.subscribe([topic])
    consumed = []
    deadline = time.time() + 60
    while len(consumed) < count and time.time() < deadline:
        msg = consumer.poll(1.0)
        if msg is None:
            continue
        if msg.error():
            errors.append(msg.error().name())
            continue
        consumed.append([msg.key().decode(), msg.value().decode(), msg.offset()])
    consumer.commit(asynchronous=False)
    consumer.close()
    print(json.dumps({"produce_errors": errors, "consumed": consumed}))


def produce_one(config, topic):
    errors = []
    outcome = {}

    def on_error(err):
        errors.append(err.name())

    def delivered(err, _msg):
        outcome["delivery"] = "ok" if err is None else err.name()

    producer = Producer({**config, "error_cb": on_error, "message.timeout.ms": 8000,
                         "retries": 0})
    producer.produce(topic, key="k", value="v", on_delivery=delivered)
    producer.flush(15)
    outcome.setdefault("delivery", "none")
    outcome["errors"] = sorted(set(errors))
    print(json.dumps(outcome))


def txn(config, topic, transactional_id):
    producer = Producer({**config, "transactional.id": transactional_id})
    try:
        producer.init_transactions(20)
        producer.begin_transaction()
        producer.produce(topic, key="k", value="v")
        producer.commit_transaction(20)
        print(json.dumps({"outcome": "ok"}))
    except KafkaException as e:
        print(json.dumps({"outcome": e.args[0].name()}))


def group(config, topic, group_id):
    errors = []
    consumer = Consumer({**config, "group.id": group_id, "auto.offset.reset": "earliest",
                         "error_cb": lambda err: errors.append(err.name())})
    consumer.subscribe([topic])
    consumed = 0
    deadline = time.time() + 10
    while time.time() < deadline and not errors:
        msg = consumer.poll(0.5)
        if msg is None:
            continue
        if msg.error():
            errors.append(msg.error().name())
        else:
            consumed += 1
    consumer.close()
    print(json.dumps({"errors": sorted(set(errors)), "consumed": consumed}))


def main():
    mode, config, topic = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
    if mode == "round-trip":
        round_trip(config, topic, int(sys.argv[4]), sys.argv[5])
    elif mode == "produce-one":
        produce_one(config, topic)
    elif mode == "txn":
        txn(config, topic, sys.argv[4])
    elif mode == "group":
        group(config, topic, sys.argv[4])
    else:
        sys.exit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()

"""Two producers with one transactional.id: the second's init_transactions fences the
first, whose open transaction is aborted and whose commit fails. Prints "fenced" when the
zombie's commit was refused, then "live committed".

Usage: zombie_fenced.py BROKER TOPIC TRANSACTIONAL_ID
"""
import sys

from confluent_kafka import KafkaException, Producer

broker, topic, txn_id = sys.argv[1:4]
config = {"bootstrap.servers": broker, "transactional.id": txn_id}
zombie = Producer(config)
zombie.init_transactions(30)
zombie.begin_transaction()
zombie.produce(topic, value=b"zombie")
zombie.flush(30)

live = Producer(config)
live.init_transactions(30)
try:
    zombie.produce(topic, value=b"zombie-late")
    zombie.commit_transaction(30)
    print("zombie committed", flush=True)
except KafkaException as e:
    print(f"fenced: {e}", flush=True)
live.begin_transaction()
live.produce(topic, value=b"live")
live.commit_transaction(30)
print("live committed", flush=True)

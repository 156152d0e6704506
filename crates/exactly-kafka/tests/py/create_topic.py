"""Creates a topic with confluent-kafka's AdminClient (CreateTopics).

Usage: create_topic.py BROKER TOPIC PARTITIONS
"""
import sys

from confluent_kafka.admin import AdminClient, NewTopic

broker, topic, partitions = sys.argv[1], sys.argv[2], int(sys.argv[3])
admin = AdminClient({"bootstrap.servers": broker})
futures = admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
futures[topic].result(30)
print("created", flush=True)

#!/usr/bin/env python3
"""kafka-python's KafkaAdminClient against the kafkit test broker.

Usage: kafka_python_admin.py BOOTSTRAP RUST_TOPIC PY_TOPIC

RUST_TOPIC was made by the Rust side over the wire (4 partitions, replication factor 3,
retention.ms=123456, cleanup.policy=compact); PY_TOPIC and PY_TOPIC-doomed must not exist.
The script:
  1. reads the cluster (describe_cluster) and RUST_TOPIC (describe_topics, describe_configs);
  2. creates PY_TOPIC (3 partitions, replication factor 2, retention.ms=7200000), sets
     max.message.bytes=65536 with IncrementalAlterConfigs and then segment.ms=3600000 with the
     legacy AlterConfigs (which kafka-python fills in with the other overrides), grows it to 5
     partitions (create_partitions) and reads all of it back;
  3. creates PY_TOPIC-doomed, lists it, deletes it and lists again.

Output lines (stdout), each written only when what it says was checked:
  cluster ID controller N brokers A,B,C
  TOPIC partitions N replication R in-sync yes|no
  TOPIC modified NAME,NAME,...          the overridden configs (config_filter=modified)
  TOPIC config NAME VALUE SOURCE        one per overridden config
  PY_TOPIC created | altered incremental | altered legacy
  PY_TOPIC-doomed listed yes|no | deleted
  done
Every call has a bounded timeout and the whole script a hard deadline (SIGALRM); on failure it
prints why on stderr and exits non-zero.
"""

import signal
import sys

from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient

signal.alarm(60)

BOOTSTRAP, RUST_TOPIC, PY_TOPIC = sys.argv[1], sys.argv[2], sys.argv[3]
DOOMED = PY_TOPIC + "-doomed"
TIMEOUT_MS = 10000


def fail(message):
    print("FAIL: " + message, file=sys.stderr, flush=True)
    sys.exit(1)


def out(line):
    print(line, flush=True)


def describe_topic(admin, topic):
    described = admin.describe_topics([topic])
    if len(described) != 1 or described[0]["error_code"] != 0:
        fail("describe_topics(%s): %r" % (topic, described))
    partitions = described[0]["partitions"]
    replication = {len(p["replica_nodes"]) for p in partitions}
    if len(replication) != 1:
        fail("uneven replication in %r" % described)
    in_sync = all(
        p["error_code"] == 0
        and p["leader_id"] in p["replica_nodes"]
        and sorted(p["isr_nodes"]) == sorted(p["replica_nodes"])
        for p in partitions
    )
    out("%s partitions %d replication %d in-sync %s"
        % (topic, len(partitions), replication.pop(), "yes" if in_sync else "no"))


def describe_modified_configs(admin, topic):
    described = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    configs = described["topic"][topic]
    out("%s modified %s" % (topic, ",".join(sorted(configs))))
    for name in sorted(configs):
        c = configs[name]
        out("%s config %s %s %s" % (topic, name, c["value"], c["config_source"]))
    return configs


def expect_ok(what, result):
    status = result.get("topic", {}).get(PY_TOPIC)
    if status != "OK":
        fail("%s: %r" % (what, result))


def main():
    admin = KafkaAdminClient(
        bootstrap_servers=BOOTSTRAP,
        client_id="kafkit-admin-interop",
        request_timeout_ms=TIMEOUT_MS,
    )

    # 1. What the Rust side made.
    cluster = admin.describe_cluster()
    brokers = sorted(b["broker_id"] for b in cluster["brokers"])
    out("cluster %s controller %d brokers %s"
        % (cluster["cluster_id"], cluster["controller_id"], ",".join(map(str, brokers))))
    describe_topic(admin, RUST_TOPIC)
    describe_modified_configs(admin, RUST_TOPIC)

    # 2. A topic of our own.
    admin.create_topics(
        {PY_TOPIC: {"num_partitions": 3, "replication_factor": 2,
                    "configs": {"retention.ms": "7200000"}}},
        timeout_ms=TIMEOUT_MS,
    )
    if PY_TOPIC not in admin.list_topics():
        fail("%s not listed after create_topics" % PY_TOPIC)
    out("%s created" % PY_TOPIC)
    expect_ok("incremental alter_configs", admin.alter_configs(
        [ConfigResource(ConfigResourceType.TOPIC, PY_TOPIC, configs={"max.message.bytes": "65536"})],
        incremental=True,
    ))
    out("%s altered incremental" % PY_TOPIC)
    expect_ok("legacy alter_configs", admin.alter_configs(
        [ConfigResource(ConfigResourceType.TOPIC, PY_TOPIC, configs={"segment.ms": "3600000"})],
        incremental=False,
    ))
    out("%s altered legacy" % PY_TOPIC)
    response = admin.create_partitions({PY_TOPIC: 5}, timeout_ms=TIMEOUT_MS)
    if any(r.error_code != 0 for r in response.results):
        fail("create_partitions: %r" % response)
    describe_topic(admin, PY_TOPIC)
    describe_modified_configs(admin, PY_TOPIC)

    # 3. Create, list, delete, list.
    admin.create_topics({DOOMED: {"num_partitions": 1, "replication_factor": 1}}, timeout_ms=TIMEOUT_MS)
    out("%s listed %s" % (DOOMED, "yes" if DOOMED in admin.list_topics() else "no"))
    deleted = admin.delete_topics([DOOMED], timeout_ms=TIMEOUT_MS)
    results = deleted["topics"]
    if len(results) != 1 or results[0]["name"] != DOOMED or results[0]["error_code"] != 0:
        fail("delete_topics: %r" % deleted)
    out("%s deleted" % DOOMED)
    out("%s listed %s" % (DOOMED, "yes" if DOOMED in admin.list_topics() else "no"))

    admin.close()
    out("done")


if __name__ == "__main__":
    main()

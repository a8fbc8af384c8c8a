#!/usr/bin/env python3
"""kafka-python's KafkaAdminClient (and consumer) as the independent peer for kafkit's admin
client tests (tests/admin_client.rs).

Usage: admin_kafka_python.py BOOTSTRAP COMMAND [JSON_ARGUMENT]

Prints canonical text lines on stdout (sorted where order is not meaningful), in the same
format the Rust test renders kafkit's AdminClient results in, so the two compare as strings. Exits non-zero (with a traceback) on an unexpected failure.
"""
import json
import sys

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import (AlterConfigOp, ConfigResource, ConfigResourceType, NewPartitions,
                         NewTopic, OffsetSpec)


def error_name(value):
    """An error (class, instance, string or None) as its Kafka name, None for success."""
    if value is None:
        return None
    if isinstance(value, str):
        return None if value in ("OK", "NoError") else value
    name = getattr(value, "__name__", None) or type(value).__name__
    return None if name in ("NoError", "NoneType") else name


def describe_topic(admin, name):
    topics = admin.describe_topics([name])
    t = topics[0]
    if t["error_code"] != 0:
        return {"error_code": t["error_code"]}
    return {
        "name": t["name"],
        "topic_id": str(t["topic_id"]),
        "internal": t["is_internal"],
        "partitions": sorted(
            (
                {
                    "partition": p["partition_index"],
                    "leader": p["leader_id"],
                    "replicas": p["replica_nodes"],
                    "isr": p["isr_nodes"],
                    "offline": p["offline_replicas"],
                }
                for p in t["partitions"]
            ),
            key=lambda p: p["partition"],
        ),
    }


def configs(admin, resource_type, name):
    result = admin.describe_configs([ConfigResource(resource_type, name)], config_filter="all")
    kind = "topic" if resource_type == ConfigResourceType.TOPIC else "broker"
    entries = result[kind][str(name)]
    return {
        key: {
            "value": e["value"],
            "source": e["config_source"],
            "read_only": e["read_only"],
            "sensitive": e["is_sensitive"],
        }
        for key, e in entries.items()
    }


def flag(b):
    return "true" if b else "false"


def ints(values):
    return ",".join(str(v) for v in values)


def render(command, out):
    """The canonical lines for a command's normalised result."""
    if command == "describe_cluster":
        yield f"cluster_id {out['cluster_id']}"
        yield f"controller {out['controller']}"
        for broker_id, host, port in out["brokers"]:
            yield f"broker {broker_id} {host} {port}"
    elif command == "list_topics":
        yield from out
    elif command == "describe_topic":
        if "error_code" in out:
            yield f"error {out['error_code']}"
            return
        yield f"topic {out['name']} id {out['topic_id']} internal {flag(out['internal'])}"
        for p in out["partitions"]:
            yield (f"partition {p['partition']} leader {p['leader']} replicas {ints(p['replicas'])}"
                   f" isr {ints(p['isr'])} offline {ints(p['offline'])}")
    elif command in ("topic_configs", "broker_configs"):
        for key in sorted(out):
            e = out[key]
            value = "null" if e["value"] is None else e["value"]
            yield (f"{key} value={value} source={e['source']} read_only={flag(e['read_only'])}"
                   f" sensitive={flag(e['sensitive'])}")
    elif command in ("create_topic", "create_partitions"):
        yield f"error {out['error_code']} {out['error_message'] or ''}".rstrip()
    elif command in ("alter_configs", "delete_group"):
        yield f"error {out['error'] or 'none'}"
    elif command == "delete_topic":
        yield out["result"]
    elif command == "list_groups":
        for g in out:
            yield f"group {g['group_id']} protocol_type {g['protocol_type']} state {g['state']}"
    elif command == "describe_group":
        yield f"state {out['state']}"
        yield f"protocol_type {out['protocol_type']}"
        yield f"protocol {out['protocol']}"
        for m in out["members"]:
            assignment = ",".join(f"{t}:{p}" for t, p in m["assignment"])
            yield f"member {m['member_id']} client {m['client_id']} host {m['host']} assignment {assignment}"
    elif command in ("group_offsets", "list_offsets", "delete_records"):
        for key in sorted(out):
            yield f"{key} {out[key]}"
    elif command == "consume_commit":
        yield f"consumed {out['consumed']}"


def main():
    bootstrap, command = sys.argv[1], sys.argv[2]
    arg = json.loads(sys.argv[3]) if len(sys.argv) > 3 else None
    servers = bootstrap.split(",")
    admin = KafkaAdminClient(bootstrap_servers=servers, request_timeout_ms=30000)
    if command == "describe_cluster":
        c = admin.describe_cluster()
        out = {
            "cluster_id": c["cluster_id"],
            "controller": c["controller_id"],
            "brokers": sorted([b["broker_id"], b["host"], b["port"]] for b in c["brokers"]),
        }
    elif command == "list_topics":
        out = sorted(admin.list_topics())
    elif command == "describe_topic":
        out = describe_topic(admin, arg)
    elif command == "topic_configs":
        out = configs(admin, ConfigResourceType.TOPIC, arg)
    elif command == "broker_configs":
        out = configs(admin, ConfigResourceType.BROKER, str(arg))
    elif command == "create_topic":
        r = admin.create_topics(
            [NewTopic(arg["name"], arg["partitions"], arg["replication_factor"],
                      topic_configs=arg.get("configs", {}))],
            raise_errors=False,
        )
        t = r["topics"][0]
        out = {"error_code": t["error_code"], "error_message": t["error_message"]}
    elif command == "create_partitions":
        r = admin.create_partitions({arg["topic"]: NewPartitions(arg["count"])}, raise_errors=False)
        t = r.results[0]
        out = {"error_code": t.error_code, "error_message": t.error_message}
    elif command == "alter_configs":
        ops = {k: (AlterConfigOp.SET, v) for k, v in arg.get("set", {}).items()}
        ops.update({k: (AlterConfigOp.DELETE, None) for k in arg.get("delete", [])})
        r = admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, arg["topic"], ops)],
                                incremental=True)
        out = {"error": error_name(r["topic"][arg["topic"]])}
    elif command == "delete_topic":
        r = admin.delete_topics([arg], raise_errors=False)
        out = {"result": str(r)}
    elif command == "list_groups":
        out = sorted(
            ({"group_id": g["group_id"], "protocol_type": g["protocol_type"],
              "state": g["group_state"]} for g in admin.list_groups()),
            key=lambda g: g["group_id"],
        )
    elif command == "describe_group":
        g = admin.describe_groups([arg])[arg]
        out = {
            "state": g["group_state"],
            "protocol_type": g["protocol_type"],
            "protocol": g["protocol_data"],
            "members": sorted(
                (
                    {
                        "member_id": m["member_id"],
                        "client_id": m["client_id"],
                        "host": m["client_host"],
                        "assignment": sorted(
                            [a["topic"], p]
                            for a in ((m["member_assignment"] or {}).get("assigned_partitions") or [])
                            for p in a["partitions"]
                        ),
                    }
                    for m in g["members"]
                ),
                key=lambda m: m["member_id"],
            ),
        }
    elif command == "group_offsets":
        offsets = admin.list_group_offsets(arg)[arg]
        out = {f"{tp.topic}:{tp.partition}": o.offset for tp, o in offsets.items()}
    elif command == "delete_group":
        out = {"error": error_name(admin.delete_groups([arg])[arg])}
    elif command == "list_offsets":
        specs = {"earliest": OffsetSpec.EARLIEST, "latest": OffsetSpec.LATEST}
        request = {}
        for key, spec in arg.items():
            topic, partition = key.rsplit(":", 1)
            request[TopicPartition(topic, int(partition))] = specs[spec]
        r = admin.list_partition_offsets(request)
        out = {f"{tp.topic}:{tp.partition}": o.offset for tp, o in r.items()}
    elif command == "delete_records":
        request = {}
        for key, offset in arg.items():
            topic, partition = key.rsplit(":", 1)
            request[TopicPartition(topic, int(partition))] = offset
        r = admin.delete_records(request)
        out = {f"{tp.topic}:{tp.partition}": v["low_watermark"] for tp, v in r.items()}
    elif command == "consume_commit":
        # Join `group`, read `count` records of `topic` from the start, commit, leave.
        consumer = KafkaConsumer(
            arg["topic"], group_id=arg["group"], bootstrap_servers=servers,
            auto_offset_reset="earliest", enable_auto_commit=False,
            consumer_timeout_ms=60000,
        )
        seen = 0
        while seen < arg["count"]:
            batch = consumer.poll(timeout_ms=1000)
            seen += sum(len(records) for records in batch.values())
        consumer.commit()
        consumer.close()
        out = {"consumed": seen}
    else:
        raise SystemExit(f"unknown command {command}")
    admin.close()
    for line in render(command, out):
        print(line)


if __name__ == "__main__":
    main()

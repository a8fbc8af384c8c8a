#!/usr/bin/env python3
"""kafka-python as the independent reader for tests/producer_acceptance.rs.

  consume --bootstrap B --topic T [--timeout S]
      Reads every partition of T from the beginning with KafkaConsumer and manual assign()
      (no consumer group) up to the end offsets seen at start. Prints, per partition,
      `end PARTITION OFFSET`, then per record

        record PARTITION OFFSET TIMESTAMP PLACEMENT KEYHEX VALUEHEX HEADERS

      where TIMESTAMP is the record's timestamp in ms, PLACEMENT is the partition kafka-python's own DefaultPartitioner (its pure-Python
      murmur2) picks for the record's key among the topic's partitions ('-' for a null key),
      KEYHEX/VALUEHEX are hex ('-' for null) and HEADERS is '-' for none or a comma-separated
      list of `NAMEHEX:VALUEHEX` ('-' for a null header value), in record order.

Exits non-zero with a message on stderr when the end offsets are not reached within S seconds.
"""

import argparse
import sys
import time

from kafka import KafkaConsumer, TopicPartition
from kafka.partitioner.default import DefaultPartitioner


def hexof(data):
    return "-" if data is None else bytes(data).hex()


class _Cluster:
    """The three ClusterMetadata methods DefaultPartitioner consults, for one topic."""

    def __init__(self, topic, partitions):
        self._topic = topic
        self._partitions = set(partitions)

    def topics(self):
        return {self._topic}

    def partitions_for_topic(self, topic):
        return set(self._partitions)

    def available_partitions_for_topic(self, topic):
        return set(self._partitions)


def headers_of(record):
    headers = record.headers or []
    if not headers:
        return "-"
    return ",".join(f"{name.encode('utf-8').hex()}:{hexof(value)}" for name, value in headers)


def consume(args):
    consumer = KafkaConsumer(
        bootstrap_servers=args.bootstrap.split(","),
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        request_timeout_ms=20000,
        fetch_max_wait_ms=100,
        max_partition_fetch_bytes=4 * 1024 * 1024,
        fetch_max_bytes=16 * 1024 * 1024,
    )
    deadline = time.monotonic() + args.timeout
    partitions = None
    while not partitions and time.monotonic() < deadline:
        partitions = consumer.partitions_for_topic(args.topic)
    if not partitions:
        sys.exit(f"topic {args.topic} has no partitions")
    partitioner = DefaultPartitioner()
    cluster = _Cluster(args.topic, partitions)
    assigned = [TopicPartition(args.topic, p) for p in sorted(partitions)]
    consumer.assign(assigned)
    consumer.seek_to_beginning(*assigned)
    end = consumer.end_offsets(assigned)
    out = []
    for tp in assigned:
        out.append(f"end {tp.partition} {end[tp]}")
    while True:
        if all(consumer.position(tp) >= end[tp] for tp in assigned):
            break
        if time.monotonic() >= deadline:
            positions = {tp.partition: consumer.position(tp) for tp in assigned}
            sys.exit(f"{args.topic}: positions {positions} did not reach the end offsets {end}")
        batches = consumer.poll(timeout_ms=200)
        for tp, records in sorted(batches.items(), key=lambda item: item[0].partition):
            for r in records:
                if r.offset >= end[tp]:
                    continue
                if r.key is None:
                    placement = "-"
                else:
                    placement = str(partitioner.partition(args.topic, r.key, r.key, r.value, r.value, cluster))
                out.append(
                    f"record {tp.partition} {r.offset} {r.timestamp} {placement} {hexof(r.key)} {hexof(r.value)} {headers_of(r)}"
                )
    consumer.close()
    sys.stdout.write("\n".join(out) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("consume")
    c.add_argument("--bootstrap", required=True)
    c.add_argument("--topic", required=True)
    c.add_argument("--timeout", type=float, default=40.0)
    args = parser.parse_args()
    consume(args)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""kafka-python as an interop peer for the kafkit test broker (driven by tests/interop_*.rs).

  produce --bootstrap B --topic T --compression C
      Reads `KEYHEX VALUEHEX` lines on stdin ('-' = null), sends them in order with
      KafkaProducer (acks=all, the given compression_type, kafka-python's default murmur2
      partitioner), waits for every acknowledgement and prints `ack INDEX PARTITION OFFSET`.
  consume --bootstrap B --topic T --expect N [--timeout S]
      Reads every partition of T from the beginning with KafkaConsumer and manual assign()
      (no consumer group) until the end offsets seen at start are reached, and prints
      `record PARTITION OFFSET KEYHEX VALUEHEX` per record. Fails if it does not get N records
      within S seconds.

Exits non-zero with a message on stderr on any failure.
"""

import argparse
import sys
import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition


def hexof(data):
    return "-" if data is None else data.hex()


def unhex(text):
    return None if text == "-" else bytes.fromhex(text)


def produce(args):
    messages = []
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        key, value = line.split(" ")
        messages.append((unhex(key), unhex(value)))
    compression = None if args.compression == "none" else args.compression
    producer = KafkaProducer(
        bootstrap_servers=args.bootstrap.split(","),
        compression_type=compression,
        acks="all",
        linger_ms=5,
        retries=3,
        max_in_flight_requests_per_connection=1,
        request_timeout_ms=20000,
    )
    futures = [producer.send(args.topic, key=k, value=v) for (k, v) in messages]
    producer.flush(timeout=30)
    for index, future in enumerate(futures):
        meta = future.get(timeout=30)
        print(f"ack {index} {meta.partition} {meta.offset}")
    producer.close(timeout=10)
    print(f"produced {len(messages)}", file=sys.stderr)


def consume(args):
    consumer = KafkaConsumer(
        bootstrap_servers=args.bootstrap.split(","),
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        request_timeout_ms=20000,
        fetch_max_wait_ms=100,
    )
    deadline = time.monotonic() + args.timeout
    partitions = None
    while partitions is None and time.monotonic() < deadline:
        partitions = consumer.partitions_for_topic(args.topic)
    if not partitions:
        sys.exit(f"topic {args.topic} has no partitions")
    assigned = [TopicPartition(args.topic, p) for p in sorted(partitions)]
    consumer.assign(assigned)
    consumer.seek_to_beginning(*assigned)
    end = consumer.end_offsets(assigned)
    count = 0
    while time.monotonic() < deadline:
        if all(consumer.position(tp) >= end[tp] for tp in assigned):
            break
        batches = consumer.poll(timeout_ms=200)
        for tp, records in sorted(batches.items(), key=lambda item: item[0].partition):
            for r in records:
                print(f"record {tp.partition} {r.offset} {hexof(r.key)} {hexof(r.value)}")
                count += 1
    consumer.close()
    if count != args.expect:
        sys.exit(f"read {count} records from {args.topic}, expected {args.expect} (end offsets {end})")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("produce")
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--compression", default="none", choices=["none", "gzip", "snappy", "lz4", "zstd"])
    c = sub.add_parser("consume")
    c.add_argument("--bootstrap", required=True)
    c.add_argument("--topic", required=True)
    c.add_argument("--expect", type=int, required=True)
    c.add_argument("--timeout", type=float, default=40.0)
    args = parser.parse_args()
    if args.command == "produce":
        produce(args)
    else:
        consume(args)


if __name__ == "__main__":
    main()

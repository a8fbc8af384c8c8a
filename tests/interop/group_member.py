#!/usr/bin/env python3
"""One consumer-group member driven by tests/consumer_group_interop.rs: kafka-python or
confluent-kafka (librdkafka) in a group with a kafkit `Consumer`.

  group_member.py --client kafka-python|confluent --bootstrap B --topic T --group G
                  --assignor NAME --client-id ID [--timeout S]

Subscribes to T in group G with the one partition assignor NAME, offsets committed by hand
(enable.auto.commit off): synchronously after every batch it has printed, and (librdkafka,
which rebalances in the background) for the partitions being revoked from the revocation
callback. Prints on stdout, one line each and
flushed at once, so the test can wait on them instead of sleeping:

  ready                       subscribed (the first JoinGroup is on its way)
  leader N                    this member is the group leader and assigns N members
  assignment P,P,...|-        its whole assignment after every change (sorted; '-' = none)
  record P OFFSET VALUE       a consumed record (VALUE printed as text; the test sends ASCII)
  commit-failed WHY           a commit failed (the test then expects duplicates and fails)
  closed                      committed, left the group and closed

It stops (commit, close: a dynamic member sends LeaveGroup) when a line "stop" or EOF arrives
on stdin, and exits non-zero by itself after S seconds (default 40) so a lost test cannot
leave it behind. Diagnostics go to stderr.
"""

import argparse
import logging
import re
import sys
import threading
import time

OUT_LOCK = threading.Lock()


def emit(line):
    with OUT_LOCK:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def show(partitions):
    return ",".join(str(p) for p in sorted(partitions)) or "-"


def watch_stdin(stop):
    for line in sys.stdin:
        if line.strip() == "stop":
            break
    stop.set()


def run_kafka_python(args, stop, deadline):
    from kafka import ConsumerRebalanceListener, KafkaConsumer
    from kafka.coordinator.assignors.range import RangePartitionAssignor
    from kafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
    from kafka.coordinator.assignors.sticky.sticky_assignor import StickyPartitionAssignor

    bases = {
        "range": RangePartitionAssignor,
        "roundrobin": RoundRobinPartitionAssignor,
        "sticky": StickyPartitionAssignor,
    }
    if args.assignor == "cooperative-sticky":
        # kafka-python 3 (KIP-429).
        from kafka.coordinator.assignors.cooperative_sticky import CooperativeStickyAssignor
        bases["cooperative-sticky"] = CooperativeStickyAssignor
    base = bases[args.assignor]

    # The same assignor under the same name; `assign` runs only on the leader, so it reports
    # the leadership. (kafka-python instantiates the class; the base's `assign` is a
    # classmethod for range/roundrobin and a method for the sticky ones.)
    class ReportingAssignor(base):
        name = base.name

        def assign(self, cluster, members):
            emit(f"leader {len(members)}")
            return super().assign(cluster, members)

    consumer = KafkaConsumer(
        bootstrap_servers=args.bootstrap.split(","),
        group_id=args.group,
        client_id=args.client_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        partition_assignment_strategy=[ReportingAssignor],
        session_timeout_ms=10000,
        heartbeat_interval_ms=200,
        max_poll_interval_ms=30000,
        request_timeout_ms=15000,
        fetch_max_wait_ms=100,
        retry_backoff_ms=50,
    )
    owned = set()

    class Listener(ConsumerRebalanceListener):
        def on_partitions_revoked(self, revoked):
            # Nothing to commit here: every printed batch was committed right after it was
            # printed, and kafka-python revokes only inside poll(). (A blocking commit from a
            # listener would also stall kafka-python 3's event loop.)
            for tp in revoked:
                owned.discard(tp.partition)
            emit(f"assignment {show(owned)}")

        def on_partitions_assigned(self, assigned):
            # Eager: the whole new assignment; cooperative: the added partitions.
            owned.update(tp.partition for tp in assigned)
            emit(f"assignment {show(owned)}")

        def on_partitions_lost(self, lost):
            for tp in lost:
                owned.discard(tp.partition)
            emit(f"assignment {show(owned)}")

    consumer.subscribe([args.topic], listener=Listener())
    emit("ready")
    while not stop.is_set():
        if time.monotonic() > deadline:
            sys.exit("group member: timed out")
        batches = consumer.poll(timeout_ms=100)
        got = False
        for tp, records in sorted(batches.items(), key=lambda item: item[0].partition):
            for r in records:
                emit(f"record {tp.partition} {r.offset} {r.value.decode()}")
                got = True
        if got:
            try:
                consumer.commit()
            except Exception as e:
                emit(f"commit-failed batch:{type(e).__name__}")
    try:
        consumer.commit()
    except Exception as e:
        emit(f"commit-failed close:{type(e).__name__}")
    consumer.close(autocommit=False)
    emit("closed")


def run_confluent(args, stop, deadline):
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    # librdkafka says "I am elected leader for group "G" with N member(s)" in its cgrp debug
    # log; that is the only outside sign of leadership it gives.
    elected = re.compile(r'I am elected leader for group ".*" with (\d+) member\(s\)')

    class LeaderLog(logging.Handler):
        def emit(self, record):
            m = elected.search(record.getMessage())
            if m:
                emit(f"leader {m.group(1)}")

    log = logging.getLogger("librdkafka")
    log.setLevel(logging.DEBUG)
    log.propagate = False
    log.addHandler(LeaderLog())

    consumer = Consumer({
        "bootstrap.servers": args.bootstrap,
        "group.id": args.group,
        "client.id": args.client_id,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "partition.assignment.strategy": args.assignor,
        "session.timeout.ms": 10000,
        "heartbeat.interval.ms": 200,
        "max.poll.interval.ms": 30000,
        "fetch.wait.max.ms": 100,
        "topic.metadata.refresh.interval.ms": 1000,
        "reconnect.backoff.ms": 20,
        "retry.backoff.ms": 50,
        "debug": "cgrp",
        "logger": log,
    })
    owned = set()

    def commit_positions(partitions, what):
        positions = [tp for tp in consumer.position(partitions) if tp.offset >= 0]
        if not positions:
            return
        try:
            consumer.commit(offsets=positions, asynchronous=False)
        except KafkaException as e:
            emit(f"commit-failed {what}:{e.args[0].name()}")

    def on_assign(c, partitions):
        # Eager: the whole assignment; cooperative: the added partitions. confluent-kafka
        # calls (incremental_)assign itself after this returns.
        owned.update(tp.partition for tp in partitions)
        emit(f"assignment {show(owned)}")

    def on_revoke(c, partitions):
        commit_positions([tp for tp in partitions if tp.partition in owned], "revoke")
        for tp in partitions:
            owned.discard(tp.partition)
        emit(f"assignment {show(owned)}")

    def on_lost(c, partitions):
        for tp in partitions:
            owned.discard(tp.partition)
        emit(f"assignment {show(owned)}")

    consumer.subscribe([args.topic], on_assign=on_assign, on_revoke=on_revoke, on_lost=on_lost)
    emit("ready")
    while not stop.is_set():
        if time.monotonic() > deadline:
            sys.exit("group member: timed out")
        batch = consumer.consume(num_messages=500, timeout=0.1)
        consumed = {}
        for m in batch:
            if m.error():
                print(f"consume error: {m.error()}", file=sys.stderr)
                continue
            emit(f"record {m.partition()} {m.offset()} {m.value().decode()}")
            consumed[m.partition()] = m.offset() + 1
        if consumed:
            offsets = [TopicPartition(args.topic, p, o) for p, o in consumed.items()]
            try:
                consumer.commit(offsets=offsets, asynchronous=False)
            except KafkaException as e:
                # A commit during a background rebalance: the revocation callback commits
                # these positions again before the partitions move.
                print(f"batch commit failed: {e}", file=sys.stderr)
    commit_positions([TopicPartition(args.topic, p) for p in owned], "close")
    consumer.close()
    emit("closed")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--client", required=True, choices=["kafka-python", "confluent"])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--assignor", required=True)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--timeout", type=float, default=40.0)
    args = parser.parse_args()
    deadline = time.monotonic() + args.timeout
    stop = threading.Event()
    threading.Thread(target=watch_stdin, args=(stop,), daemon=True).start()
    if args.client == "kafka-python":
        run_kafka_python(args, stop, deadline)
    else:
        run_confluent(args, stop, deadline)


if __name__ == "__main__":
    main()

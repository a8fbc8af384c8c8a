#!/usr/bin/env python3
"""A kafka-python consumer group against the kafkit test broker.

Usage: kafka_python_groups.py BOOTSTRAP TOPIC GROUP

TOPIC must have 6 partitions and be empty. The script:
  1. produces 10 records to every partition (KafkaProducer, acks=all);
  2. runs two KafkaConsumers of GROUP (one thread each) until the group is stable with the 6
     partitions split between them and each has read its partitions to the end, then both
     commit and close (LeaveGroup);
  3. produces 5 more records per partition;
  4. starts a third consumer of GROUP (the "restarted" member), which must get all 6 partitions
     and start each at the committed offset (10), reads to the end (15), commits and closes.

Output lines (stdout):
  assignment NAME P,P,...   the final assignment of each of the two members
  resumed P OFFSET          the first offset the restarted member read from partition P
  done
Every wait is bounded; on failure the script prints why on stderr and exits non-zero.
"""

import sys
import threading
import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

BOOTSTRAP, TOPIC, GROUP = sys.argv[1], sys.argv[2], sys.argv[3]
PARTITIONS = 6
FIRST_ROUND = 10
SECOND_ROUND = 5
DEADLINE = time.monotonic() + 120


def fail(message):
    print("FAIL: " + message, file=sys.stderr, flush=True)
    sys.exit(1)


def remaining(what):
    left = DEADLINE - time.monotonic()
    if left <= 0:
        fail("timed out waiting for " + what)
    return left


def produce(per_partition, tag):
    producer = KafkaProducer(bootstrap_servers=BOOTSTRAP, acks="all", request_timeout_ms=10000, max_block_ms=20000)
    futures = [
        producer.send(TOPIC, value=("%s-%d-%d" % (tag, p, i)).encode(), partition=p)
        for p in range(PARTITIONS)
        for i in range(per_partition)
    ]
    for f in futures:
        f.get(timeout=20)
    producer.close(timeout=10)


def new_consumer(name):
    return KafkaConsumer(
        TOPIC,
        bootstrap_servers=BOOTSTRAP,
        group_id=GROUP,
        client_id=name,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=10000,
        heartbeat_interval_ms=500,
        max_poll_interval_ms=20000,
        request_timeout_ms=15000,
        retry_backoff_ms=50,
    )


class Member(threading.Thread):
    """One group member polling in its own thread (a KafkaConsumer is not thread-safe)."""

    def __init__(self, name):
        super().__init__(daemon=True)
        self.name_ = name
        self.lock = threading.Lock()
        self.snapshot = (frozenset(), {})  # assignment, positions
        self.commit_now = threading.Event()
        self.committed = threading.Event()
        self.error = None

    def run(self):
        try:
            consumer = new_consumer(self.name_)
            while not self.commit_now.is_set():
                consumer.poll(timeout_ms=200)
                assignment = frozenset(tp.partition for tp in consumer.assignment())
                positions = {tp.partition: consumer.position(tp, timeout_ms=5000) for tp in consumer.assignment()}
                with self.lock:
                    self.snapshot = (assignment, positions)
            consumer.commit(timeout_ms=10000)
            self.committed.set()
            consumer.close(autocommit=False, timeout_ms=10000)
        except Exception as e:  # reported by the main thread
            self.error = "%s: %r" % (self.name_, e)
            self.committed.set()

    def state(self):
        with self.lock:
            return self.snapshot


def split_and_drained(members):
    states = [m.state() for m in members]
    assignments = [a for a, _ in states]
    if any(not a for a in assignments):
        return False
    if sum(len(a) for a in assignments) != PARTITIONS or frozenset().union(*assignments) != frozenset(range(PARTITIONS)):
        return False
    return all(positions.get(p) == FIRST_ROUND for a, positions in states for p in a)


def two_members_split_the_topic():
    members = [Member("member-a"), Member("member-b")]
    for m in members:
        m.start()
    while not split_and_drained(members):
        for m in members:
            if m.error:
                fail(m.error)
        remaining("the two members to split and read the topic (states: %r)" % [m.state() for m in members])
        time.sleep(0.1)
    for m in members:
        print("assignment %s %s" % (m.name_, ",".join(str(p) for p in sorted(m.state()[0]))), flush=True)
        m.commit_now.set()
    for m in members:
        if not m.committed.wait(remaining("commits")):
            fail("%s did not commit" % m.name_)
        if m.error:
            fail(m.error)
        m.join(remaining("the members to close"))
        if m.is_alive():
            fail("%s did not close" % m.name_)


def restarted_member_resumes():
    consumer = new_consumer("member-restarted")
    first = {}
    total = PARTITIONS * SECOND_ROUND
    seen = 0
    while seen < total:
        remaining("the restarted member to read %d records (read %d, first offsets %r)" % (total, seen, first))
        for tp, records in consumer.poll(timeout_ms=200).items():
            for r in records:
                first.setdefault(tp.partition, r.offset)
                seen += 1
    assigned = sorted(tp.partition for tp in consumer.assignment())
    if assigned != list(range(PARTITIONS)):
        fail("the restarted member has %r" % assigned)
    for p in range(PARTITIONS):
        committed = consumer.committed(TopicPartition(TOPIC, p))
        if committed != FIRST_ROUND:
            fail("partition %d: committed offset %r before the restart, expected %d" % (p, committed, FIRST_ROUND))
    consumer.commit(timeout_ms=10000)
    consumer.close(autocommit=False, timeout_ms=10000)
    for p in sorted(first):
        print("resumed %d %d" % (p, first[p]), flush=True)


def main():
    produce(FIRST_ROUND, "first")
    two_members_split_the_topic()
    produce(SECOND_ROUND, "second")
    restarted_member_resumes()
    print("done", flush=True)


if __name__ == "__main__":
    main()

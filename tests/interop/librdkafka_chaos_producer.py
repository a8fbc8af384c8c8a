#!/usr/bin/env python3
"""Idempotent acks=all producer (librdkafka through confluent-kafka) for the chaos test.

Produces COUNT records with values "seq-<i>" and keys "k<i % 97>" to TOPIC and prints one line
per delivery report on stdout, flushed at once so the test can pace its faults on progress:

    ack <partition> <offset> <value>
    err <value> <error>

then "done <acked> <failed>". Everything else goes to stderr.

Usage: librdkafka_chaos_producer.py BOOTSTRAP TOPIC COUNT [RATE]

RATE (records per second, default unlimited) spreads the run out so faults land mid-stream.
"""
import sys
import time

from confluent_kafka import Producer


def main():
    bootstrap, topic, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    rate = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0
    started = time.monotonic()
    producer = Producer({
        "bootstrap.servers": bootstrap,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "max.in.flight.requests.per.connection": 5,
        "message.timeout.ms": 180000,
        "request.timeout.ms": 5000,
        "socket.timeout.ms": 5000,
        "retry.backoff.ms": 50,
        "retry.backoff.max.ms": 500,
        "topic.metadata.refresh.interval.ms": 1000,
        "reconnect.backoff.ms": 20,
        "reconnect.backoff.max.ms": 500,
        "partitioner": "murmur2_random",
        "log_level": 3,
    })
    out = sys.stdout
    stats = {"acked": 0, "failed": 0}

    def report(err, msg):
        value = msg.value().decode()
        if err is not None:
            stats["failed"] += 1
            out.write(f"err {value} {err.str().replace(' ', '_')}\n")
        else:
            stats["acked"] += 1
            out.write(f"ack {msg.partition()} {msg.offset()} {value}\n")
        out.flush()

    for i in range(count):
        if rate > 0 and i % 100 == 0:
            ahead = started + i / rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
            producer.poll(0)
        while True:
            try:
                producer.produce(topic, key=f"k{i % 97}".encode(), value=f"seq-{i}".encode(), on_delivery=report)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    remaining = producer.flush(200)
    out.write(f"done {stats['acked']} {stats['failed']} {remaining}\n")
    out.flush()


if __name__ == "__main__":
    main()

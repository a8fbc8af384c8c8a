#!/usr/bin/env python3
"""Build and read Kafka record batches (magic 2) with kafka-python, an independent implementation.

Used by client/tests/interop_kafka_python.rs to check kafkit's record codec against kafka-python in
both directions. Records are exchanged in a line format that needs no JSON library on either side:

    batch <codec-id> <base-offset> <producer-id> <producer-epoch> <base-sequence> <transactional 0|1> <record-count>
    record <offset> <timestamp> <key> <value> <header-count> [<header-key> <header-value>]...

where a byte string is written as `x<hex>` (so an empty one is `x`) and null as `-`.

Usage:
    kafka_python_batches.py build <codec-name> <out-file>   # writes one batch, prints its records
    kafka_python_batches.py read <in-file>                  # prints every batch and record in the file
"""
import sys

from kafka.record.default_records import DefaultRecordBatchBuilder
from kafka.record.memory_records import MemoryRecords

CODECS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}


def enc(b):
    if b is None:
        return "-"
    return "x" + bytes(b).hex()


def fixture_records():
    """A deterministic record set: nulls, empties, headers, a repetitive large value, unicode."""
    recs = []
    base_ts = 1_700_000_000_000
    for i in range(200):
        key = None if i % 7 == 0 else (b"" if i % 11 == 0 else f"key-{i % 13}".encode())
        if i % 9 == 0:
            value = None
        elif i % 10 == 0:
            value = b""
        elif i == 5:
            value = bytes(range(256)) * 256  # 64 KiB, exercises multi-block snappy/lz4
        else:
            value = (f"value {i} " + "kafka " * (i % 17)).encode()
        headers = []
        for h in range(i % 4):
            headers.append((f"h{h}-ü", None if (i + h) % 5 == 0 else f"hv{i}-{h}".encode()))
        # Timestamps move backwards sometimes: deltas are signed varlongs.
        ts = base_ts + (i * 3 if i % 6 else -i)
        recs.append((i, ts, key, value, headers))
    return recs


def build(codec, out):
    pid, epoch, seq = 4242, 3, 17
    b = DefaultRecordBatchBuilder(
        magic=2, compression_type=CODECS[codec], is_transactional=0,
        producer_id=pid, producer_epoch=epoch, base_sequence=seq, batch_size=1 << 24)
    recs = fixture_records()
    for (off, ts, key, value, headers) in recs:
        b.append(off, timestamp=ts, key=key, value=value, headers=headers)
    data = bytes(b.build())
    with open(out, "wb") as f:
        f.write(data)
    print(f"batch {CODECS[codec]} 0 {pid} {epoch} {seq} 0 {len(recs)}")
    for (off, ts, key, value, headers) in recs:
        print_record(off, ts, key, value, headers)


def print_record(off, ts, key, value, headers):
    parts = ["record", str(off), str(ts), enc(key), enc(value), str(len(headers))]
    for (hk, hv) in headers:
        parts.append(enc(hk.encode("utf-8")))
        parts.append(enc(hv))
    print(" ".join(parts))


def read(path):
    with open(path, "rb") as f:
        data = f.read()
    mr = MemoryRecords(data)
    while True:
        batch = mr.next_batch()
        if batch is None:
            break
        if not batch.validate_crc():
            print("crc-mismatch")
            sys.exit(3)
        recs = list(batch)
        print(f"batch {batch.compression_type} {batch.base_offset} {batch.producer_id} "
              f"{batch.producer_epoch} {batch.base_sequence} {int(batch.is_transactional)} {len(recs)}")
        for r in recs:
            print_record(r.offset, r.timestamp, r.key, r.value, list(r.headers))


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "build" and len(sys.argv) == 4:
        build(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 3 and sys.argv[1] == "read":
        read(sys.argv[2])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()

#!/usr/bin/env bash
# Produce throughput of the standalone test broker, measured with kcat (librdkafka).
#
#   tests/bench/testbroker_kcat_throughput.sh [--messages N] [--size S] [--partitions P] [--brokers B] [--codecs "none lz4"]
#
# Builds the release binary `kafkit-testbroker` (or uses $KAFKIT_TESTBROKER_BIN), starts it,
# and for each codec produces N messages of S bytes (random base64 text) with
# `kcat -P -X acks=all -z CODEC` to a fresh topic of P partitions, then checks the end offsets
# add up to N and prints messages/s and MB/s (payload bytes; the time includes kcat's start,
# metadata and the final flush). Every step has a deadline; the broker is stopped at exit.
set -euo pipefail

messages=1000000
size=100
partitions=3
brokers=1
codecs="none lz4"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --messages) messages="$2"; shift 2 ;;
    --size) size="$2"; shift 2 ;;
    --partitions) partitions="$2"; shift 2 ;;
    --brokers) brokers="$2"; shift 2 ;;
    --codecs) codecs="$2"; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done

root="$(cd "$(dirname "$0")/../.." && pwd)"
command -v kcat >/dev/null || { echo "kcat is not installed (apt-get install kcat)" >&2; exit 1; }
bin="${KAFKIT_TESTBROKER_BIN:-}"
if [[ -z "$bin" ]]; then
  if ! (cd "$root" && timeout 1200 cargo build --release -p kafkit-testbroker --bin kafkit-testbroker) >/tmp/kafkit-bench-build.$$.log 2>&1; then
    cat /tmp/kafkit-bench-build.$$.log >&2; rm -f /tmp/kafkit-bench-build.$$.log; exit 1
  fi
  rm -f /tmp/kafkit-bench-build.$$.log
  bin="$root/target/release/kafkit-testbroker"
fi

work="$(mktemp -d)"
broker_pid=""
cleanup() {
  exec 3>&- 2>/dev/null || true        # end of stdin: the broker shuts down
  if [[ -n "$broker_pid" ]]; then
    for _ in $(seq 50); do kill -0 "$broker_pid" 2>/dev/null || break; sleep 0.1; done
    kill "$broker_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

topic_args=()
for codec in $codecs; do topic_args+=(--topic "bench-$codec:$partitions:1"); done
mkfifo "$work/stdin"
RUST_LOG=warn "$bin" --brokers "$brokers" "${topic_args[@]}" <"$work/stdin" >"$work/ready" 2>"$work/broker.log" &
broker_pid=$!
exec 3>"$work/stdin"                   # hold its stdin open until cleanup
if ! timeout 30 bash -c "until grep -q '^bootstrap.servers=' '$work/ready'; do sleep 0.05; done"; then
  echo "the broker did not start:" >&2; cat "$work/broker.log" >&2; exit 1
fi
bootstrap="$(sed -n 's/^bootstrap.servers=//p' "$work/ready")"

# N lines of S random base64 characters.
head -c $(( messages * size * 3 / 4 + 4096 )) /dev/urandom | base64 -w "$size" | head -n "$messages" >"$work/input"
[[ "$(wc -l <"$work/input")" -eq "$messages" ]] || { echo "could not generate $messages messages" >&2; exit 1; }

echo "kafkit-testbroker ($bin), $brokers broker(s); kcat $(kcat -V 2>&1 | sed -n 's/.*\(librdkafka [0-9.]*\).*/\1/p')"
echo "messages=$messages size=$size partitions=$partitions acks=all"
printf '%-6s %10s %12s %10s\n' codec seconds msgs/s MB/s
for codec in $codecs; do
  topic="bench-$codec"
  start=$(date +%s%N)
  timeout 600 kcat -P -b "$bootstrap" -t "$topic" -z "$codec" -X acks=all \
    -X queue.buffering.max.messages=1000000 -X linger.ms=5 <"$work/input" 2>"$work/kcat-$codec.log" \
    || { echo "kcat failed for $codec:" >&2; tail "$work/kcat-$codec.log" >&2; exit 1; }
  end=$(date +%s%N)
  if grep -q "ERROR\|Failed" "$work/kcat-$codec.log"; then cat "$work/kcat-$codec.log" >&2; exit 1; fi
  query=()
  for ((p = 0; p < partitions; p++)); do query+=(-t "$topic:$p:-1"); done
  stored=$(timeout 60 kcat -Q -b "$bootstrap" "${query[@]}" | awk '/offset/ {sum += $NF} END {print sum + 0}')
  [[ "$stored" -eq "$messages" ]] || { echo "$codec: end offsets add up to $stored, expected $messages" >&2; exit 1; }
  awk -v ns=$((end - start)) -v n="$messages" -v s="$size" -v c="$codec" \
    'BEGIN { t = ns / 1e9; printf "%-6s %10.3f %12.0f %10.1f\n", c, t, n / t, n * s / t / 1e6 }'
done

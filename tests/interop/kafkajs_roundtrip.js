#!/usr/bin/env node
// kafkajs as an interop peer for the kafkit test broker (driven by tests/interop_kafkajs.rs).
//
//   node kafkajs_roundtrip.js produce BOOTSTRAP TOPIC none|gzip CHUNK
//     Reads `KEYHEX VALUEHEX` lines on stdin and sends them in order with an idempotent
//     kafkajs producer (acks=all, kafkajs's default Java-compatible murmur2 partitioner),
//     CHUNK messages per send() call. Prints `ack CHUNK_INDEX PARTITION BASE_OFFSET ERROR_CODE`
//     per partition of each send, then, from the admin client, `offsets PARTITION LOW HIGH`.
//   node kafkajs_roundtrip.js consume BOOTSTRAP TOPIC EXPECT GROUP
//     Reads the topic from the beginning with a kafkajs consumer in group GROUP (needs the
//     consumer-group APIs) until EXPECT records, printing `record PARTITION OFFSET KEYHEX
//     VALUEHEX` per record.
//
// Logs go to stderr; stdout carries only the lines above. Exits non-zero on any failure.
'use strict';

const { Kafka, CompressionTypes, Partitioners, logLevel } = require('kafkajs');

const toStderr = () => ({ namespace, level, log }) => {
  const { message, ...extra } = log;
  process.stderr.write(`[kafkajs ${namespace} ${level}] ${message} ${JSON.stringify(extra)}\n`);
};

function client(bootstrap) {
  return new Kafka({
    clientId: 'kafkit-interop-kafkajs',
    brokers: bootstrap.split(','),
    logLevel: logLevel.WARN,
    logCreator: toStderr,
    connectionTimeout: 5000,
    requestTimeout: 15000,
    retry: { retries: 3, initialRetryTime: 100 },
  });
}

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

const unhex = (text) => (text === '-' ? null : Buffer.from(text, 'hex'));
const hexOf = (buf) => (buf === null || buf === undefined ? '-' : buf.toString('hex'));

async function produce(bootstrap, topic, compression, chunk) {
  const lines = (await readStdin()).split('\n').filter((l) => l.length > 0);
  const messages = lines.map((line) => {
    const [key, value] = line.split(' ');
    return { key: unhex(key), value: unhex(value) };
  });
  const kafka = client(bootstrap);
  const producer = kafka.producer({
    createPartitioner: Partitioners.DefaultPartitioner,
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
  });
  await producer.connect();
  const codec = { none: CompressionTypes.None, gzip: CompressionTypes.GZIP }[compression];
  if (codec === undefined) throw new Error(`unknown compression ${compression}`);
  for (let start = 0, index = 0; start < messages.length; start += chunk, index++) {
    const acks = await producer.send({
      topic,
      acks: -1,
      timeout: 15000,
      compression: codec,
      messages: messages.slice(start, start + chunk),
    });
    for (const ack of acks) {
      process.stdout.write(`ack ${index} ${ack.partition} ${ack.baseOffset} ${ack.errorCode}\n`);
    }
  }
  await producer.disconnect();

  const admin = kafka.admin();
  await admin.connect();
  const offsets = await admin.fetchTopicOffsets(topic);
  for (const o of offsets) {
    process.stdout.write(`offsets ${o.partition} ${o.low} ${o.high}\n`);
  }
  await admin.disconnect();
}

async function consume(bootstrap, topic, expect, group) {
  const kafka = client(bootstrap);
  const consumer = kafka.consumer({
    groupId: group,
    maxWaitTimeInMs: 100,
    // Fail fast instead of restarting forever on a broker that cannot coordinate the group.
    retry: { retries: 3, restartOnFailure: async () => false },
  });
  let crashed;
  const crash = new Promise((_, reject) => {
    crashed = reject;
  });
  consumer.on(consumer.events.CRASH, ({ payload }) => crashed(payload.error));
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  let count = 0;
  const done = new Promise((resolve, reject) => {
    consumer
      .run({
        eachMessage: async ({ partition, message }) => {
          process.stdout.write(`record ${partition} ${message.offset} ${hexOf(message.key)} ${hexOf(message.value)}\n`);
          count += 1;
          if (count >= expect) resolve();
        },
      })
      .catch(reject);
  });
  await Promise.race([done, crash]);
  await consumer.disconnect();
}

async function main() {
  const [mode, ...args] = process.argv.slice(2);
  if (mode === 'produce' && args.length === 4) {
    await produce(args[0], args[1], args[2], Number(args[3]));
  } else if (mode === 'consume' && args.length === 4) {
    await consume(args[0], args[1], Number(args[2]), args[3]);
  } else {
    throw new Error('usage: kafkajs_roundtrip.js produce BOOTSTRAP TOPIC none|gzip CHUNK | consume BOOTSTRAP TOPIC EXPECT GROUP');
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`kafkajs_roundtrip failed: ${err && err.stack ? err.stack : err}\n`);
    process.exit(1);
  },
);

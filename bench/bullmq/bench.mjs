// BullMQ, the field's reference, measured the way host/benches/queue.rs measures paygate's
// delay queue, on the same Redis:
//   - burst: TASKS jobs already waiting, drained by WORKERS workers (jobs/s);
//   - flow:  TASKS delayed jobs falling due at RATE a second, lag from due time to the
//            start of the processor (p50, p99, max, in ms).
// Each worker is a BullMQ Worker with its own connection, `concurrency` CONCURRENCY, and a
// processor that only records; completed jobs are removed (paygate deletes on ack too).
// Prints one JSON line per phase. Run by bench/queue-vs-bullmq; alone:
//   (cd bench/bullmq && npm ci && REDIS_URL=redis://127.0.0.1:6379 node bench.mjs)

import { Queue, Worker } from 'bullmq';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';

const env = (name, fallback) => Number(process.env[name] ?? fallback);
const TASKS = env('BENCH_TASKS', 20_000);
const WORKERS = env('BENCH_WORKERS', 4);
const CONCURRENCY = env('BULLMQ_CONCURRENCY', 50);
const RATE = env('BENCH_RATE', 5_000);
const LEAD_MS = 20_000;

const url = new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const connection = {
  host: url.hostname,
  port: Number(url.port || 6379),
  db: Number(url.pathname.slice(1) || 0),
  // BullMQ's workers need this unset on their blocking connection.
  maxRetriesPerRequest: null,
};
// Every key under a prefix of this run's own, deleted at the end.
const prefix = `paygate-bench-bullmq-${randomUUID()}`;

function percentile(sorted, p) {
  return sorted[Math.round((sorted.length - 1) * p)];
}

async function addAll(queue, job) {
  // addBulk in slices: one round trip per slice, as paygate's loader pipelines.
  for (let start = 0; start < TASKS; start += 1_000) {
    const slice = [];
    for (let i = start; i < Math.min(TASKS, start + 1_000); i++) slice.push(job(i));
    await queue.addBulk(slice);
  }
}

async function drain(name, onJob) {
  let done = 0;
  let finish;
  const finished = new Promise((resolve) => (finish = resolve));
  const workers = [];
  const started = performance.now();
  for (let w = 0; w < WORKERS; w++) {
    workers.push(
      new Worker(
        name,
        async (job) => {
          onJob(job);
          if (++done === TASKS) finish();
        },
        { connection, prefix, concurrency: CONCURRENCY },
      ),
    );
  }
  await finished;
  const elapsed = (performance.now() - started) / 1000;
  await Promise.all(workers.map((w) => w.close()));
  return elapsed;
}

async function burst() {
  const name = `burst-${randomUUID()}`;
  const queue = new Queue(name, { connection, prefix });
  await addAll(queue, (i) => ({ name: 'task', data: { i }, opts: { removeOnComplete: true } }));
  const seconds = await drain(name, () => {});
  await queue.obliterate({ force: true });
  await queue.close();
  return { phase: 'burst', tasks: TASKS, workers: WORKERS, seconds, per_second: TASKS / seconds };
}

async function flow() {
  const name = `flow-${randomUUID()}`;
  const queue = new Queue(name, { connection, prefix });
  const start = Date.now() + LEAD_MS;
  const stepUs = 1_000_000 / RATE;
  const loading = Date.now();
  await addAll(queue, (i) => {
    const due = start + Math.floor((i * stepUs) / 1000);
    return { name: 'task', data: { due }, opts: { delay: due - Date.now(), removeOnComplete: true } };
  });
  if (Date.now() - loading > LEAD_MS - 1_000) throw new Error('loading took longer than the lead time');
  const lags = [];
  await drain(name, (job) => lags.push(Date.now() - job.data.due));
  await queue.obliterate({ force: true });
  await queue.close();
  lags.sort((a, b) => a - b);
  return {
    phase: 'flow',
    tasks: TASKS,
    workers: WORKERS,
    rate: RATE,
    lag_p50_ms: percentile(lags, 0.5),
    lag_p99_ms: percentile(lags, 0.99),
    lag_max_ms: lags[lags.length - 1],
  };
}

const version = JSON.parse(
  readFileSync(new URL('./node_modules/bullmq/package.json', import.meta.url), 'utf8'),
).version;
for (const phase of [burst, flow]) {
  const result = await phase();
  console.log(JSON.stringify({ queue: `bullmq ${version}`, concurrency: CONCURRENCY, ...result }));
}

/**
 * Memory over a sustained run: the resident set size (RSS) of a dividere Subscriber that takes
 * ~1 message per ms from a Publisher sending 1 KiB messages as fast as it can, each in its own
 * process (memory-publisher.ts, memory-subscriber.ts). What should show: the subscriber's RSS
 * levels off, bounded by the high-water marks (1000 messages each side; the publisher drops the
 * rest and counts them in `stats.unsent`), and does not grow through the second half of the run.
 */
import { fileURLToPath } from "node:url";
import { median } from "./measure.js";
import { Process } from "./processes.js";
import type { Row, Suite } from "./rows.js";

const publisherProgram = fileURLToPath(new URL("./memory-publisher.js", import.meta.url));
const subscriberProgram = fileURLToPath(new URL("./memory-subscriber.js", import.meta.url));
const RUN_MS = 8000;
const PAYLOAD = 1024;
const MiB = 1024 * 1024;

interface Report {
  samples: number[];
  stats: { sent: number; received: number; dropped: Record<string, number> };
}
interface SubscriberReport extends Report {
  received: number;
  firstSequence: number;
  lastSequence: number;
}
interface PublisherReport extends Report {
  sent: number;
  stats: Report["stats"] & { unsent: number };
}

const mib = (bytes: number) => bytes / MiB;
const fixed = (value: number) => value.toFixed(1);
const signed = (value: number) => `${value >= 0 ? "+" : "−"}${Math.abs(value).toFixed(1)}`;

/** Start, peak and last RSS of the samples in MiB, and the growth from the middle sample to the last. */
function summary(samples: readonly number[]): { start: number; peak: number; last: number; secondHalf: number } {
  const start = mib(samples[0]!);
  const peak = mib(Math.max(...samples));
  const last = mib(samples[samples.length - 1]!);
  const middle = mib(samples[Math.floor((samples.length - 1) / 2)]!);
  return { start, peak, last, secondHalf: last - middle };
}

function describe(samples: readonly number[]): string {
  const { start, peak, last, secondHalf } = summary(samples);
  return `start ${fixed(start)} MiB, peak ${fixed(peak)}, last ${fixed(last)}; ${signed(secondHalf)} MiB over the second half`;
}

/** One run of ~8 s (longer if `durationMs` asks): what the subscriber and the publisher reported. */
async function measureOnce(durationMs: number): Promise<{ sub: SubscriberReport; pub: PublisherReport }> {
  const runMs = Math.max(RUN_MS, durationMs);
  const publisher = new Process([publisherProgram]);
  let subscriber: Process | undefined;
  try {
    const endpoint = await publisher.line(0);
    subscriber = new Process([subscriberProgram, endpoint, String(runMs / 1000)]);
    const sub = JSON.parse(await subscriber.line(0)) as SubscriberReport;
    await subscriber.stop();
    await publisher.stop();
    return { sub, pub: JSON.parse(await publisher.line(1)) as PublisherReport };
  } finally {
    await subscriber?.stop();
    await publisher.stop();
  }
}

/**
 * Peak RSS of the subscriber and of the publisher, and the publisher's growth over the second
 * half of a run: `rounds.minRuns` runs, each row the median, its notes from the median run of
 * the publisher's growth.
 */
export const memorySuite: Suite = async ({ durationMs, rounds }) => {
  const reports: { sub: SubscriberReport; pub: PublisherReport }[] = [];
  for (let run = 0; run < rounds.minRuns; run++) reports.push(await measureOnce(durationMs));
  const values = (of: (report: (typeof reports)[number]) => number) => {
    const runs = reports.map(of);
    return { value: median(runs), runs };
  };
  const growthOf = ({ pub }: (typeof reports)[number]) => summary(pub.samples).secondHalf;
  const growth = values(growthOf);
  // The notes describe the run of the median growth.
  const { sub, pub } = reports.toSorted((a, b) => growthOf(a) - growthOf(b))[Math.floor(reports.length / 2)]!;
  const seen = sub.lastSequence - sub.firstSequence + 1;
  const dropped = Object.values(sub.stats.dropped).reduce((a, b) => a + b, 0);
  return [
    {
      group: "memory",
      name: "dividere Subscriber, slow consumer, 1 KiB",
      unit: "MiB",
      ...values(({ sub }) => summary(sub.samples).peak),
      note:
        `${describe(sub.samples)}; ${sub.received.toLocaleString("en-US")} msgs received (of ~${pub.sent.toLocaleString("en-US")} published; ` +
        `${Math.max(0, seen - sub.received).toLocaleString("en-US")} missing between the first and last seen, ${dropped} dropped by dividere)`,
    },
    {
      group: "memory",
      name: "dividere Publisher, fast producer to a slow consumer",
      unit: "MiB",
      ...values(({ pub }) => summary(pub.samples).peak),
      note:
        `${describe(pub.samples)}; ${pub.sent.toLocaleString("en-US")} msgs of ${PAYLOAD} B sent, ` +
        `${pub.stats.unsent.toLocaleString("en-US")} not sent for a full subscriber queue (stats.unsent)`,
    },
    {
      group: "memory",
      name: "dividere Publisher, RSS growth over the second half",
      unit: "MiB",
      ...growth,
      note: `runs: ${growth.runs.map(signed).join(", ")} MiB`,
    },
  ] satisfies Row[];
};

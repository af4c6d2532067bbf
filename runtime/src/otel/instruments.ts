/** The tracer and the duration histogram of one side's interceptor. @module */
import { metrics, trace } from "@opentelemetry/api";
import type { OtelOptions } from "./options.js";
import type { Instruments } from "./observed-call.js";
import { DURATION_BUCKETS } from "./semconv.js";

/** The instrumentation scope: what a backend shows as the source of the spans and metrics. */
const SCOPE = "@dividere/runtime";

/**
 * The instruments, made at the first call: the global meter provider has no stand-in that
 * follows a later registration (the tracer provider has), so an interceptor made before the
 * SDK starts still records to it.
 */
export function instrumentsOf(options: OtelOptions, metric: string, description: string): () => Instruments {
  let made: Instruments | undefined;
  return () =>
    (made ??= {
      tracer: (options.tracerProvider ?? trace.getTracerProvider()).getTracer(SCOPE),
      duration: (options.meterProvider ?? metrics.getMeterProvider())
        .getMeter(SCOPE)
        .createHistogram(metric, { unit: "s", description, advice: { explicitBucketBoundaries: DURATION_BUCKETS } }),
    });
}

/** How a propagator reads and writes trace context in a call's `Headers`. @module */
import type { TextMapGetter, TextMapSetter } from "@opentelemetry/api";

/** Writes a propagator's fields (`traceparent`, `tracestate`) as request headers. */
export const headerSetter: TextMapSetter<Headers> = {
  set: (headers, key, value) => headers.set(key, value),
};

/** Reads a propagator's fields from the request headers a server received. */
export const headerGetter: TextMapGetter<Headers> = {
  keys: (headers) => [...headers.keys()],
  get: (headers, key) => headers.get(key) ?? undefined,
};

/**
 * `@dividere/runtime/otel`: OpenTelemetry for calls. Interceptors that record a span per call on
 * both sides, with the RPC semantic conventions' attributes (`rpc.system.name` "dividere",
 * `rpc.method`, `rpc.response.status_code`, `error.type`), carry W3C trace context in the call's
 * headers, and record `rpc.client.call.duration` and `rpc.server.call.duration` (seconds).
 *
 * A subpath of its own, because it imports `@opentelemetry/api`, an optional peer dependency:
 * the main entry never does, so an application without OpenTelemetry installed runs as before.
 *
 * ```ts
 * import { otelClientInterceptor, otelServerInterceptor } from "@dividere/runtime/otel";
 * ```
 * @module
 */
export { otelClientInterceptor } from "./client.js";
export type { OtelClientOptions, OtelOptions } from "./options.js";
export { otelServerInterceptor } from "./server.js";

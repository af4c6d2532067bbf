/** The client's interceptor: a CLIENT span per call, its trace context sent in the request headers. @module */
import { context, propagation } from "@opentelemetry/api";
import type { Interceptor } from "../rpc/interceptor.js";
import { headerSetter } from "./headers.js";
import { instrumentsOf } from "./instruments.js";
import { ObservedCall } from "./observed-call.js";
import type { OtelClientOptions } from "./options.js";
import { METRIC_RPC_CLIENT_CALL_DURATION, callAttributes, endpointAttributes } from "./semconv.js";

/**
 * A client's interceptor that records each call as an OpenTelemetry CLIENT span named after its
 * method ("package.Service/Method"), a child of the span active where the call is made, and
 * sends its trace context in the request headers (W3C `traceparent` and `tracestate` with the
 * default propagator), for the server's {@link otelServerInterceptor} to continue. The span ends
 * when the answer is complete (a stream's when it has been read to its end), with the RPC
 * conventions' attributes and the call's code, and the call's duration goes to the
 * `rpc.client.call.duration` histogram (seconds).
 *
 * ```ts
 * const client = new HistoryClient(transport, { interceptors: [otelClientInterceptor()] });
 * ```
 */
export function otelClientInterceptor(options: OtelClientOptions = {}): Interceptor {
  const instruments = instrumentsOf(options, METRIC_RPC_CLIENT_CALL_DURATION, "Duration of outgoing calls, until their answer is complete.");
  const server = options.endpoint === undefined ? {} : endpointAttributes(options.endpoint);
  return (next) => (req) => {
    const attributes = { ...callAttributes(req.path), ...server };
    const call = new ObservedCall("client", instruments(), context.active(), req.path.slice(1), attributes);
    (options.propagator ?? propagation).inject(call.context, req.header, headerSetter);
    return call.around(() => next(req));
  };
}

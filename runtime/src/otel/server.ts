/** The server's interceptor: a SERVER span per call, continuing the caller's trace. @module */
import { ROOT_CONTEXT, propagation } from "@opentelemetry/api";
import type { ServerInterceptor } from "../rpc/interceptor.js";
import type { OtelOptions } from "./options.js";
import { headerGetter } from "./headers.js";
import { instrumentsOf } from "./instruments.js";
import { ObservedCall } from "./observed-call.js";
import { METRIC_RPC_SERVER_CALL_DURATION, callAttributes } from "./semconv.js";

/**
 * A server's interceptor that records each call as an OpenTelemetry SERVER span named after its
 * method ("package.Service/Method"), the child of the caller's span when the request headers
 * carry its trace context (sent by {@link otelClientInterceptor}, or any W3C trace context
 * propagator), a new trace's root otherwise. The handler runs with the span active (a stream's
 * handler too, at every step), so calls it makes through a client with `otelClientInterceptor`
 * are its children. The span ends when the answer is complete (a stream's when its last message
 * went out), with the RPC conventions' attributes and the call's code; a code that is the
 * caller's doing (NOT_FOUND, INVALID_ARGUMENT, ...) does not mark it failed, as the gRPC
 * conventions say. The call's duration goes to the `rpc.server.call.duration` histogram (seconds).
 *
 * ```ts
 * const server = new RpcServer({ interceptors: [otelServerInterceptor()] });
 * ```
 */
export function otelServerInterceptor(options: OtelOptions = {}): ServerInterceptor {
  const instruments = instrumentsOf(options, METRIC_RPC_SERVER_CALL_DURATION, "Duration of incoming calls, until their answer is complete.");
  return (next) => (req) => {
    // The caller's context, not whatever happens to be active where the dispatcher runs.
    const parent = (options.propagator ?? propagation).extract(ROOT_CONTEXT, req.header, headerGetter);
    const call = new ObservedCall("server", instruments(), parent, req.path.slice(1), callAttributes(req.path));
    return call.around(() => next(req));
  };
}

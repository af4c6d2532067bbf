/** Options of the OpenTelemetry interceptors. @module */
import type { MeterProvider, TextMapPropagator, TracerProvider } from "@opentelemetry/api";

/** Options of `otelServerInterceptor` and `otelClientInterceptor`. */
export interface OtelOptions {
  /** Where spans go; default the global one (`trace.setGlobalTracerProvider`, as the OpenTelemetry SDK sets it). */
  tracerProvider?: TracerProvider;
  /** Where duration measurements go; default the global one (`metrics.setGlobalMeterProvider`). */
  meterProvider?: MeterProvider;
  /** How trace context travels in the headers; default the global propagator (the SDK's is W3C trace context and baggage). */
  propagator?: TextMapPropagator;
}

/** Options of `otelClientInterceptor`. */
export interface OtelClientOptions extends OtelOptions {
  /**
   * The endpoint the calls go to, when there is one (a `directTransport`'s `endpoint`): recorded
   * as `server.address`, `server.port` and `network.transport`. Left out, for calls through the
   * registry or a broker, whose server is chosen per call.
   */
  endpoint?: string;
}

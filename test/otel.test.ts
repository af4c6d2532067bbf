// OpenTelemetry over real sockets, with the OpenTelemetry SDK's in-memory exporter and a metric
// reader: a trace across three processes (this one's client -> service B -> service C, each
// process with its own SDK), the spans and duration metrics of calls that succeed, fail and
// stream, and the runtime loading without @opentelemetry/api.
import { readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { SpanKind, SpanStatusCode, context, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { type HistogramMetricData, MeterProvider, MetricReader } from "@opentelemetry/sdk-metrics";
import { BasicTracerProvider, InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { RpcServer, directTransport } from "@dividere/runtime";
import { otelClientInterceptor, otelServerInterceptor } from "@dividere/runtime/otel";
import { echo } from "./fixtures/echo-service.mjs";
import { EchoClient, EchoDefinition } from "./fixtures/gen/test/services/v1/echo_dividere.js";
import { eventually, rejection, runNode } from "./helpers.js";
import { type Child, node } from "./processes.js";

const fixtures = fileURLToPath(new URL("./fixtures/", import.meta.url));
const SAY = "test.services.v1.Echo/Say";
const COUNT = "test.services.v1.Echo/Count";

/** A span as the fixture prints it, and as this test reads its own. */
interface SpanRecord {
  name: string;
  kind: SpanKind;
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  attributes: Record<string, unknown>;
  status: { code: SpanStatusCode; message?: string };
}

const recordOf = (span: ReadableSpan): SpanRecord => ({
  name: span.name,
  kind: span.kind,
  ...span.spanContext(),
  parentSpanId: span.parentSpanContext?.spanId,
  attributes: { ...span.attributes },
  status: span.status,
});

/** Collects what a metric reader reads when asked: the test reads the SDK's aggregation itself. */
class CollectingReader extends MetricReader {
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

const contextManager = new AsyncLocalStorageContextManager();
beforeAll(() => void context.setGlobalContextManager(contextManager.enable()));
afterAll(() => {
  contextManager.disable();
  context.disable();
});

/** The spans a fixture process finished so far. */
async function spansOf(child: Child): Promise<SpanRecord[]> {
  child.write("spans\n");
  const spans: SpanRecord[] = [];
  for (;;) {
    const line = await child.next();
    if ("spans" in line) return spans;
    spans.push(line.span as SpanRecord);
  }
}

describe("a trace across three processes", () => {
  const children: Child[] = [];
  afterAll(async () => {
    for (const child of children) child.endInput();
    await Promise.all(children.map((child) => child.finished()));
  });

  test("client -> B -> C: one trace, each span the child of the one before, with the RPC attributes; a failed call's spans say so", async () => {
    const c = node(join(fixtures, "otel-service.mjs"), "C");
    children.push(c);
    const { ready: cEndpoint } = (await c.next()) as { ready: string };
    const b = node(join(fixtures, "otel-service.mjs"), "B", cEndpoint);
    children.push(b);
    const { ready: bEndpoint } = (await b.next()) as { ready: string };

    const exporter = new InMemorySpanExporter();
    const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
    const interceptor = otelClientInterceptor({ tracerProvider, propagator: new W3CTraceContextPropagator(), endpoint: bEndpoint });
    const transport = directTransport(bEndpoint, { interceptors: [interceptor] });
    try {
      const client = new EchoClient(transport);
      expect(await client.say({ text: "hi" }, { timeoutMs: 5000 })).toMatchObject({ text: "hi", servedBy: "C" });
      expect((await rejection(client.say({ text: "boom", fail: true }, { timeoutMs: 5000 }))).code).toBe("INTERNAL");
    } finally {
      await transport.close();
    }

    const [ok, failed] = exporter.getFinishedSpans().map(recordOf);
    const [bSpans, cSpans] = await Promise.all([spansOf(b), spansOf(c)]);
    const spanIn = (spans: SpanRecord[], kind: SpanKind, traceId: string) => {
      const found = spans.filter((span) => span.kind === kind && span.traceId === traceId);
      expect(found, `one ${SpanKind[kind]} span of trace ${traceId}`).toHaveLength(1);
      return found[0]!;
    };
    const [, port] = /:(\d+)$/.exec(bEndpoint)!;
    const [, cPort] = /:(\d+)$/.exec(cEndpoint)!;

    for (const [clientSpan, code] of [[ok!, "OK"], [failed!, "INTERNAL"]] as const) {
      const bServer = spanIn(bSpans, SpanKind.SERVER, clientSpan.traceId);
      const bClient = spanIn(bSpans, SpanKind.CLIENT, clientSpan.traceId);
      const cServer = spanIn(cSpans, SpanKind.SERVER, clientSpan.traceId);
      expect(clientSpan.kind).toBe(SpanKind.CLIENT);
      expect(clientSpan.parentSpanId).toBeUndefined();
      expect(bServer.parentSpanId).toBe(clientSpan.spanId);
      expect(bClient.parentSpanId).toBe(bServer.spanId);
      expect(cServer.parentSpanId).toBe(bClient.spanId);

      const common = { "rpc.system.name": "dividere", "rpc.method": SAY, "rpc.response.status_code": code };
      const failure = code === "OK" ? {} : { "error.type": code };
      for (const span of [clientSpan, bServer, bClient, cServer]) {
        expect(span.name).toBe(SAY);
        expect(span.attributes).toMatchObject({ ...common, ...failure });
        if (code === "OK") {
          expect(span.attributes).not.toHaveProperty("error.type");
          expect(span.status.code).toBe(SpanStatusCode.UNSET);
        } else {
          expect(span.status).toMatchObject({ code: SpanStatusCode.ERROR, message: expect.stringContaining("told to fail: boom") });
        }
      }
      expect(clientSpan.attributes).toMatchObject({ "server.address": "127.0.0.1", "server.port": Number(port), "network.transport": "tcp" });
      expect(bClient.attributes).toMatchObject({ "server.address": "127.0.0.1", "server.port": Number(cPort), "network.transport": "tcp" });
      expect(bServer.attributes).not.toHaveProperty("server.address");
    }
    expect(ok!.traceId).not.toBe(failed!.traceId);
  });
});

describe("spans and metrics in one process", () => {
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const reader = new CollectingReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  const options = { tracerProvider, meterProvider, propagator: new W3CTraceContextPropagator() };
  let server: RpcServer;
  let client: EchoClient;
  let transport: ReturnType<typeof directTransport>;
  /** The span active in Count's handler at each of its replies. */
  let activeInCount: (string | undefined)[] = [];

  beforeAll(() => {
    const implementation = echo("here");
    const count = implementation.count.bind(implementation);
    implementation.count = async function* (request, ctx) {
      for await (const reply of count(request, ctx)) {
        activeInCount.push(trace.getActiveSpan()?.spanContext().spanId);
        yield reply;
      }
    };
    server = new RpcServer({ bind: "tcp://127.0.0.1:0" }, { interceptors: [otelServerInterceptor(options)] }).add(EchoDefinition, implementation);
    transport = directTransport(server.endpoint, { interceptors: [otelClientInterceptor(options)] });
    client = new EchoClient(transport);
  });
  afterAll(async () => {
    await transport.close();
    await server.close({ graceMs: 0 });
  });

  const finished = (name: string, kind: SpanKind) => exporter.getFinishedSpans().filter((span) => span.name === name && span.kind === kind).map(recordOf);

  test("a code that is the caller's doing fails the client's span, not the server's; both record it", async () => {
    exporter.reset();
    expect((await rejection(client.say({ text: "nobody", failCode: "NOT_FOUND" }, { timeoutMs: 5000 }))).code).toBe("NOT_FOUND");
    await eventually(() => finished(SAY, SpanKind.SERVER).length === 1, 5000, "the server span ended");
    const [clientSpan] = finished(SAY, SpanKind.CLIENT);
    const [serverSpan] = finished(SAY, SpanKind.SERVER);
    expect(clientSpan).toMatchObject({ status: { code: SpanStatusCode.ERROR }, attributes: { "rpc.response.status_code": "NOT_FOUND", "error.type": "NOT_FOUND" } });
    expect(serverSpan).toMatchObject({ status: { code: SpanStatusCode.UNSET }, attributes: { "rpc.response.status_code": "NOT_FOUND" }, parentSpanId: clientSpan!.spanId });
    expect(serverSpan!.attributes).not.toHaveProperty("error.type");
  });

  test("a stream's spans end when it has been read to its end, or with CANCELLED when the caller leaves it; its handler runs in its span", async () => {
    exporter.reset();
    activeInCount = [];
    let read = 0;
    for await (const reply of client.count({ text: "tick", count: 3 }, { timeoutMs: 5000 })) {
      expect(reply.index).toBe(read++);
      // The call is still going: its span has not ended.
      expect(finished(COUNT, SpanKind.CLIENT)).toHaveLength(0);
    }
    expect(read).toBe(3);
    expect(finished(COUNT, SpanKind.CLIENT)).toMatchObject([{ status: { code: SpanStatusCode.UNSET }, attributes: { "rpc.response.status_code": "OK" } }]);
    await eventually(() => finished(COUNT, SpanKind.SERVER).length === 1, 5000, "the server span ended");
    const [serverSpan] = finished(COUNT, SpanKind.SERVER);
    expect(serverSpan).toMatchObject({ attributes: { "rpc.response.status_code": "OK" } });
    expect(activeInCount).toEqual([serverSpan!.spanId, serverSpan!.spanId, serverSpan!.spanId]);

    exporter.reset();
    for await (const reply of client.count({ text: "tick", count: 100, delayMs: 10 }, { timeoutMs: 5000 })) {
      expect(reply.index).toBe(0);
      break;
    }
    expect(finished(COUNT, SpanKind.CLIENT)).toMatchObject([{ status: { code: SpanStatusCode.ERROR }, attributes: { "rpc.response.status_code": "CANCELLED" } }]);
    await eventually(() => finished(COUNT, SpanKind.SERVER).length === 1, 5000, "the server span ended");
    expect(finished(COUNT, SpanKind.SERVER)[0]!.attributes["rpc.response.status_code"]).toBe("CANCELLED");
  });

  test("call durations go to rpc.client.call.duration and rpc.server.call.duration, in seconds, by method and code", async () => {
    const before = await durations();
    await client.say({ text: "one" }, { timeoutMs: 5000 });
    await client.say({ text: "two", delayMs: 50 }, { timeoutMs: 5000 });
    await rejection(client.say({ text: "three", failCode: "NOT_FOUND" }, { timeoutMs: 5000 }));
    await eventually(() => finished(SAY, SpanKind.SERVER).length >= 3, 5000, "the server spans ended");
    const after = await durations();

    for (const side of ["client", "server"] as const) {
      const metric = after.get(`rpc.${side}.call.duration`)!;
      expect(metric.descriptor.unit).toBe("s");
      const point = (code: string) => metric.dataPoints.find((p) => p.attributes["rpc.method"] === SAY && p.attributes["rpc.response.status_code"] === code);
      const earlier = (code: string) =>
        before.get(`rpc.${side}.call.duration`)?.dataPoints.find((p) => p.attributes["rpc.method"] === SAY && p.attributes["rpc.response.status_code"] === code)?.value.count ?? 0;
      const ok = point("OK")!;
      expect(ok.attributes["rpc.system.name"]).toBe("dividere");
      expect(ok.value.count - earlier("OK")).toBe(2);
      // The 50 ms call is in there, measured in seconds (not ms).
      expect(ok.value.max).toBeGreaterThanOrEqual(0.045);
      expect(ok.value.max).toBeLessThan(5);
      const notFound = point("NOT_FOUND")!;
      expect(notFound.value.count - earlier("NOT_FOUND")).toBe(1);
      if (side === "client") expect(notFound.attributes["error.type"]).toBe("NOT_FOUND");
      else expect(notFound.attributes).not.toHaveProperty("error.type");
    }
  });

  /** The duration histograms, by name, as the SDK aggregated them so far (cumulative). */
  async function durations(): Promise<Map<string, HistogramMetricData>> {
    const { resourceMetrics } = await reader.collect();
    const byName = new Map<string, HistogramMetricData>();
    for (const scope of resourceMetrics.scopeMetrics) for (const metric of scope.metrics) byName.set(metric.descriptor.name, metric as HistogramMetricData);
    return byName;
  }
});

describe("without @opentelemetry/api", () => {
  test("the runtime's main entry never imports it: it loads where the package cannot be found, and only the otel subpath needs it", async () => {
    const { code, stdout, stderr } = await runNode(join(fixtures, "without-otel.mjs"), 10_000);
    expect(code, stderr).toBe(0);
    const [loaded, otel] = stdout.trim().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(loaded!.runtime).toEqual(expect.arrayContaining(["RpcServer", "serve", "directTransport"]));
    expect(otel!.otel).toBe("ERR_MODULE_NOT_FOUND");
  });

  test("nothing the built main entry imports, loaded at once or later (import()), is the otel subpath or names the package", () => {
    const dist = fileURLToPath(new URL("../runtime/dist/", import.meta.url));
    const reached = new Set<string>();
    const naming: string[] = [];
    const visit = (file: string) => {
      if (reached.has(file)) return;
      reached.add(file);
      const text = readFileSync(file, "utf8");
      if (text.includes("@opentelemetry/")) naming.push(relative(dist, file));
      for (const [, specifier] of text.matchAll(/(?:from|import\(?)\s*"(\.[^"]+)"/g)) visit(resolve(dirname(file), specifier!));
    };
    visit(join(dist, "index.js"));
    expect(reached.size).toBeGreaterThan(50);
    expect([...reached].filter((file) => file.includes("/otel/"))).toEqual([]);
    expect(naming).toEqual([]);
  });
});

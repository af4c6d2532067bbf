import { type DescMessage, type DescMethod, type DescService, type MessageShape, type Registry, fromJsonString, toJson } from "@bufbuild/protobuf";
import { brokerTransport } from "../broker/transport.js";
import { registryTransport } from "../registry/transport.js";
import { RpcClient } from "../rpc/client.js";
import { RpcError } from "../rpc/status.js";
import { type Transport, directTransport } from "../rpc/transport.js";
import { type CallOptions, isMethodOfKind } from "../rpc/types.js";
import { type Command, UsageError, integer, parse, printJson } from "./command.js";
import { JsonLines } from "./json-lines.js";
import { DEFAULT_REGISTRY, SEVERAL_REGISTRIES_USAGE, registriesOf } from "./registry-option.js";
import { SECURITY_USAGE, curveFromEnvironment } from "./security.js";
import { reflectedTypes } from "./reflected-types.js";
import { TYPE_USAGE, givesTypes, loadTypes, typeOptions, unknownType } from "./types.js";

/** `Service/Method`, `/Service/Method` or (with the service known) `Method`: the names of the service and of the method. */
function namesOf(method: string, service: string | undefined): [service: string, method: string] {
  const parts = method.replace(/^\//, "").split("/");
  const [serviceName, methodName] = parts.length === 2 ? (parts as [string, string]) : [service, parts[0]!];
  if (!serviceName) throw new UsageError(`name the method with its service: package.Service/${method}`);
  return [serviceName, methodName];
}

/** The descriptor of the method `methodName` of `serviceName`. */
function findMethod(types: Registry, serviceName: string, methodName: string): DescMethod {
  const desc: DescService | undefined = types.getService(serviceName);
  if (!desc) throw unknownType(types, "service", serviceName);
  const found = desc.methods.find((m) => m.name === methodName || m.localName === methodName);
  if (!found) throw new UsageError(`${serviceName} has no method ${methodName}; it has ${desc.methods.map((m) => m.name).join(", ")}`);
  return found;
}

/** The request headers of `-H name:value` options; a `-bin` name's value is base64. */
function headersOf(given: readonly string[] | undefined): Headers | undefined {
  if (!given?.length) return undefined;
  const headers = new Headers();
  for (const header of given) {
    const colon = header.indexOf(":");
    const name = header.slice(0, colon).trim();
    if (colon < 1 || name === "") throw new UsageError(`-H takes name:value (e.g. -H "authorization: Bearer token"), not "${header}"`);
    const value = header.slice(colon + 1).trim();
    if (name.toLowerCase().endsWith("-bin") && !/^[A-Za-z0-9+/]*={0,2}$/.test(value)) {
      throw new UsageError(`-H ${name}: a -bin header's value is base64 (e.g. $(printf 'bytes' | base64)), not "${value}"`);
    }
    try {
      headers.append(name, value);
    } catch (error) {
      throw new UsageError(`-H "${header}" is no valid header: ${(error as Error).message}`);
    }
  }
  return headers;
}

/** Writes `kind name: value` lines of response metadata on stderr, leaving stdout to the replies. */
function printMetadata(kind: "header" | "trailer"): (headers: Headers) => void {
  return (headers) => {
    for (const [name, value] of headers) process.stderr.write(`${kind} ${name}: ${value}\n`);
  };
}

/** The kind of `method` as a phrase: "client streaming", "bidi streaming". */
const kindOf = (method: DescMethod) => method.methodKind.replace("_", " ");

/**
 * The requests of a client or bidi method: standard input's JSON lines, when the request
 * argument is left out or is `-` (a request given on the command line would be one message
 * where a stream is asked for, so it is refused, saying how to give them).
 */
function requestsFromStdin(method: DescMethod, json: string | undefined, types: Registry): JsonLines<DescMessage> {
  if (json !== undefined && json !== STDIN) {
    throw new UsageError(
      `${method.parent.typeName}/${method.name} is a ${kindOf(method)} method: it reads its requests from standard input, one JSON a line ` +
        `(end of input ends the stream); leave out the JSON or give -, e.g. echo '${json}' | dividere call ... ${method.name}`,
    );
  }
  if (process.stdin.isTTY) process.stderr.write(`dividere call: reading ${method.input.typeName} requests from standard input, one JSON a line; Ctrl-D ends them\n`);
  return new JsonLines(method.input, process.stdin, types);
}

/** The one request of a unary or server-streaming method, given as the JSON argument. */
function requestOf(method: DescMethod, json: string | undefined, types: Registry): MessageShape<DescMessage> {
  if (json === undefined || json === STDIN) {
    throw new UsageError(`${method.parent.typeName}/${method.name} is a ${kindOf(method)} method: give its one request as JSON, e.g. '{}'${json === STDIN ? ' (only client and bidi methods read standard input; for a file: "$(cat request.json)")' : ""}`);
  }
  try {
    return fromJsonString(method.input, json, { registry: types });
  } catch (error) {
    throw new UsageError(`the JSON is not a ${method.input.typeName}: ${(error as Error).message}`);
  }
}

/** The request argument that means "standard input". */
const STDIN = "-";

export const call: Command = {
  name: "call",
  summary: "call a method of a service, with the request given as JSON (a stream of them on stdin)",
  usage: `usage: dividere call TARGET METHOD [JSON] [options]

Calls METHOD with a request given in protobuf's JSON form and prints the reply as a line of JSON
(a server stream: one line per reply). TARGET is either the endpoint of a server
(tcp://host:port; METHOD is then package.Service/Method) or the full name of a service, found
through the registry (or a broker's frontend, with --broker; METHOD may then be just Method).

The types come from --proto or --descriptor-set when given; without them, the server is asked
for them over reflection (grpc.reflection.v1), which every dividere server answers: at TARGET,
or at an instance the registry lists. A broker describes only its own services, so through
--broker, and to a server without reflection, pass --proto.

A client-streaming or bidi METHOD takes no JSON argument (or -): it reads its requests from
standard input, one JSON a line (blank lines skipped), sends each as soon as its line is read,
and ends the stream (a half-close) at the end of input; the replies print as they come. A line
that is not a request cancels the call and exits 2, naming the line.

options:
  --registry ENDPOINTS       the registry to find TARGET in (default ${DEFAULT_REGISTRY})
${SEVERAL_REGISTRIES_USAGE}
  --broker ENDPOINT          call TARGET through this broker's frontend instead
  --timeout MS               give up after this long, for a stream the whole of it (default 5000);
                             asking for the types by reflection has as long again
  -H, --header NAME:VALUE    send this request header (repeatable); a NAME ending in -bin takes base64
  -v, --verbose              show the response headers and trailers on stderr ("header NAME: VALUE",
                             "trailer NAME: VALUE"); stdout stays the replies
${TYPE_USAGE}
  -h, --help                 this text

${SECURITY_USAGE}
`,
  async run(args) {
    const { values, positionals } = parse(
      args,
      {
        registry: { type: "string" },
        broker: { type: "string" },
        timeout: { type: "string" },
        header: { type: "string", short: "H", multiple: true },
        verbose: { type: "boolean", short: "v" },
        ...typeOptions,
      },
      { min: 2, max: 3, names: "TARGET METHOD [JSON]" },
    );
    const [target, methodName, json] = positionals as [string, string, string | undefined];
    const byEndpoint = /^[a-z]+:\/\//.test(target);
    const [serviceName, shortName] = namesOf(methodName, byEndpoint ? undefined : target);
    const timeoutMs = integer(values.timeout, "timeout") ?? 5000;
    const security = curveFromEnvironment();
    let types = loadTypes(values);
    // Without --proto, the server that hosts the service says what its types are (dividere's own, such as dividere.v1.Broker, are known).
    if (!givesTypes(values) && !types.getService(serviceName)) {
      const where = byEndpoint ? { endpoint: target } : values.broker ? { endpoint: values.broker, broker: true } : { registry: values.registry ?? DEFAULT_REGISTRY };
      types = loadTypes(values, await reflectedTypes(where, serviceName, timeoutMs, security));
    }
    const method = findMethod(types, serviceName, shortName);
    const streamsRequests = method.methodKind === "client_streaming" || method.methodKind === "bidi_streaming";
    const requests = streamsRequests ? requestsFromStdin(method, json, types) : undefined;
    const request = streamsRequests ? undefined : requestOf(method, json, types);
    const headers = headersOf(values.header);
    const transport: Transport = byEndpoint
      ? directTransport(target, security)
      : values.broker
        ? brokerTransport(values.broker, security)
        : registryTransport(registriesOf(values.registry), security);
    const client = new RpcClient(transport);
    const options: CallOptions = { timeoutMs, headers };
    if (values.verbose) Object.assign(options, { onHeader: printMetadata("header"), onTrailer: printMetadata("trailer") });
    const print = (reply: MessageShape<DescMessage>) => printJson(toJson(method.output, reply, { registry: types }));
    try {
      if (isMethodOfKind(method, "unary")) print(await client.unary(method, request!, options));
      else if (isMethodOfKind(method, "server_streaming")) for await (const reply of client.serverStream(method, request!, options)) print(reply);
      else if (isMethodOfKind(method, "client_streaming")) print(await client.clientStream(method, requests!, options));
      else if (isMethodOfKind(method, "bidi_streaming")) for await (const reply of client.bidiStream(method, requests!, options)) print(reply);
      return 0;
    } catch (error) {
      // A bad line cancelled the call: the line is the news, not the CANCELLED it caused.
      if (requests?.failure) throw requests.failure;
      if (!(error instanceof RpcError)) throw error;
      process.stderr.write(`dividere call: ${error.code}: ${error.message}\n`);
      return 1;
    } finally {
      // A call that ended before its input did leaves stdin open, which would keep the process alive.
      if (requests) process.stdin.destroy();
      await transport.close();
    }
  },
};

// Reflection (proto/grpc/reflection/v1/reflection.proto): every server sends the descriptors of
// the services it hosts, each file with the files it imports, over real sockets; a registry
// built from the answer alone resolves the methods and their messages.
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { afterEach, expect, test } from "vitest";
import { ReflectionClient, RpcClient, RpcServer, directTransport, reflectionProtocol } from "@dividere/runtime";
import { echo } from "./fixtures/echo-service.mjs";
import { EchoDefinition } from "./fixtures/gen/test/services/v1/echo_dividere.js";
import { StampDefinition } from "./fixtures/gen/test/services/v1/stamp_dividere.js";
import { StampReplySchema } from "./fixtures/gen/test/services/v1/stamp_pb.js";
import { rejection } from "./helpers.js";

const loopback = () => ({ bind: "tcp://127.0.0.1:0" });
const cleanup: Array<() => unknown> = [];
const later = <T>(thing: T, close: (thing: T) => unknown): T => (cleanup.push(() => close(thing)), thing);

afterEach(async () => {
  for (const close of cleanup.splice(0).reverse()) await close();
});

const stamp = {
  now: (request: { text: string }) => ({ echo: { text: request.text }, at: timestampNow() }),
  async *ticks(request: { text: string; count: number }) {
    for (let index = 0; index < request.count; index++) yield { echo: { text: request.text, index }, at: timestampNow() };
  },
};

/** A server hosting Echo and Stamp, and a ReflectionClient asking it. */
function reflected(options: { reflection?: boolean } = {}) {
  const server = later(new RpcServer(loopback(), options).add(EchoDefinition, echo("reflected")).add(StampDefinition, stamp), (s) => s.close({ graceMs: 0 }));
  const transport = later(directTransport(server.endpoint), (t) => t.close());
  return { transport, reflection: new ReflectionClient(transport) };
}

test("a server lists the services it hosts, the built-in ones included", async () => {
  const { reflection } = reflected();
  expect((await reflection.listServices({ timeoutMs: 5000 })).sort()).toEqual(
    ["dividere.v1.Discovery", "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "test.services.v1.Echo", "test.services.v1.Stamp"].sort(),
  );
});

test("the file of a service comes with the files it imports, and the registry made of them resolves its methods and messages", async () => {
  const { reflection } = reflected();
  const echoTypes = await reflection.fileContainingSymbol("test.services.v1.Echo", { timeoutMs: 5000 });
  expect([...echoTypes.files].map((file) => file.proto.name)).toEqual(["test/services/v1/echo.proto"]);
  const say = echoTypes.getService("test.services.v1.Echo")?.methods.find((method) => method.name === "Say");
  expect(say?.methodKind).toBe("unary");
  expect(say?.input.typeName).toBe("test.services.v1.EchoRequest");
  expect(say?.input.fields.map((field) => field.name)).toEqual(["text", "delay_ms", "count", "fail", "fail_code"]);

  const stampTypes = await reflection.fileContainingSymbol("test.services.v1.Stamp", { timeoutMs: 5000 });
  expect([...stampTypes.files].map((file) => file.proto.name).sort()).toEqual(["google/protobuf/timestamp.proto", "test/services/v1/echo.proto", "test/services/v1/stamp.proto"]);
  const ticks = stampTypes.getService("test.services.v1.Stamp")!.methods.find((method) => method.name === "Ticks")!;
  expect(ticks.methodKind).toBe("server_streaming");
  expect(ticks.output.field.at?.message?.typeName).toBe("google.protobuf.Timestamp");
  // The reflected descriptor reads what the generated one writes.
  const reply = create(StampReplySchema, { echo: { text: "hi", index: 2 }, at: { seconds: 7n } });
  const decoded = fromBinary(ticks.output, toBinary(StampReplySchema, reply)) as unknown as { echo: { text: string; index: number }; at: { seconds: bigint } };
  expect(decoded.echo).toMatchObject({ text: "hi", index: 2 });
  expect(decoded.at.seconds).toBe(7n);
});

test("a method's, a message's and a field's names find their file; a file by its name; the unknown ones NOT_FOUND", async () => {
  const { reflection, transport } = reflected();
  for (const symbol of ["test.services.v1.Stamp.Now", "test.services.v1.StampReply", "test.services.v1.StampReply.at"]) {
    expect((await reflection.fileContainingSymbol(symbol, { timeoutMs: 5000 })).getFile("test/services/v1/stamp.proto")).toBeDefined();
  }
  expect(await rejection(reflection.fileContainingSymbol("acme.Billing", { timeoutMs: 5000 }))).toMatchObject({ code: "NOT_FOUND", message: expect.stringMatching(/no symbol "acme\.Billing"/) });
  // The wire as a gRPC client speaks it: several questions on one stream, one answer each, in order.
  const questions = (async function* () {
    yield { messageRequest: { case: "fileByFilename" as const, value: "test/services/v1/stamp.proto" } };
    yield { messageRequest: { case: "fileByFilename" as const, value: "nope.proto" } };
    yield { messageRequest: { case: "allExtensionNumbersOfType" as const, value: "test.services.v1.EchoRequest" } };
  })();
  const answers = [];
  for await (const answer of new RpcClient(transport).bidiStream(reflectionProtocol.ServerReflection.method.serverReflectionInfo, questions, { timeoutMs: 5000 })) {
    answers.push(answer.messageResponse);
  }
  expect(answers.map((answer) => answer.case)).toEqual(["fileDescriptorResponse", "errorResponse", "allExtensionNumbersResponse"]);
  expect(answers[0]?.case === "fileDescriptorResponse" && answers[0].value.fileDescriptorProto).toHaveLength(3);
  expect(answers[1]).toMatchObject({ value: { errorCode: 5, errorMessage: expect.stringMatching(/no file "nope\.proto"/) } });
});

test("a server made with reflection: false answers it UNIMPLEMENTED", async () => {
  const { reflection } = reflected({ reflection: false });
  expect((await rejection(reflection.listServices({ timeoutMs: 5000 }))).code).toBe("UNIMPLEMENTED");
});

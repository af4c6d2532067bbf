import { mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { type Server, type Socket as NetSocket, createConnection, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeAll, describe, expect, test } from "vitest";
import {
  Broker,
  DividereError,
  RegistryClient,
  RegistryServer,
  RpcError,
  RpcServer,
  Worker,
  brokerTransport,
  connection,
  type CallContext,
  type ServerInterceptor,
  curve,
  directTransport,
  envelope,
  messaging,
  rpcProtocol,
  serve,
} from "@dividere/runtime";
import { z85Decode, z85Encode } from "../runtime/src/connection/z85.js";
import { echo } from "./fixtures/echo-service.mjs";
import { EchoClient, EchoDefinition } from "./fixtures/gen/test/services/v1/echo_dividere.js";
import { testMsg01Schema } from "./gen/test/TestMsg_pb.js";
import { eventually, runNode } from "./helpers.js";
import { Child, node, registryProcess } from "./processes.js";
import { pyzmq } from "./prerequisites.js";
import { findPython, generatePythonModules, pythonPeer } from "./python-peer.js";

const types = [testMsg01Schema];
const fixture = fileURLToPath(new URL("./fixtures/curve-exits.mjs", import.meta.url));
const root = fileURLToPath(new URL("..", import.meta.url));
const cli = join(root, "runtime/bin/dividere.js");
const loopback = () => ({ bind: "tcp://127.0.0.1:0" });
const cleanup: Array<() => unknown> = [];
const later = <T>(thing: T, close: (thing: T) => unknown): T => (cleanup.push(() => close(thing)), thing);

afterEach(async () => {
  for (const close of cleanup.splice(0).reverse()) await close();
});

/** A server's key pair, one allowed client's and one intruder's: a valid CURVE client the server does not know. */
function keys() {
  const server = curve.keyPair();
  const friend = curve.keyPair();
  const intruder = curve.keyPair();
  const refusals: curve.CurveRefusal[] = [];
  return {
    server: { ...server, allow: [friend.publicKey], onRefused: (refusal: curve.CurveRefusal) => refusals.push(refusal) },
    friend: { ...friend, serverKey: server.publicKey },
    intruder: { ...intruder, serverKey: server.publicKey },
    refusals,
    intruderKey: intruder.publicKey,
  };
}

/** Waits until the server has refused `key` (an allow-list refusal) or, without a key, a failed handshake. */
async function refused(refusals: curve.CurveRefusal[], key?: string): Promise<void> {
  await eventually(
    () => refusals.some((r) => (key ? r.reason === "NOT_ALLOWED" && r.publicKey === key : r.reason === "HANDSHAKE_FAILED")),
    5000,
    key ? `the refusal of ${key}` : "a failed handshake",
  );
}

describe("keys and certificates", () => {
  test("Z85 as RFC 32 gives it; a public key is derived from its secret key", () => {
    const hello = Uint8Array.from([0x86, 0x4f, 0xd2, 0x6f, 0xb5, 0x59, 0xf7, 0x5b]);
    expect(z85Encode(hello)).toBe("HelloWorld");
    expect(z85Decode("HelloWorld")).toEqual(hello);
    expect(z85Decode("Hello World")).toBeUndefined();
    for (let i = 0; i < 20; i++) {
      const pair = curve.keyPair();
      expect(z85Encode(z85Decode(pair.publicKey)!)).toBe(pair.publicKey);
      expect(curve.publicKeyOf(pair.secretKey)).toBe(pair.publicKey);
    }
  });

  test("certificates written, read back, gathered into an allow list, and taken from the environment", () => {
    const folder = mkdtempSync(join(tmpdir(), "dividere-keys-"));
    const pair = curve.keyPair();
    const { publicFile, secretFile } = curve.writeCertificates(join(folder, "server"), pair);
    expect(curve.readCertificate(publicFile)).toEqual({ publicKey: pair.publicKey });
    expect(curve.readCertificate(secretFile)).toEqual(pair);
    expect(statSync(secretFile).mode & 0o777).toBe(0o600);
    const other = curve.writeCertificates(join(folder, "client"));
    expect(curve.readAllowList(folder)).toEqual([curve.readCertificate(other.publicFile).publicKey, pair.publicKey]);
    expect(curve.readAllowList(publicFile)).toEqual([pair.publicKey]);

    expect(curve.fromEnv({})).toBeUndefined();
    expect(curve.fromEnv({ DIVIDERE_CURVE_CERT: secretFile, DIVIDERE_CURVE_ALLOW: `${folder}, ${pair.publicKey}` })).toEqual({
      secretKey: pair.secretKey,
      allow: [curve.readCertificate(other.publicFile).publicKey, pair.publicKey, pair.publicKey],
    });
    expect(curve.fromEnv({ DIVIDERE_CURVE_SERVER_KEY: publicFile })).toEqual({ serverKey: pair.publicKey });
    expect(curve.fromEnv({ DIVIDERE_CURVE_SECRET_KEY: pair.secretKey, DIVIDERE_CURVE_SERVER_KEY: pair.publicKey })).toEqual({
      secretKey: pair.secretKey,
      serverKey: pair.publicKey,
    });
  });

  test("bad keys, files and combinations are INVALID_ARGUMENT and say what to do; no socket is left open", () => {
    const folder = mkdtempSync(join(tmpdir(), "dividere-keys-"));
    const pair = curve.keyPair();
    const bad = (make: () => unknown, message: RegExp) => {
      let error: unknown;
      try {
        make();
      } catch (thrown) {
        error = thrown;
      }
      expect(error).toBeInstanceOf(DividereError);
      expect(error).toMatchObject({ code: "INVALID_ARGUMENT" });
      expect((error as Error).message).toMatch(message);
    };
    bad(() => new connection.Response(loopback(), { curve: { secretKey: "too short" } }), /40 characters of Z85/);
    bad(() => new connection.Response(loopback(), { curve: {} }), /needs its secretKey.*dividere keygen/);
    bad(() => new connection.Response(loopback(), { curve: { ...pair, publicKey: curve.keyPair().publicKey } }), /does not belong/);
    bad(() => new connection.Request("tcp://127.0.0.1:1", { curve: { serverKey: pair.publicKey, allow: [] } }), /for CURVE servers/);
    bad(() => new connection.Request("tcp://127.0.0.1:1", { curve: { serverKey: "~".repeat(40) } }), /serverKey is not a CURVE key/);
    bad(() => curve.readCertificate(join(folder, "missing.key")), /cannot read the certificate/);
    writeFileSync(join(folder, "plain.txt"), "hello\n");
    bad(() => curve.readCertificate(join(folder, "plain.txt")), /not a CURVE certificate/);
    const mixed = join(folder, "mixed.key_secret");
    writeFileSync(mixed, `curve\n    public-key = "${curve.keyPair().publicKey}"\n    secret-key = "${pair.secretKey}"\n`);
    bad(() => curve.readCertificate(mixed), /does not belong/);
    bad(() => curve.fromEnv({ DIVIDERE_CURVE_CERT: curve.writeCertificates(join(folder, "p")).publicFile }), /no secret key/);
  });
});

test("dividere keygen writes a certificate pair, refuses to overwrite it without --force, and takes no path as NAME", async () => {
  const folder = join(mkdtempSync(join(tmpdir(), "dividere-keys-")), "made");
  const keygen = (...args: string[]) => runNode(cli, 20_000, { args: ["keygen", ...args] });
  const made = await keygen("server", "--dir", folder);
  expect(made.code).toBe(0);
  const written = curve.readCertificate(join(folder, "server.key_secret"));
  expect(made.stdout).toContain(`public key ${written.publicKey}`);
  expect(curve.readCertificate(join(folder, "server.key"))).toEqual({ publicKey: written.publicKey });
  const again = await keygen("server", "--dir", folder);
  expect(again.code).toBe(2);
  expect(again.stderr).toMatch(/exists.*--force/);
  expect(curve.readCertificate(join(folder, "server.key_secret"))).toEqual(written);
  expect((await keygen("server", "--dir", folder, "--force")).code).toBe(0);
  expect(curve.readCertificate(join(folder, "server.key_secret")).publicKey).not.toBe(written.publicKey);
  const path = await keygen("../elsewhere");
  expect(path.code).toBe(2);
  expect(path.stderr).toMatch(/without folders/);
});

test("the dividere commands take their keys from the environment: an allowed `dividere call` is answered, one without keys is not", async () => {
  const folder = mkdtempSync(join(tmpdir(), "dividere-keys-"));
  const server = curve.writeCertificates(join(folder, "server"));
  const client = curve.writeCertificates(join(folder, "clients", "cli"));
  const rpc = later(
    new RpcServer(loopback(), { curve: { ...curve.readCertificate(server.secretFile), allow: curve.readAllowList(join(folder, "clients")) } }).add(
      EchoDefinition,
      echo("secured"),
    ),
    (s) => s.close({ graceMs: 0 }),
  );
  const call = (env: NodeJS.ProcessEnv) =>
    runNode(cli, 20_000, {
      args: ["call", rpc.endpoint, "test.services.v1.Echo/Say", '{"text": "hi"}', "--timeout", "1000", "--proto", join(root, "proto")],
      env: { ...process.env, ...env },
    });
  const allowed = await call({ DIVIDERE_CURVE_CERT: client.secretFile, DIVIDERE_CURVE_SERVER_KEY: server.publicFile });
  expect(allowed.stderr).toBe("");
  expect(JSON.parse(allowed.stdout)).toEqual({ text: "hi", servedBy: "secured" });
  const plain = await call({});
  expect(plain.code).toBe(1);
  expect(plain.stderr).toMatch(/UNAVAILABLE: lost the connection/); // a server speaking CURVE drops a plain-text client
});

test("dividere registry keyed from the environment: an allowed `dividere lookup` is answered, an intruder's is not and the registry says so on stderr", async () => {
  const folder = mkdtempSync(join(tmpdir(), "dividere-keys-"));
  const server = curve.writeCertificates(join(folder, "registry"));
  const client = curve.writeCertificates(join(folder, "clients", "ops"));
  const intruder = curve.writeCertificates(join(folder, "intruder"));
  const env = { ...process.env, DIVIDERE_CURVE_CERT: server.secretFile, DIVIDERE_CURVE_ALLOW: join(folder, "clients") };
  const { registry, endpoints: { endpoint } } = await registryProcess((child) => later(child, (c) => c.kill()), {}, env);
  const lookup = (cert: string) =>
    runNode(cli, 20_000, {
      args: ["lookup", "no.Such", "--registry", endpoint, "--timeout", "1000"],
      env: { ...process.env, DIVIDERE_CURVE_CERT: cert, DIVIDERE_CURVE_SERVER_KEY: server.publicFile },
    });
  const allowed = await lookup(client.secretFile);
  expect(allowed.stderr).toMatch(/no instance of no.Such is registered/);
  const refused = await lookup(intruder.secretFile);
  expect(refused.code).toBe(1);
  expect(refused.stderr).not.toMatch(/no instance/);
  await eventually(() => registry.stderr.includes(`client key ${curve.readCertificate(intruder.publicFile).publicKey} from 127.0.0.1 is not in the allow list`), 5000, "the refusal on the registry's stderr");
  registry.kill("SIGTERM");
  await registry.finished();
});

describe("an allow list enforced through the ZAP handler", () => {
  test("pub/sub: the allowed subscriber gets every message; an unknown key and a plain-text subscriber get none, and each refusal is reported", async () => {
    const k = keys();
    const pub = later(new messaging.Publisher(loopback(), { types, curve: k.server }), (s) => s.close());
    const friend = later(new messaging.Subscriber(pub.endpoint, { types, curve: k.friend }), (s) => s.close());
    const intruder = later(new messaging.Subscriber(pub.endpoint, { types, curve: k.intruder }), (s) => s.close());
    const plain = later(new messaging.Subscriber(pub.endpoint, { types }), (s) => s.close());
    await pub.waitForSubscribers({ timeoutMs: 5000 });
    await refused(k.refusals, k.intruderKey);
    await refused(k.refusals);
    for (let i = 0; i < 100; i++) await pub.send(testMsg01Schema, { field1: "for friends only", field2: i });
    for (let i = 0; i < 100; i++) expect(await friend.recv({ timeoutMs: 5000 })).toMatchObject({ field2: i });
    expect(pub.subscriberCount()).toBe(1);
    // The friend has all 100; anything sent to the others would be there by now.
    expect(await intruder.wait(200)).toBe(false);
    expect(await plain.wait(1)).toBe(false);
    expect(k.refusals.find((r) => r.reason === "NOT_ALLOWED")).toMatchObject({ address: "127.0.0.1", publicKey: k.intruderKey });
  });

  test("RPC: the allowed client's calls are answered; the intruder's never reach the server", async () => {
    const k = keys();
    const seen: CallContext[] = [];
    const server = later(new RpcServer(loopback(), { curve: k.server }).add(EchoDefinition, echo("guarded", seen)), (s) => s.close({ graceMs: 0 }));
    const friend = later(directTransport(server.endpoint, { curve: k.friend }), (t) => t.close());
    const intruder = later(directTransport(server.endpoint, { curve: k.intruder }), (t) => t.close());
    for (let i = 0; i < 20; i++) expect(await new EchoClient(friend).say({ text: `hi ${i}` })).toMatchObject({ text: `hi ${i}`, servedBy: "guarded" });
    await expect(new EchoClient(intruder).say({ text: "let me in" }, { timeoutMs: 5000 })).rejects.toMatchObject({ code: "UNAUTHENTICATED" });
    await refused(k.refusals, k.intruderKey);
    expect(seen).toHaveLength(20);
    expect(server.stats.ok).toBe(20);
  });

  test("the verified caller: the handler gets the caller's key as the server proved it, and refuses one key for one method", async () => {
    const k = keys();
    const other = curve.keyPair();
    k.server.allow.push(other.publicKey);
    const seen: CallContext[] = [];
    const guarded = {
      ...echo("guarded", seen),
      // Say is for the friend only; Count for every allowed key.
      say(request: { text: string }, ctx: CallContext) {
        seen.push(ctx);
        if (ctx.callerKey !== k.friend.publicKey) throw new RpcError("PERMISSION_DENIED", `Say is not for ${ctx.callerKey ?? "unauthenticated callers"}`);
        return { text: request.text, servedBy: "guarded" };
      },
    };
    const server = later(new RpcServer(loopback(), { curve: k.server }).add(EchoDefinition, guarded), (s) => s.close({ graceMs: 0 }));
    const friend = new EchoClient(later(directTransport(server.endpoint, { curve: k.friend }), (t) => t.close()));
    const stranger = new EchoClient(later(directTransport(server.endpoint, { curve: { ...other, serverKey: k.friend.serverKey } }), (t) => t.close()));
    expect(await friend.say({ text: "hi" }, { timeoutMs: 5000 })).toMatchObject({ text: "hi" });
    expect(seen.at(-1)!.callerKey).toBe(k.friend.publicKey);
    await expect(stranger.say({ text: "hi" }, { timeoutMs: 5000 })).rejects.toMatchObject({ code: "PERMISSION_DENIED" });
    expect(seen.at(-1)!.callerKey).toBe(other.publicKey);
    const counted: number[] = [];
    for await (const reply of stranger.count({ text: "n", count: 2 }, { timeoutMs: 5000 })) counted.push(reply.index);
    expect(counted).toEqual([0, 1]);
    expect(seen.at(-1)!.callerKey).toBe(other.publicKey);
  });

  test("a caller key claimed without the proof of its secret key is refused UNAUTHENTICATED; without CURVE no caller is authenticated", async () => {
    const k = keys();
    const other = curve.keyPair();
    k.server.allow.push(other.publicKey);
    const seen: CallContext[] = [];
    const server = later(new RpcServer(loopback(), { curve: k.server }).add(EchoDefinition, echo("guarded", seen)), (s) => s.close({ graceMs: 0 }));
    // An allowed client (other) claims the friend's key with a made-up proof.
    const raw = later(new connection.Dealer(server.endpoint, { curve: { ...other, serverKey: k.friend.serverKey } }), (d) => d.close());
    const codec = new envelope.EnvelopeCodec([rpcProtocol.RpcRequestSchema, rpcProtocol.RpcResponseSchema]);
    const callerKey = z85Decode(k.friend.publicKey)!;
    await raw.send(codec.encode(rpcProtocol.RpcRequestSchema, { id: 1n, method: "/test.services.v1.Echo/Say", timeoutMs: 5000, callerKey, callerProof: new Uint8Array(32).fill(7) }));
    const answer = codec.decode((await raw.recv({ timeoutMs: 5000 }))[0]!);
    expect(answer).toMatchObject({ $typeName: "dividere.v1.RpcResponse", code: rpcProtocol.StatusCode.UNAUTHENTICATED, message: expect.stringMatching(/proof of its key/) });
    expect(seen).toHaveLength(0);

    const plain = later(new RpcServer(loopback()).add(EchoDefinition, echo("plain", seen)), (s) => s.close({ graceMs: 0 }));
    await new EchoClient(later(directTransport(plain.endpoint), (t) => t.close())).say({ text: "who?" }, { timeoutMs: 5000 });
    expect(seen[0]!.callerKey).toBeUndefined();
  });

  test("registry: a hosted service registers and is found over CURVE; an intruder's lookup gets no answer", async () => {
    const k = keys();
    const service = curve.keyPair();
    k.server.allow.push(service.publicKey);
    const registry = later(new RegistryServer({ endpoint: loopback(), publishEndpoint: loopback(), watchEndpoint: loopback(), curve: k.server }), (r) => r.close());
    const asFriend = { ...registry.clientEndpoints, timeoutMs: 1000 };
    const serviceClient = later(new RegistryClient({ ...asFriend, curve: { ...service, serverKey: k.friend.serverKey } }), (c) => c.close());
    const host = later(await serve(EchoDefinition, echo("registered"), { endpoint: loopback(), registry: serviceClient, host: "127.0.0.1" }), (h) => h.close());
    await host.waitForRegistration({ timeoutMs: 5000 });
    const friend = later(new RegistryClient({ ...asFriend, curve: k.friend }), (c) => c.close());
    expect((await friend.lookup(EchoDefinition.typeName)).map((i) => i.endpoint)).toEqual([host.endpoint]);
    const intruder = later(new RegistryClient({ ...asFriend, curve: k.intruder, retries: 0, timeoutMs: 500 }), (c) => c.close());
    await expect(intruder.lookup(EchoDefinition.typeName)).rejects.toBeInstanceOf(DividereError);
    await refused(k.refusals, k.intruderKey);
  });

  test("broker: calls through an allow-listed broker reach an allowed worker; the intruder's call is never answered", async () => {
    const k = keys();
    const worker = curve.keyPair();
    k.server.allow.push(worker.publicKey);
    const broker = later(new Broker({ frontend: loopback(), backend: loopback(), heartbeatIntervalMs: 200, curve: k.server }), (b) => b.close());
    later(new Worker(broker.backendEndpoint, { heartbeatIntervalMs: 200, curve: { ...worker, serverKey: k.friend.serverKey } }).add(EchoDefinition, echo("worker")).start(), (w) => w.close());
    const friend = later(brokerTransport(broker.frontendEndpoint, { curve: k.friend }), (t) => t.close());
    for (let i = 0; i < 20; i++) expect(await new EchoClient(friend).say({ text: `job ${i}` }, { timeoutMs: 5000 })).toMatchObject({ servedBy: "worker" });
    const intruder = later(brokerTransport(broker.frontendEndpoint, { curve: k.intruder, defaults: { retries: 0 } }), (t) => t.close());
    await expect(new EchoClient(intruder).say({ text: "sneak" }, { timeoutMs: 5000 })).rejects.toMatchObject({
      code: "UNAUTHENTICATED",
      message: expect.stringMatching(/not in the server's allow list/),
    });
    await refused(k.refusals, k.intruderKey);
    expect(broker.stats.answered).toBe(20);
  });

  test("broker: the worker's handler gets the caller's key as the broker verified it; a proof that does not hold, or a key set in the broker's field, vouches for nobody", async () => {
    const k = keys();
    const worker = curve.keyPair();
    const other = curve.keyPair();
    k.server.allow.push(worker.publicKey, other.publicKey);
    const seen: CallContext[] = [];
    const broker = later(new Broker({ frontend: loopback(), backend: loopback(), heartbeatIntervalMs: 200, curve: k.server }), (b) => b.close());
    // Say is for the friend only, by the key the broker vouches for.
    const sayForFriend: ServerInterceptor = (next) => async (req) => {
      if (req.method.name === "Say" && req.ctx.callerKey !== k.friend.publicKey) throw new RpcError("PERMISSION_DENIED", `Say is not for ${req.ctx.callerKey ?? "unauthenticated callers"}`);
      return await next(req);
    };
    const workerOptions = { heartbeatIntervalMs: 200, curve: { ...worker, serverKey: k.friend.serverKey }, interceptors: [sayForFriend] };
    later(new Worker(broker.backendEndpoint, workerOptions).add(EchoDefinition, echo("worker", seen)).start(), (w) => w.close());
    const friend = new EchoClient(later(brokerTransport(broker.frontendEndpoint, { curve: k.friend }), (t) => t.close()));
    expect(await friend.say({ text: "hi" }, { timeoutMs: 5000 })).toMatchObject({ text: "hi", servedBy: "worker" });
    expect(seen.at(-1)!.callerKey).toBe(k.friend.publicKey);
    const stranger = new EchoClient(later(brokerTransport(broker.frontendEndpoint, { curve: { ...other, serverKey: k.friend.serverKey } }), (t) => t.close()));
    await expect(stranger.say({ text: "hi" }, { timeoutMs: 5000 })).rejects.toMatchObject({ code: "PERMISSION_DENIED", message: `Say is not for ${other.publicKey}` });
    const counted: number[] = [];
    for await (const reply of stranger.count({ text: "n", count: 2 }, { timeoutMs: 5000 })) counted.push(reply.index);
    expect(counted).toEqual([0, 1]);
    expect(seen.at(-1)!.callerKey).toBe(other.publicKey);

    // The allowed "other" claims the friend's key: with a made-up proof, and in the broker's own field.
    const raw = later(new connection.Dealer(broker.frontendEndpoint, { curve: { ...other, serverKey: k.friend.serverKey } }), (d) => d.close());
    const codec = new envelope.EnvelopeCodec([rpcProtocol.RpcRequestSchema, rpcProtocol.RpcResponseSchema]);
    const friendKey = z85Decode(k.friend.publicKey)!;
    const say = { method: "/test.services.v1.Echo/Say", timeoutMs: 5000, payload: new Uint8Array([10, 1, 120]) };
    await raw.send(codec.encode(rpcProtocol.RpcRequestSchema, { id: 1n, ...say, callerKey: friendKey, callerProof: new Uint8Array(32).fill(7) }));
    expect(codec.decode((await raw.recv({ timeoutMs: 5000 }))[0]!)).toMatchObject({ code: rpcProtocol.StatusCode.UNAUTHENTICATED, message: expect.stringMatching(/proof of its key/) });
    await raw.send(codec.encode(rpcProtocol.RpcRequestSchema, { id: 2n, ...say, verifiedCallerKey: friendKey }));
    expect(codec.decode((await raw.recv({ timeoutMs: 5000 }))[0]!)).toMatchObject({ code: rpcProtocol.StatusCode.PERMISSION_DENIED, message: "Say is not for unauthenticated callers" });
  });

  test("every socket kind: the allowed client's message arrives, the intruder's does not", async () => {
    const kinds = [
      ["Push → Pull", (at: object, o: object) => new connection.Pull(at, o), (to: string, o: object) => new connection.Push(to, o)],
      ["Dealer → Router", (at: object, o: object) => new connection.Router(at, o), (to: string, o: object) => new connection.Dealer(to, o)],
      ["Request → Response", (at: object, o: object) => new connection.Response(at, o), (to: string, o: object) => new connection.Request(to, o)],
      ["Pair → Pair", (at: object, o: object) => new connection.Pair(at, o), (to: string, o: object) => new connection.Pair(to, o)],
    ] as const;
    for (const [kind, makeServer, makeClient] of kinds) {
      const k = keys();
      const server = later(makeServer(loopback(), { curve: k.server }), (s) => s.close());
      const intruder = later(makeClient(server.endpoint, { curve: k.intruder }), (s) => s.close());
      await refused(k.refusals, k.intruderKey);
      void intruder.send("from the intruder").catch(() => undefined); // queued for a connection that never completes
      const friend = later(makeClient(server.endpoint, { curve: k.friend }), (s) => s.close());
      await friend.send("from a friend");
      const frames = await server.recv({ timeoutMs: 5000 });
      expect(frames.at(-1)!.toString(), kind).toBe("from a friend");
      expect(await server.wait(100), kind).toBe(false);
    }
  });

  test("a server without an allow list encrypts for every client that knows its public key", async () => {
    const server = curve.keyPair();
    const rep = later(new messaging.Response(loopback(), { types, curve: server }), (s) => s.close());
    const req = later(new messaging.Request(rep.endpoint, { types, curve: { serverKey: server.publicKey } }), (s) => s.close());
    await req.send(testMsg01Schema, { field1: "anyone" });
    expect(await rep.recv({ timeoutMs: 5000 })).toMatchObject({ field1: "anyone" });
  });

  test("the ZAP handler closes with the last allow-listed socket: the program exits by itself", async () => {
    await node(fixture).finished();
  });

  test("by default a refusal is a line on stderr naming the key, in a server keyed from the environment", async () => {
    const server = curve.keyPair();
    const child = later(new Child(process.execPath, [fixture, "wait"], { ...process.env, DIVIDERE_CURVE_SECRET_KEY: server.secretKey }), (c) => c.kill());
    const { endpoint } = (await child.next()) as { endpoint: string };
    const intruder = curve.keyPair();
    const knocking = later(new connection.Request(endpoint, { curve: { ...intruder, serverKey: server.publicKey } }), (s) => s.close());
    await knocking.send("let me in");
    const plain = later(new connection.Request(endpoint), (s) => s.close());
    await plain.send("me too");
    await eventually(() => child.stderr.includes("failed the CURVE handshake"), 5000, "the plain-text client's refusal on stderr");
    await eventually(() => child.stderr.includes(`client key ${intruder.publicKey} from 127.0.0.1 is not in the allow list`), 5000, "the intruder's refusal on stderr");
    expect(await knocking.wait(1)).toBe(false);
    child.kill("SIGTERM");
    await child.finished();
  });
});

/** A TCP relay on loopback that records every byte passing through it, both ways. */
async function recordingRelay(target: string): Promise<{ endpoint: string; bytes: () => Buffer; close: () => Promise<void> }> {
  const { hostname, port } = new URL(target.replace("tcp://", "http://"));
  const chunks: Buffer[] = [];
  const sockets = new Set<NetSocket>();
  const relay: Server = createServer((client) => {
    const upstream = createConnection(Number(port), hostname);
    for (const [from, to] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      sockets.add(from);
      from.on("data", (chunk: Buffer) => (chunks.push(chunk), to.write(chunk)));
      from.on("close", () => to.destroy());
      from.on("error", () => to.destroy());
    }
  });
  await new Promise<void>((resolve) => relay.listen(0, "127.0.0.1", resolve));
  const address = relay.address() as { port: number };
  return {
    endpoint: `tcp://127.0.0.1:${address.port}`,
    bytes: () => Buffer.concat(chunks),
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => relay.close(() => resolve()));
    },
  };
}

describe("on the wire", () => {
  const SECRET = "greenhouse door code 4711";

  /** Calls and publishes SECRET through a recording relay; returns what the relay saw. */
  async function capture(secured: boolean): Promise<Buffer> {
    const k = keys();
    const server = later(new RpcServer(loopback(), secured ? { curve: k.server } : {}).add(EchoDefinition, echo("wire")), (s) => s.close({ graceMs: 0 }));
    const relay = later(await recordingRelay(server.endpoint), (r) => r.close());
    const transport = later(directTransport(relay.endpoint, secured ? { curve: k.friend } : {}), (t) => t.close());
    for (let i = 0; i < 10; i++) expect(await new EchoClient(transport).say({ text: `${SECRET} #${i}` }, { timeoutMs: 5000 })).toMatchObject({ text: `${SECRET} #${i}` });
    const pub = later(new messaging.Publisher(loopback(), { types, ...(secured && { curve: k.server }) }), (s) => s.close());
    const pubRelay = later(await recordingRelay(pub.endpoint), (r) => r.close());
    const sub = later(new messaging.Subscriber(pubRelay.endpoint, { types, ...(secured && { curve: k.friend }) }), (s) => s.close());
    await pub.waitForSubscribers({ timeoutMs: 5000 });
    await pub.send(testMsg01Schema, { field1: SECRET });
    expect(await sub.recv({ timeoutMs: 5000 })).toMatchObject({ field1: SECRET });
    return Buffer.concat([relay.bytes(), pubRelay.bytes()]);
  }

  test("captured on loopback: plain text shows the payloads and type names; with CURVE none of them, nor any ZMTP frame of it, is readable", async () => {
    const plain = await capture(false);
    expect(plain.includes(SECRET)).toBe(true);
    expect(plain.includes("test.services.v1.Echo")).toBe(true);
    expect(plain.includes("testMsg01")).toBe(true);

    const secured = await capture(true);
    expect(secured.length).toBeGreaterThan(2000);
    for (const readable of [SECRET, "door code", "test.services.v1.Echo", "testMsg01", "type.googleapis.com", "dividere.v1"]) {
      expect(secured.includes(readable), readable).toBe(false);
    }
    // Only the handshake's mechanism name is in the clear.
    expect(secured.includes("CURVE")).toBe(true);
    console.log(`captured ${plain.length} bytes in plain text, ${secured.length} bytes under CURVE`);
  });
});

describe.skipIf(!pyzmq.program)("with Python peers", () => {
  let python: string;
  let modules: string;
  beforeAll(() => {
    python = findPython();
    modules = generatePythonModules();
  });

  test("pyzmq reads the certificates dividere keygen writes, and dividere reads pyzmq's; a Python client talks to an allow-listed server", async () => {
    const folder = mkdtempSync(join(tmpdir(), "dividere-keys-"));
    const pyCerts = later(pythonPeer(python, modules, ["certificates", folder, "python-client"]), (c) => c.kill());
    const made = (await pyCerts.next()) as { public: string; secret: string; publicKey: string };
    expect(curve.readCertificate(made.secret).publicKey).toBe(made.publicKey);
    const keygen = node(cli, "keygen", "server", "--dir", folder);
    await keygen.finished();
    const server = curve.readCertificate(join(folder, "server.key_secret"));
    const refusals: curve.CurveRefusal[] = [];
    const rep = later(
      new messaging.Response(loopback(), { types, curve: { ...server, allow: curve.readAllowList(made.public), onRefused: (r) => refusals.push(r) } }),
      (s) => s.close(),
    );
    const peer = later(
      pythonPeer(python, modules, ["req", rep.endpoint, "secret", "words"], { PEER_CURVE_CERT: made.secret, PEER_CURVE_SERVER: join(folder, "server.key") }),
      (c) => c.kill(),
    );
    for (const [i, word] of ["secret", "words"].entries()) {
      expect(await rep.recv({ timeoutMs: 10_000 })).toMatchObject({ field1: word, field2: i });
      await rep.send(testMsg01Schema, { field1: [...word].reverse().join(""), field2: i + 1 });
      expect(await peer.next()).toMatchObject({ type: "testMsg01", json: { field1: [...word].reverse().join("") } });
    }
    await peer.finished();
    expect(refusals).toEqual([]);
    expect(readFileSync(join(folder, "server.key"), "utf8")).toContain(`public-key = "${server.publicKey}"`);
  });
});

import { createServer } from "node:net";
import { describe, expect, test } from "vitest";
import { DividereError, connection, messaging } from "@dividere/runtime";
import { native } from "../runtime/src/connection/socket.js";
import { ClientMsgsPublisher, clientMsgsTypes } from "./gen/test/clientMsgs_dividere.js";
import { connectTo, eventually, nextEvent, transportNames, transports } from "./helpers.js";

const text = (frames: Buffer[]) => frames.map((frame) => frame.toString());

describe.each(transportNames)("every socket pair over %s", (transport) => {
  test("Publisher/Subscriber: topic filtering, multipart frames", async () => {
    await using pub = new connection.Publisher(transports[transport]());
    await using sub = new connection.Subscriber(connectTo(pub), { topics: ["weather."] });
    await pub.waitForSubscribers({ topic: "weather.", timeoutMs: 5000 });
    await pub.send(["sports.goal", "ignored"]);
    await pub.send(["weather.rain", "10mm"]);
    expect(text(await sub.recv({ timeoutMs: 2000 }))).toEqual(["weather.rain", "10mm"]);
    expect(await sub.wait(50)).toBe(false);
  });

  test("Request/Response: alternating round trips", async () => {
    await using rep = new connection.Response(transports[transport]());
    await using req = new connection.Request(connectTo(rep));
    for (const word of ["one", "two", "three"]) {
      await req.send(word);
      const [request] = await rep.recv({ timeoutMs: 2000 });
      await rep.send([request!.toString().toUpperCase(), "done"]);
      expect(text(await req.recv({ timeoutMs: 2000 }))).toEqual([word.toUpperCase(), "done"]);
    }
  });

  test("Dealer/Router: identities route replies to their dealer", async () => {
    await using router = new connection.Router(transports[transport]());
    await using alice = new connection.Dealer(connectTo(router), { routingId: "alice" });
    await using bob = new connection.Dealer(connectTo(router), { routingId: "bob" });
    await alice.send(["hi from alice"]);
    await bob.send(["hi from bob", "2nd frame"]);
    const received = [await router.recv({ timeoutMs: 2000 }), await router.recv({ timeoutMs: 2000 })];
    expect(received.map(text).sort()).toEqual([["alice", "hi from alice"], ["bob", "hi from bob", "2nd frame"]]);
    for (const [identity, ...rest] of received) await router.send([identity!, `echo ${rest[0]!.toString()}`]);
    expect(text(await alice.recv({ timeoutMs: 2000 }))).toEqual(["echo hi from alice"]);
    expect(text(await bob.recv({ timeoutMs: 2000 }))).toEqual(["echo hi from bob"]);
  });

  test("Push/Pull: every message arrives, in order, with sends not awaited one by one", async () => {
    await using pull = new connection.Pull(transports[transport]());
    await using push = new connection.Push(connectTo(pull));
    const sends = Array.from({ length: 1000 }, (_, i) => push.send(String(i)));
    await Promise.all(sends);
    for (let i = 0; i < 1000; i++) expect((await pull.recv({ timeoutMs: 2000 }))[0]!.toString()).toBe(String(i));
  });

  test("Pair: both ends send and receive", async () => {
    await using left = new connection.Pair(transports[transport]());
    await using right = new connection.Pair(connectTo(left));
    await left.send("ping");
    expect(text(await right.recv({ timeoutMs: 2000 }))).toEqual(["ping"]);
    await right.send(["pong", ""]);
    expect(text(await left.recv({ timeoutMs: 2000 }))).toEqual(["pong", ""]);
  });

  test("Proxy: requests from two clients shared by two servers, replies back to their client", async () => {
    await using proxy = new connection.Proxy({ frontend: transports[transport](), backend: transports[transport]() });
    proxy.start();
    expect(proxy.running).toBe(true);
    const servers = [new connection.Response(connectTo(proxy.backend)), new connection.Response(connectTo(proxy.backend))];
    const served = [0, 0];
    const serving = servers.map(async (server, n) => {
      for await (const [request] of server) {
        served[n]!++;
        await server.send(`${request!.toString()} served by ${n}`);
      }
    });
    const clients = [new connection.Request(connectTo(proxy.frontend)), new connection.Request(connectTo(proxy.frontend))];
    for (let round = 0; round < 10; round++) {
      await Promise.all(
        clients.map(async (client, c) => {
          await client.send(`c${c}r${round}`);
          const [reply] = await client.recv({ timeoutMs: 2000 });
          expect(reply!.toString()).toMatch(new RegExp(`^c${c}r${round} served by [01]$`));
        }),
      );
    }
    expect(served[0]! + served[1]!).toBe(20);
    await Promise.all([...clients, ...servers].map((socket) => socket.close()));
    await Promise.all(serving);
    await proxy.close();
    expect(proxy.running).toBe(false);
    expect(proxy.frontend.closed && proxy.backend.closed).toBe(true);
  });
});

describe("receiving", () => {
  test("recv times out with TIMEOUT, and the message that comes later is not lost", async () => {
    await using pull = new connection.Pull(transports.inproc());
    await using push = new connection.Push(connectTo(pull));
    await expect(pull.recv({ timeoutMs: 30 })).rejects.toMatchObject({ code: "TIMEOUT" });
    await push.send("late");
    expect(text(await pull.recv({ timeoutMs: 2000 }))).toEqual(["late"]);
  });

  test("wait reports readiness without consuming, false on timeout", async () => {
    await using pull = new connection.Pull(transports.inproc());
    await using push = new connection.Push(connectTo(pull));
    expect(await pull.wait(20)).toBe(false);
    await push.send("x");
    expect(await pull.wait(2000)).toBe(true);
    expect(await pull.wait(0)).toBe(true);
    expect(text(await pull.recv())).toEqual(["x"]);
  });

  test("concurrent receivers each get one message, in call order", async () => {
    await using pull = new connection.Pull(transports.inproc());
    await using push = new connection.Push(connectTo(pull));
    const first = pull.recv({ timeoutMs: 2000 });
    const second = pull.recv({ timeoutMs: 2000 });
    await push.send("a");
    await push.send("b");
    expect([text(await first), text(await second)]).toEqual([["a"], ["b"]]);
  });

  test("an AbortSignal cancels a pending receive", async () => {
    await using pull = new connection.Pull(transports.inproc());
    const controller = new AbortController();
    const pending = pull.recv({ signal: controller.signal });
    controller.abort();
    await expect(pending).rejects.toMatchObject({ code: "CANCELLED" });
  });

  test("close while receives are pending rejects them with CLOSED; iteration just ends", async () => {
    const sub = new connection.Subscriber(transports.tcp());
    const pending = [sub.recv(), sub.recv({ timeoutMs: 60_000 }), sub.wait()];
    const iterated: Buffer[][] = [];
    const iteration = (async () => {
      for await (const frames of sub) iterated.push(frames);
    })();
    await sub.close();
    for (const promise of pending) await expect(promise).rejects.toMatchObject({ code: "CLOSED" });
    await iteration;
    expect(iterated).toEqual([]);
    await expect(sub.recv()).rejects.toThrow(/closed/);
    expect(sub.closed).toBe(true);
  });

  test("a send after close rejects with CLOSED", async () => {
    const push = new connection.Push(transports.inproc());
    await push.close();
    await push.close();
    await expect(push.send("x")).rejects.toMatchObject({ code: "CLOSED" });
  });

  test("await using closes the socket", async () => {
    let socket: connection.Pair | undefined;
    {
      await using pair = new connection.Pair(transports.inproc());
      socket = pair;
    }
    expect(socket.closed).toBe(true);
  });
});

describe("request/reply alternation", () => {
  test("every out-of-turn call says what is wrong, and the pair keeps working", async () => {
    await using rep = new connection.Response(transports.inproc());
    await using req = new connection.Request(connectTo(rep));
    await expect(req.recv()).rejects.toMatchObject({ code: "WRONG_STATE", message: expect.stringMatching(/sends first/) });
    await expect(rep.send("unasked")).rejects.toMatchObject({ code: "WRONG_STATE", message: expect.stringMatching(/receives first/) });
    await req.send("first");
    const error = await req.send("second").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DividereError);
    expect(error).toMatchObject({ code: "WRONG_STATE", message: expect.stringMatching(/alternates send\(\) and recv\(\)/) });
    await rep.recv({ timeoutMs: 2000 });
    await expect(rep.recv()).rejects.toMatchObject({ code: "WRONG_STATE", message: expect.stringMatching(/not answered|was answered/) });
    await rep.send("answer");
    expect(text(await req.recv({ timeoutMs: 2000 }))).toEqual(["answer"]);
  });

  test("relaxed: a new request after a timeout, the stale reply is discarded", async () => {
    await using rep = new connection.Response(transports.inproc());
    await using req = new connection.Request(connectTo(rep), { relaxed: true, correlate: true });
    await req.send("slow");
    await expect(req.recv({ timeoutMs: 20 })).rejects.toMatchObject({ code: "TIMEOUT" });
    await req.send("retry");
    expect(text(await rep.recv({ timeoutMs: 2000 }))).toEqual(["slow"]);
    await rep.send("reply to slow");
    expect(text(await rep.recv({ timeoutMs: 2000 }))).toEqual(["retry"]);
    await rep.send("reply to retry");
    expect(text(await req.recv({ timeoutMs: 2000 }))).toEqual(["reply to retry"]);
  });
});

describe("endpoints", () => {
  test("tcp://*:0 binds an ephemeral port; other strings connect", async () => {
    await using server = new connection.Pull("tcp://*:0");
    expect(server.endpoints.bound).toHaveLength(1);
    expect(server.endpoint).toMatch(/^tcp:\/\/0\.0\.0\.0:\d+$/);
    const port = Number(server.endpoint.split(":").pop());
    expect(port).toBeGreaterThan(0);
    await using client = new connection.Push(`tcp://127.0.0.1:${port}`);
    expect(client.endpoints).toEqual({ bound: [], connected: [`tcp://127.0.0.1:${port}`] });
    await client.send("via convention");
    expect(text(await server.recv({ timeoutMs: 2000 }))).toEqual(["via convention"]);
  });

  test("explicit bind and connect lists; a Request connects to several servers", async () => {
    await using a = new connection.Response({ bind: ["tcp://127.0.0.1:0"] });
    await using b = new connection.Response({ bind: "tcp://127.0.0.1:0" });
    await using req = new connection.Request([a.endpoint, b.endpoint]);
    expect(req.endpoints.connected).toEqual([a.endpoint, b.endpoint]);
    const answer = async (rep: connection.Response, name: string) => {
      await rep.recv({ timeoutMs: 2000 });
      await rep.send(name);
    };
    const answered = new Set<string>();
    const serving = Promise.all([answer(a, "a"), answer(b, "b")]);
    for (let i = 0; i < 2; i++) {
      await req.send("who?");
      answered.add((await req.recv({ timeoutMs: 2000 }))[0]!.toString());
    }
    await serving;
    expect([...answered].sort()).toEqual(["a", "b"]);
  });

  test("a malformed endpoint is INVALID_ARGUMENT with an example of the right form", () => {
    expect(() => new connection.Pull("localhost:5555")).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
    expect(() => new connection.Pull("localhost:5555")).toThrow(/tcp:\/\/\*:5555/);
    expect(() => new connection.Pull({})).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
  });

  test("connecting to port 0 fails at once, for every kind of socket, saying how to bind instead", () => {
    const kinds = { ...connection, ...Object.fromEntries(Object.entries(messaging).map(([name, kind]) => [`messaging.${name}`, kind])) };
    const sockets = Object.entries(kinds).filter(([name]) => /^(messaging\.)?(Publisher|Subscriber|Request|Response|Dealer|Router|Push|Pull|Pair)$/.test(name));
    expect(sockets).toHaveLength(17);
    for (const [name, Kind] of sockets) {
      const open = () => new (Kind as new (endpoint: string, options: object) => unknown)("tcp://127.0.0.1:0", { types: clientMsgsTypes });
      expect(open, name).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
      expect(open, name).toThrow('cannot connect to tcp://127.0.0.1:0: port 0 means "a free port" only when binding. To bind, write tcp://*:0 or { bind: "tcp://127.0.0.1:0" }');
    }
    expect(() => new ClientMsgsPublisher("tcp://127.0.0.1:0")).toThrow(/To bind, write tcp:\/\/\*:0 or \{ bind/);
    expect(() => new connection.Pull(["tcp://127.0.0.1:5555", "tcp://localhost:0"])).toThrow(/cannot connect to tcp:\/\/localhost:0/);
    expect(() => new connection.Pull({ connect: "tcp://127.0.0.1:0" })).toThrow(/cannot connect to/);
  });

  test("binding a port in use is BIND_FAILED and says what to do", async () => {
    await using first = new connection.Pull(transports.tcp());
    const error = (() => {
      try {
        new connection.Pull({ bind: first.endpoint });
      } catch (e) {
        return e;
      }
    })();
    expect(error).toMatchObject({ code: "BIND_FAILED", message: expect.stringMatching(/EADDRINUSE.*tcp:\/\/\*:0/) });
  });

  test("PortManager hands out free ports, never the same one twice", async () => {
    const ports = await Promise.all([connection.PortManager.acquire(), connection.PortManager.acquire(), connection.PortManager.acquire()]);
    expect(new Set(ports).size).toBe(3);
    await using bound = new connection.Pull(`tcp://*:${ports[0]}`);
    expect(bound.endpoint).toBe(`tcp://0.0.0.0:${ports[0]}`);
    // A range, as Python dividere's services use: the first free port in it that was not handed out.
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, "0.0.0.0", resolve));
    const taken = (blocker.address() as { port: number }).port;
    const inRange = await connection.PortManager.acquire({ min: taken, max: taken + 20 });
    expect(inRange).toBeGreaterThan(taken);
    blocker.close();
    await expect(connection.PortManager.acquire({ min: 10, max: 5 })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
  });
});

describe("monitor events", () => {
  test("accept, connect, handshake and disconnect are observable", async () => {
    const server = new connection.Pair(transports.tcp());
    const accepted = nextEvent(server.events, "accept");
    await using client = new connection.Pair(connectTo(server));
    const [connected, handshake] = [nextEvent(client.events, "connect"), nextEvent(client.events, "handshake")];
    expect(await accepted).toMatchObject({ type: "accept", address: server.endpoint });
    expect(await connected).toMatchObject({ type: "connect", address: server.endpoint });
    await handshake;
    const disconnected = nextEvent(client.events, "disconnect");
    await server.close();
    expect(await disconnected).toMatchObject({ type: "disconnect" });
  });

  test("connection retries to an absent peer are observable", async () => {
    const port = await connection.PortManager.acquire({ host: "127.0.0.1" });
    await using client = new connection.Dealer(`tcp://127.0.0.1:${port}`, { reconnectInterval: 20 });
    expect(await nextEvent(client.events, "connect:retry")).toMatchObject({ type: "connect:retry", interval: expect.any(Number) });
  });
});

describe("ZeroMQ options are passed through", () => {
  test("high-water marks, linger, max message size, heartbeats, reconnect", async () => {
    const options = {
      sendHighWaterMark: 10,
      receiveHighWaterMark: 20,
      linger: 0,
      maxMessageSize: 1024,
      heartbeatInterval: 100,
      heartbeatTimeout: 300,
      heartbeatTimeToLive: 400,
      reconnectInterval: 50,
      reconnectMaxInterval: 1000,
      immediate: true,
    };
    await using pub = new connection.Publisher(transports.inproc(), options);
    const socket = pub[native] as unknown as Record<string, unknown>;
    expect(Object.fromEntries(Object.keys(options).map((key) => [key, socket[key]]))).toEqual(options);
  });

  test("whenFull: a publisher drops for a full subscriber and counts it, or blocks until sendTimeout", async () => {
    for (const whenFull of ["drop", "block"] as const) {
      await using pub = new connection.Publisher(transports.inproc(), { whenFull, sendHighWaterMark: 2, sendTimeout: 50 });
      await using sub = new connection.Subscriber(connectTo(pub), { receiveHighWaterMark: 2 });
      await pub.waitForSubscribers({ timeoutMs: 2000 });
      const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => pub.send(String(i))));
      const refused = results.filter((result) => result.status === "rejected");
      if (whenFull === "drop") {
        expect(refused).toEqual([]);
        expect(pub.stats.unsent).toBeGreaterThan(0);
        expect(pub.stats.sent + pub.stats.unsent).toBe(20);
      } else {
        expect(refused.length).toBeGreaterThan(0);
        expect((refused[0] as PromiseRejectedResult).reason).toMatchObject({ code: "TIMEOUT" });
        expect(pub.stats.unsent).toBe(0);
      }
      // What was sent is what arrives, in order: a message goes to every subscriber or to none.
      const received: string[] = [];
      while (await sub.wait(100)) received.push((await sub.recv())[0]!.toString());
      expect(received.length).toBe(pub.stats.sent);
      expect(received.map(Number)).toEqual([...received.map(Number)].sort((a, b) => a - b));
    }
  });

  test("a publisher without subscribers sends without error, to nobody", async () => {
    await using pub = new connection.Publisher(transports.inproc());
    for (let i = 0; i < 5000; i++) await pub.send("nobody listens");
    expect(pub.stats).toMatchObject({ sent: 5000, unsent: 0 });
  });

  test("linger defaults to 500 ms, not ZeroMQ's for ever; maxMessageSize to 64 MiB, not unlimited", async () => {
    await using pair = new connection.Pair(transports.inproc());
    const options = pair[native] as unknown as { linger: number; maxMessageSize: number };
    expect(options.linger).toBe(500);
    expect(options.maxMessageSize).toBe(connection.DEFAULT_MAX_MESSAGE_SIZE);
    expect(connection.DEFAULT_MAX_MESSAGE_SIZE).toBe(64 * 1024 * 1024);
    await using unlimited = new connection.Pair(transports.inproc(), { maxMessageSize: -1 });
    expect((unlimited[native] as unknown as { maxMessageSize: number }).maxMessageSize).toBe(-1);
  });

  test("a Router with mandatory: true refuses an unknown identity with UNROUTABLE, with or without peers", async () => {
    await using router = new connection.Router(transports.inproc(), { mandatory: true });
    await expect(router.send(["nobody", "hello"])).rejects.toMatchObject({ code: "UNROUTABLE" });
    await using dealer = new connection.Dealer(connectTo(router), { routingId: "somebody" });
    await dealer.send("here");
    await router.recv({ timeoutMs: 2000 });
    await expect(router.send(["nobody", "hello"])).rejects.toMatchObject({ code: "UNROUTABLE" });
    await router.send(["somebody", "hello"]);
    expect(text(await dealer.recv({ timeoutMs: 2000 }))).toEqual(["hello"]);
  });

  test("maxMessageSize: ZeroMQ disconnects a peer that sends more", async () => {
    await using pull = new connection.Pull(transports.tcp(), { maxMessageSize: 100 });
    await using push = new connection.Push(connectTo(pull));
    const dropped = nextEvent(pull.events, "disconnect");
    await push.send("x".repeat(1000));
    await dropped;
    await push.send("small");
    expect(text(await pull.recv({ timeoutMs: 5000 }))).toEqual(["small"]);
  });
});

describe("Publisher subscriptions", () => {
  test("counted per topic, and gone when the subscriber unsubscribes or leaves", async () => {
    await using pub = new connection.Publisher(transports.tcp());
    expect(pub.subscriberCount()).toBe(0);
    const sub = new connection.Subscriber(connectTo(pub), { topics: ["a.", "b."] });
    await pub.waitForSubscribers({ count: 2, timeoutMs: 5000 });
    expect(pub.subscriberCount("a.1")).toBe(1);
    expect(pub.subscriberCount("c.1")).toBe(0);
    sub.unsubscribe("a.");
    await eventually(() => pub.subscriberCount("a.1") === 0, 5000, "unsubscription seen");
    const everything = new connection.Subscriber(connectTo(pub));
    await pub.waitForSubscribers({ topic: "c.1", timeoutMs: 5000 });
    await Promise.all([sub.close(), everything.close()]);
    await eventually(() => pub.subscriberCount() === 0, 5000, "subscribers gone");
  });

  test("a Subscriber may bind and several Publishers connect to it (libzmq#2267 handled)", async () => {
    await using sub = new connection.Subscriber(transports.tcp(), { topics: ["news"] });
    await using first = new connection.Publisher(connectTo(sub));
    await using second = new connection.Publisher(connectTo(sub));
    await Promise.all([first.waitForSubscribers({ timeoutMs: 5000 }), second.waitForSubscribers({ timeoutMs: 5000 })]);
    await first.send("news from first");
    await second.send("news from second");
    await first.send("other");
    const got = [await sub.recv({ timeoutMs: 2000 }), await sub.recv({ timeoutMs: 2000 })].map((frames) => frames[0]!.toString());
    expect(got.sort()).toEqual(["news from first", "news from second"]);
  });

  test("closing the Publisher rejects a pending waitForSubscribers with CLOSED", async () => {
    const pub = new connection.Publisher(transports.inproc());
    const waiting = pub.waitForSubscribers({ timeoutMs: 60_000 });
    await pub.close();
    await expect(waiting).rejects.toMatchObject({ code: "CLOSED" });
  });

  test("waitForSubscribers times out with a hint", async () => {
    await using pub = new connection.Publisher(transports.inproc());
    await expect(pub.waitForSubscribers({ timeoutMs: 20 })).rejects.toMatchObject({
      code: "TIMEOUT",
      message: expect.stringMatching(/0 of 1 subscriber/),
    });
  });
});

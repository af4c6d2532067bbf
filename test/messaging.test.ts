import { create, createRegistry, type Message } from "@bufbuild/protobuf";
import { describe, expect, expectTypeOf, test } from "vitest";
import { connection, messaging } from "@dividere/runtime";
import * as prefix from "./gen/test/prefix_pb.js";
import { testDtMsg03Schema, testDtMsg14Schema, testMsg01Schema, type testDtMsg14, type testMsg01, file_test_TestMsg } from "./gen/test/TestMsg_pb.js";
import { connectTo, transportNames, transports } from "./helpers.js";

const reverse = (text: string) => [...text].reverse().join("");
const types = [testMsg01Schema, testDtMsg14Schema];

describe.each(transportNames)("typed pairs over %s", (transport) => {
  test("Publisher/Subscriber: a typed union, filtered by type", async () => {
    await using pub = new messaging.Publisher(transports[transport](), { types });
    await using sub = new messaging.Subscriber(connectTo(pub), { types, topics: [testDtMsg14Schema] });
    await pub.waitForSubscribers({ type: testDtMsg14Schema, timeoutMs: 5000 });
    expect(pub.subscriberCount(testMsg01Schema)).toBe(0);
    await pub.send(testMsg01Schema, { field1: "not subscribed" });
    await pub.send(create(testDtMsg14Schema, { field1: "subscribed" }));
    const msg = await sub.recv({ timeoutMs: 2000 });
    expectTypeOf(msg).toEqualTypeOf<testMsg01 | testDtMsg14>();
    expect(msg.$typeName).toBe("testDtMsg14");
    if (msg.$typeName === "testDtMsg14") expect(msg.field1).toBe("subscribed");
    expect(await sub.wait(50)).toBe(false);
    expect(pub.stats.sent).toBe(2);
    expect(sub.stats.received).toBe(1);
  });

  test("Request/Response: the reply carries the reversed field", async () => {
    await using rep = new messaging.Response(transports[transport](), { types: [testMsg01Schema] });
    await using req = new messaging.Request(connectTo(rep), { types: [testMsg01Schema] });
    const serving = (async () => {
      for await (const request of rep) await rep.send(testMsg01Schema, { field1: reverse(request.field1), field2: request.field2 + 1 });
    })();
    for (const word of ["hello", "dividere", ""]) {
      await req.send(testMsg01Schema, { field1: word, field2: 1 });
      const reply = await req.recv({ timeoutMs: 2000 });
      expect(reply).toMatchObject({ field1: reverse(word), field2: 2 });
    }
    await rep.close();
    await serving;
  });

  test("Dealer/Router: the route comes with the message and takes the reply back", async () => {
    await using router = new messaging.Router(transports[transport](), { types });
    await using dealer = new messaging.Dealer(connectTo(router), { types, routingId: "worker-1" });
    await dealer.send(testMsg01Schema, { field1: "job" });
    const { route, message } = await router.recv({ timeoutMs: 2000 });
    expect(route.map(String)).toEqual(["worker-1"]);
    expect(message.$typeName).toBe("testMsg01");
    await router.send(route, testDtMsg14Schema, { field1: "done" });
    const back = await dealer.recv({ timeoutMs: 2000 });
    expect(back.route).toEqual([]);
    expect(back.message).toMatchObject({ $typeName: "testDtMsg14", field1: "done" });
  });
});

describe("topics", () => {
  test("a type's subscription never matches a longer name sharing its prefix", async () => {
    const all = [prefix.file_test_prefix];
    await using pub = new messaging.Publisher(transports.tcp(), { types: all });
    await using sub = new messaging.Subscriber(connectTo(pub), { types: all, topics: ["test.prefix.Msg01"] });
    await pub.waitForSubscribers({ type: prefix.Msg01Schema, timeoutMs: 5000 });
    const long = prefix.AMessageWhoseFullNameIsLongerThanOneHundredAndTwentySevenBytesSoThatTheLengthPrefixInItsEnvelopeAndTopicTakesTwoVarintBytesSchema;
    for (let i = 0; i < 20; i++) {
      await pub.send(prefix.Msg01abcSchema, { field1: `abc ${i}` });
      await pub.send(long, { field1: `long ${i}` });
      await pub.send(prefix.Msg01Schema, { field1: `exact ${i}` });
    }
    for (let i = 0; i < 20; i++) expect(await sub.recv({ timeoutMs: 2000 })).toMatchObject({ $typeName: "test.prefix.Msg01", field1: `exact ${i}` });
    expect(await sub.wait(50)).toBe(false);
    expect(sub.stats.dropped).toEqual({ NOT_AN_ENVELOPE: 0, UNKNOWN_TYPE: 0, CORRUPT_PAYLOAD: 0, OVERSIZED: 0 });
  });

  test("no topics receives every type; subscribe and unsubscribe change it at run time", async () => {
    await using pub = new messaging.Publisher(transports.inproc(), { types });
    await using everything = new messaging.Subscriber(connectTo(pub), { types });
    await using picky = new messaging.Subscriber(connectTo(pub), { types, topics: [testMsg01Schema] });
    await pub.waitForSubscribers({ type: testMsg01Schema, count: 2, timeoutMs: 5000 });
    await pub.send(testDtMsg14Schema, { field1: "a" });
    await pub.send(testMsg01Schema, { field1: "b" });
    expect((await everything.recv({ timeoutMs: 2000 })).$typeName).toBe("testDtMsg14");
    expect((await everything.recv({ timeoutMs: 2000 })).$typeName).toBe("testMsg01");
    expect((await picky.recv({ timeoutMs: 2000 })).$typeName).toBe("testMsg01");

    picky.subscribe("testDtMsg14");
    picky.unsubscribe(testMsg01Schema);
    await pub.waitForSubscribers({ type: testDtMsg14Schema, count: 2, timeoutMs: 5000 });
    await pub.send(testMsg01Schema, { field1: "c" });
    await pub.send(testDtMsg14Schema, { field1: "d" });
    expect(await picky.recv({ timeoutMs: 2000 })).toMatchObject({ $typeName: "testDtMsg14", field1: "d" });
  });

  test("a topic outside the socket's types is refused when the socket is made", () => {
    expect(() => new messaging.Subscriber(transports.inproc(), { types, topics: ["test.prefix.Msg01"] })).toThrow(
      expect.objectContaining({ code: "UNKNOWN_TYPE" }),
    );
  });
});

describe("types", () => {
  test("generated files and registries work as types, decoding to generic messages", async () => {
    await using pub = new messaging.Publisher(transports.inproc(), { types: file_test_TestMsg });
    await using sub = new messaging.Subscriber(connectTo(pub), { types: createRegistry(file_test_TestMsg) });
    await pub.waitForSubscribers({ timeoutMs: 5000 });
    await pub.send(testDtMsg03Schema, { field1: -5 });
    const msg = await sub.recv({ timeoutMs: 2000 });
    expectTypeOf(msg).toEqualTypeOf<Message>();
    expect(msg).toMatchObject({ $typeName: "testDtMsg03", field1: -5 });
  });

  test("sending a type outside types rejects (never throws) with UNKNOWN_TYPE", async () => {
    await using pub = new messaging.Publisher(transports.inproc(), { types: [testMsg01Schema] });
    const sending = pub.send(create(testDtMsg14Schema) as never);
    await expect(sending).rejects.toMatchObject({ code: "UNKNOWN_TYPE", message: expect.stringMatching(/testDtMsg14.*testMsg01/) });
    // @ts-expect-error: testDtMsg14 is not among the publisher's types
    await expect(pub.send(testDtMsg14Schema, { field1: "x" })).rejects.toMatchObject({ code: "UNKNOWN_TYPE" });
    expect(pub.stats.sent).toBe(0);
  });
});

describe("request/reply alternation, typed", () => {
  test("each out-of-turn call is WRONG_STATE and says what to do", async () => {
    await using rep = new messaging.Response(transports.inproc(), { types });
    await using req = new messaging.Request(connectTo(rep), { types });
    await expect(req.recv()).rejects.toMatchObject({ code: "WRONG_STATE" });
    await expect(rep.send(testMsg01Schema, {})).rejects.toMatchObject({ code: "WRONG_STATE" });
    await req.send(testMsg01Schema, { field1: "q" });
    await expect(req.send(testMsg01Schema, { field1: "again" })).rejects.toMatchObject({ code: "WRONG_STATE", message: /relaxed/ });
    await rep.recv({ timeoutMs: 2000 });
    await expect(rep.recv()).rejects.toMatchObject({ code: "WRONG_STATE" });
    await rep.send(testMsg01Schema, { field1: "a" });
    await expect(rep.send(testMsg01Schema, { field1: "a" })).rejects.toMatchObject({ code: "WRONG_STATE" });
    expect(await req.recv({ timeoutMs: 2000 })).toMatchObject({ field1: "a" });
  });

  test("relaxed: after a timeout a new request goes out, and only its reply is delivered", async () => {
    await using rep = new messaging.Response(transports.inproc(), { types });
    await using req = new messaging.Request(connectTo(rep), { types, relaxed: true });
    await req.send(testMsg01Schema, { field1: "first" });
    await expect(req.recv({ timeoutMs: 20 })).rejects.toMatchObject({ code: "TIMEOUT" });
    await req.send(testMsg01Schema, { field1: "second" });
    for (let i = 0; i < 2; i++) {
      const request = await rep.recv({ timeoutMs: 2000 });
      await rep.send(testMsg01Schema, { field1: `reply to ${(request as testMsg01).field1}` });
    }
    expect(await req.recv({ timeoutMs: 2000 })).toMatchObject({ field1: "reply to second" });
  });

  test("a Dealer speaks to a Response with an empty delimiter frame, as Python's sendWithEmptyFrame", async () => {
    await using rep = new messaging.Response(transports.inproc(), { types });
    await using dealer = new messaging.Dealer(connectTo(rep), { types });
    await dealer.send([""], testMsg01Schema, { field1: "via dealer" });
    expect(await rep.recv({ timeoutMs: 2000 })).toMatchObject({ field1: "via dealer" });
    await rep.send(testMsg01Schema, { field1: "back" });
    const { route, message } = await dealer.recv({ timeoutMs: 2000 });
    expect(route.map((frame) => frame.length)).toEqual([0]);
    expect(message).toMatchObject({ field1: "back" });
  });

  test("a Response serves requests through a byte-level Proxy", async () => {
    await using proxy = new connection.Proxy({ frontend: transports.inproc(), backend: transports.inproc() });
    proxy.start();
    await using rep = new messaging.Response(connectTo(proxy.backend), { types });
    await using req = new messaging.Request(connectTo(proxy.frontend), { types });
    await req.send(testMsg01Schema, { field1: "through" });
    expect(await rep.recv({ timeoutMs: 2000 })).toMatchObject({ field1: "through" });
    await rep.send(testMsg01Schema, { field1: "and back" });
    expect(await req.recv({ timeoutMs: 2000 })).toMatchObject({ field1: "and back" });
  });
});

describe("receiving, typed", () => {
  test("timeouts lose nothing, wait does not consume, close ends iteration and rejects pending receives", async () => {
    await using pub = new messaging.Publisher(transports.inproc(), { types });
    const sub = new messaging.Subscriber(connectTo(pub), { types });
    await pub.waitForSubscribers({ timeoutMs: 5000 });
    await expect(sub.recv({ timeoutMs: 20 })).rejects.toMatchObject({ code: "TIMEOUT" });
    expect(await sub.wait(20)).toBe(false);
    await pub.send(testMsg01Schema, { field1: "kept" });
    expect(await sub.wait(2000)).toBe(true);
    expect(await sub.recv()).toMatchObject({ field1: "kept" });

    const received: string[] = [];
    const iteration = (async () => {
      for await (const msg of sub) received.push(msg.$typeName);
    })();
    await pub.send(testMsg01Schema, { field1: "iterated" });
    const pending = sub.recv();
    await sub.close();
    await iteration;
    await expect(pending).rejects.toMatchObject({ code: "CLOSED" });
    expect(received.length).toBeLessThanOrEqual(1);
    expect(sub.closed).toBe(true);
  });
});

import { create } from "@bufbuild/protobuf";
import { describe, expect, test } from "vitest";
import { DividereError, Reactor, createDispatch, messaging, type MessageContext } from "@dividere/runtime";
import { ClientMsgsPublisher, ClientMsgsSubscriber, Msg02Topic, clientMsgsDispatch, clientMsgsTypes, type ClientMsgsHandlers } from "./gen/test/clientMsgs_dividere.js";
import { Msg01Schema, Msg02Schema } from "./gen/test/clientMsgs_pb.js";
import { testMsg01Schema } from "./gen/test/TestMsg_pb.js";
import { connectTo, eventually, transports } from "./helpers.js";

const reverse = (text: string) => [...text].reverse().join("");

/** Collects what a reactor reports instead of printing it. */
function errors(): { list: DividereError[]; onError: (error: DividereError) => void } {
  const list: DividereError[] = [];
  return { list, onError: (error) => list.push(error) };
}

describe("the Python examples with generated wrappers", () => {
  test("simplePubSub.py: a message across a generated publisher and subscriber", async () => {
    await using pub = new ClientMsgsPublisher(transports.tcp());
    await using sub = new ClientMsgsSubscriber(connectTo(pub));
    await pub.waitForSubscribers({ timeoutMs: 5000 });
    await pub.sendMsg01({ field1: "abcd" });
    const msg = await sub.recv({ timeoutMs: 5000 });
    expect(msg).toEqual(create(Msg01Schema, { field1: "abcd" }));
  });

  test("msgReactor.py: a request answered with the reversed field while a published event is handled on the same reactor", async () => {
    const events: string[] = [];
    const handlers: ClientMsgsHandlers = {
      async handleMsg01(msg, ctx) {
        await ctx.reply(Msg01Schema, { field1: reverse(msg.field1) });
      },
      handleMsg02(msg) {
        events.push(msg.field1);
      },
    };
    const reported = errors();
    const responder = new messaging.Response(transports.tcp(), { types: clientMsgsTypes });
    await using publisher = new ClientMsgsPublisher(transports.tcp());
    const subscriber = new ClientMsgsSubscriber(connectTo(publisher), { topics: [Msg02Topic] });
    const reactor = new Reactor([responder, subscriber], clientMsgsDispatch(handlers), { onError: reported.onError });

    await using request = new messaging.Request(connectTo(responder), { types: clientMsgsTypes });
    await request.send(Msg01Schema, { field1: "hello" });
    await publisher.waitForSubscribers({ type: Msg02Schema, timeoutMs: 5000 });
    await publisher.sendMsg02({ field1: "some published event" });
    expect(await request.recv({ timeoutMs: 5000 })).toMatchObject({ field1: "olleh" });
    await eventually(() => events.length === 1, 5000, "the event handled");
    expect(events).toEqual(["some published event"]);

    await reactor.close();
    expect(reactor.stats).toEqual({ handled: 2, unhandled: 0, failed: 0 });
    expect(responder.closed && subscriber.closed).toBe(true);
    expect(reported.list).toEqual([]);
  });
});

describe("Reactor", () => {
  test("a handler that throws is reported and the loop goes on", async () => {
    const reported = errors();
    await using push = new messaging.Push(transports.inproc(), { types: clientMsgsTypes });
    const seen: string[] = [];
    const reactor = new Reactor(
      new messaging.Pull(connectTo(push), { types: clientMsgsTypes }),
      clientMsgsDispatch({
        handleMsg01(msg) {
          if (msg.field1 === "boom") throw new Error("kaboom");
          seen.push(msg.field1);
        },
      }),
      { onError: reported.onError },
    );
    for (const field1 of ["a", "boom", "b"]) await push.send(Msg01Schema, { field1 });
    await eventually(() => seen.length === 2, 5000, "both good messages handled");
    await reactor.close();
    expect(seen).toEqual(["a", "b"]);
    expect(reactor.stats).toEqual({ handled: 2, unhandled: 0, failed: 1 });
    expect(reported.list).toHaveLength(1);
    expect(reported.list[0]).toMatchObject({ code: "HANDLER_FAILED", message: expect.stringMatching(/handler of Msg01 threw: kaboom/) });
    expect((reported.list[0]!.cause as Error).message).toBe("kaboom");
  });

  test("a message without a handler is reported, not thrown", async () => {
    const reported = errors();
    await using push = new messaging.Push(transports.inproc(), { types: clientMsgsTypes });
    const handled: string[] = [];
    const reactor = new Reactor(new messaging.Pull(connectTo(push), { types: clientMsgsTypes }), clientMsgsDispatch({ handleMsg02: (m) => void handled.push(m.field1) }), {
      onError: reported.onError,
    });
    await push.send(Msg01Schema, { field1: "nobody handles me" });
    await push.send(Msg02Schema, { field1: "handled" });
    await eventually(() => handled.length === 1, 5000, "Msg02 handled");
    await reactor.close();
    expect(reactor.stats).toEqual({ handled: 1, unhandled: 1, failed: 0 });
    expect(reported.list.map((error) => [error.code, error.message])).toEqual([["UNHANDLED", expect.stringMatching(/no handler for Msg01/)]]);
  });

  test("a request whose handler does not reply is reported, and the next request is served", async () => {
    const reported = errors();
    const responder = new messaging.Response(transports.inproc(), { types: clientMsgsTypes });
    const reactor = new Reactor(
      responder,
      clientMsgsDispatch({
        async handleMsg01(msg, ctx) {
          if (msg.field1 !== "ignore me") await ctx.reply(Msg01Schema, { field1: reverse(msg.field1) });
        },
      }),
      { onError: reported.onError },
    );
    await using ignored = new messaging.Request(connectTo(responder), { types: clientMsgsTypes });
    await ignored.send(Msg01Schema, { field1: "ignore me" });
    await expect(ignored.recv({ timeoutMs: 200 })).rejects.toMatchObject({ code: "TIMEOUT" });
    await using served = new messaging.Request(connectTo(responder), { types: clientMsgsTypes });
    await served.send(Msg01Schema, { field1: "abc" });
    expect(await served.recv({ timeoutMs: 5000 })).toMatchObject({ field1: "cba" });
    await reactor.close();
    expect(reported.list.map((error) => error.code)).toEqual(["UNHANDLED"]);
    expect(reported.list[0]!.message).toMatch(/got no reply/);
  });

  test("a request whose handler throws is reported once, as the failure it is, and the next request is served", async () => {
    const reported = errors();
    const responder = new messaging.Response(transports.inproc(), { types: clientMsgsTypes });
    const reactor = new Reactor(
      responder,
      clientMsgsDispatch({
        async handleMsg01(msg, ctx) {
          if (msg.field1 === "fail") throw new Error("the store is down");
          await ctx.reply(Msg01Schema, { field1: reverse(msg.field1) });
        },
      }),
      { onError: reported.onError },
    );
    await using failing = new messaging.Request(connectTo(responder), { types: clientMsgsTypes });
    await failing.send(Msg01Schema, { field1: "fail" });
    await expect(failing.recv({ timeoutMs: 200 })).rejects.toMatchObject({ code: "TIMEOUT" });
    await using served = new messaging.Request(connectTo(responder), { types: clientMsgsTypes });
    await served.send(Msg01Schema, { field1: "abc" });
    expect(await served.recv({ timeoutMs: 5000 })).toMatchObject({ field1: "cba" });
    await reactor.close();
    expect(reported.list.map((error) => [error.code, error.message])).toEqual([["HANDLER_FAILED", expect.stringMatching(/threw: the store is down/)]]);
  });

  test("ctx.reply goes back along the route on a Router, and is refused on a Subscriber", async () => {
    const reported = errors();
    const router = new messaging.Router(transports.inproc(), { types: clientMsgsTypes });
    await using publisher = new ClientMsgsPublisher(transports.inproc());
    const refusals: unknown[] = [];
    const reactor = new Reactor(
      [router, new ClientMsgsSubscriber(connectTo(publisher))],
      clientMsgsDispatch({
        async handleMsg01(msg, ctx: MessageContext) {
          await ctx.reply(Msg02Schema, { field1: `ack ${msg.field1}` });
        },
        async handleMsg02(_msg, ctx) {
          refusals.push(await ctx.reply(Msg02Schema, {}).catch((error: unknown) => error));
        },
      }),
      { onError: reported.onError },
    );
    await using dealer = new messaging.Dealer(connectTo(router), { types: clientMsgsTypes });
    await dealer.send(Msg01Schema, { field1: "one" });
    expect((await dealer.recv({ timeoutMs: 5000 })).message).toMatchObject({ $typeName: "Msg02", field1: "ack one" });
    await publisher.waitForSubscribers({ timeoutMs: 5000 });
    await publisher.sendMsg02({ field1: "event" });
    await eventually(() => refusals.length === 1, 5000, "the subscriber's handler ran");
    expect(refusals[0]).toMatchObject({ code: "WRONG_STATE", message: expect.stringMatching(/Subscriber cannot reply/) });
    await reactor.close();
    expect(reported.list).toEqual([]);
  });

  test("stop() resolves after the handlers in flight finish, then closes the sockets", async () => {
    await using push = new messaging.Push(transports.inproc(), { types: clientMsgsTypes });
    const pull = new messaging.Pull(connectTo(push), { types: clientMsgsTypes });
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let started = false;
    let sawStop = false;
    const reactor = new Reactor(pull, clientMsgsDispatch({
      async handleMsg01(_msg, ctx) {
        started = true;
        await released;
        sawStop = ctx.signal.aborted;
      },
    }));
    await push.send(Msg01Schema, { field1: "slow" });
    await eventually(() => started, 5000, "the handler started");
    let closed = false;
    const closing = reactor.close().then(() => (closed = true));
    expect(reactor.running).toBe(false);
    await new Promise((resolve) => setImmediate(resolve));
    expect(closed).toBe(false);
    expect(pull.closed).toBe(false);
    release();
    await closing;
    expect(sawStop).toBe(true); // the handler saw the stop signal, and was allowed to finish
    expect(pull.closed).toBe(true);
    expect(reactor.stats.handled).toBe(1);
  });

  test("idle() runs at its interval between messages, and its failures are reported", async () => {
    const reported = errors();
    await using push = new messaging.Push(transports.inproc(), { types: clientMsgsTypes });
    let idles = 0;
    const reactor = new Reactor(new messaging.Pull(connectTo(push), { types: clientMsgsTypes }), clientMsgsDispatch({ handleMsg01() {} }), {
      idleIntervalMs: 10,
      idle() {
        idles++;
        if (idles === 2) throw new Error("idle trouble");
      },
      onError: reported.onError,
    });
    await eventually(() => idles >= 4, 5000, "idle() called repeatedly");
    await reactor.close();
    const after = idles;
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(idles).toBe(after);
    expect(reported.list.map((error) => error.message)).toEqual(["idle() threw: idle trouble"]);
  });

  test("concurrency lets several handlers of one socket run at once; the default handles one at a time, in order", async () => {
    for (const concurrency of [1, 4]) {
      await using push = new messaging.Push(transports.inproc(), { types: clientMsgsTypes });
      let running = 0;
      let most = 0;
      const order: string[] = [];
      const reactor = new Reactor(
        new messaging.Pull(connectTo(push), { types: clientMsgsTypes }),
        clientMsgsDispatch({
          async handleMsg01(msg) {
            most = Math.max(most, ++running);
            await new Promise((resolve) => setTimeout(resolve, 20));
            order.push(msg.field1);
            running--;
          },
        }),
        { concurrency },
      );
      for (let i = 0; i < 8; i++) await push.send(Msg01Schema, { field1: String(i) });
      await eventually(() => order.length === 8, 5000, "all handled");
      await reactor.close();
      expect(most).toBe(concurrency);
      if (concurrency === 1) expect(order).toEqual(["0", "1", "2", "3", "4", "5", "6", "7"]);
    }
  });

  test("dispatch tables of several files merge; a type handled twice is refused", () => {
    const first = createDispatch({ a() {} }, { [testMsg01Schema.typeName]: "a" });
    const second = clientMsgsDispatch({ handleMsg01() {} });
    expect(() => new Reactor([], [first, second, clientMsgsDispatch({ handleMsg01() {} })])).toThrow(
      expect.objectContaining({ code: "INVALID_ARGUMENT", message: expect.stringMatching(/Msg01/) }),
    );
    expect(() => createDispatch({ a: 42 }, { x: "a" })).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
  });
});

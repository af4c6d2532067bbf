/**
 * Python dividere's examples/msgReactor.py (test00) in TypeScript: a Reactor answers requests
 * with the field reversed and, on the same event loop, handles an event published alongside.
 * Its handlers implement the interface protoc-gen-dividere generates for clientMsgs.proto.
 */
import { toJsonString } from "@bufbuild/protobuf";
import { Reactor, connection, messaging } from "@dividere/runtime";
import {
  ClientMsgsPublisher,
  ClientMsgsSubscriber,
  Msg02Topic,
  clientMsgsDispatch,
  clientMsgsTypes,
  type ClientMsgsHandlers,
} from "./gen/clientMsgs_dividere.js";
import { Msg01Schema, Msg02Schema } from "./gen/clientMsgs_pb.js";

const reverse = (text: string) => [...text].reverse().join("");

export async function requestReply(): Promise<void> {
  const [requestPort, eventPort] = [await connection.PortManager.acquire(), await connection.PortManager.acquire()];

  // The server side: one reactor on a Response and a Subscriber, as Python's MtMsgReactor.
  let eventHandled!: () => void;
  const handled = new Promise<void>((resolve) => (eventHandled = resolve));
  const handlers: ClientMsgsHandlers = {
    async handleMsg01(request, ctx) {
      console.log(`  reactor    got request   ${toJsonString(Msg01Schema, request)}`);
      await ctx.reply(Msg01Schema, { field1: reverse(request.field1) });
    },
    handleMsg02(event) {
      console.log(`  reactor    got event     ${toJsonString(Msg02Schema, event)}`);
      eventHandled();
    },
  };
  const reactor = new Reactor(
    [
      new messaging.Response(`tcp://*:${requestPort}`, { types: clientMsgsTypes }),
      new ClientMsgsSubscriber(`tcp://localhost:${eventPort}`, { topics: [Msg02Topic] }),
    ],
    clientMsgsDispatch(handlers),
  );

  // The client side: a request, and an event published while the request is in flight.
  await using request = new messaging.Request(`tcp://localhost:${requestPort}`, { types: [Msg01Schema] });
  await using publisher = new ClientMsgsPublisher(`tcp://*:${eventPort}`);
  await request.send(Msg01Schema, { field1: "hello" });
  console.log(`  client     sent request  {"field1":"hello"}`);
  await publisher.waitForSubscribers({ type: Msg02Schema, timeoutMs: 5000 });
  await publisher.sendMsg02({ field1: "some published event" });
  console.log(`  client     published     {"field1":"some published event"}`);

  const reply = await request.recv({ timeoutMs: 5000 });
  console.log(`  client     got reply     ${toJsonString(Msg01Schema, reply)}`);
  if (reply.field1 !== reverse("hello")) throw new Error(`expected the reversed field, got "${reply.field1}"`);
  await handled;

  await reactor.stop();
  console.log(`  reactor    stopped: ${reactor.stats.handled} messages handled`);
  console.log("  ok: the reply carries the reversed field, and the event was handled alongside");
}

/**
 * Python dividere's examples/msgReactor.py (test00) in TypeScript: a server answers requests
 * with the field reversed, while on the same event loop it handles an event published
 * alongside.
 */
import { toJsonString } from "@bufbuild/protobuf";
import { connection, messaging } from "@dividere/runtime";
import { Msg01Schema, Msg02Schema } from "./gen/clientMsgs_pb.js";

const reverse = (text: string) => [...text].reverse().join("");

export async function requestReply(): Promise<void> {
  const [requestPort, eventPort] = [await connection.PortManager.acquire(), await connection.PortManager.acquire()];

  // The server side: a Response and a Subscriber, each served by its own loop on one event loop.
  const responder = new messaging.Response(`tcp://*:${requestPort}`, { types: [Msg01Schema] });
  const events = new messaging.Subscriber(`tcp://localhost:${eventPort}`, { types: [Msg02Schema] });
  let eventHandled!: () => void;
  const handled = new Promise<void>((resolve) => (eventHandled = resolve));
  const serving = (async () => {
    for await (const request of responder) {
      console.log(`  server     got request   ${toJsonString(Msg01Schema, request)}`);
      await responder.send(Msg01Schema, { field1: reverse(request.field1) });
    }
  })();
  const listening = (async () => {
    for await (const event of events) {
      console.log(`  server     got event     ${toJsonString(Msg02Schema, event)}`);
      eventHandled();
    }
  })();

  // The client side: a request, and an event published while the request is in flight.
  await using request = new messaging.Request(`tcp://localhost:${requestPort}`, { types: [Msg01Schema] });
  await using publisher = new messaging.Publisher(`tcp://*:${eventPort}`, { types: [Msg02Schema] });
  await request.send(Msg01Schema, { field1: "hello" });
  console.log(`  client     sent request  {"field1":"hello"}`);
  await publisher.waitForSubscribers({ type: Msg02Schema, timeoutMs: 5000 });
  await publisher.send(Msg02Schema, { field1: "some published event" });
  console.log(`  client     published     {"field1":"some published event"}`);

  const reply = await request.recv({ timeoutMs: 5000 });
  console.log(`  client     got reply     ${toJsonString(Msg01Schema, reply)}`);
  if (reply.field1 !== reverse("hello")) throw new Error(`expected the reversed field, got "${reply.field1}"`);
  await handled;

  await Promise.all([responder.close(), events.close()]);
  await Promise.all([serving, listening]);
  console.log("  ok: the reply carries the reversed field, and the event was handled alongside");
}

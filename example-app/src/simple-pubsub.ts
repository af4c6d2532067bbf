/**
 * Python dividere's examples/simplePubSub.py in TypeScript: a publisher and a subscriber,
 * one message across, with the wrappers protoc-gen-dividere generates for clientMsgs.proto.
 */
import { create, equals, toJsonString } from "@bufbuild/protobuf";
import { connection } from "@dividere/runtime";
import { ClientMsgsPublisher, ClientMsgsSubscriber } from "./gen/clientMsgs_dividere.js";
import { Msg01Schema } from "./gen/clientMsgs_pb.js";

export async function simplePubSub(): Promise<void> {
  const port = await connection.PortManager.acquire();
  await using pub = new ClientMsgsPublisher(`tcp://*:${port}`);
  await using sub = new ClientMsgsSubscriber(`tcp://localhost:${port}`);
  console.log(`  publisher  bound to      tcp://*:${port}`);
  console.log(`  subscriber connected to  tcp://localhost:${port}`);

  // Python sleeps two seconds against the late joiner; here the publisher sees the subscription.
  await pub.waitForSubscribers({ timeoutMs: 5000 });
  console.log(`  publisher  sees ${pub.subscriberCount()} subscriber`);

  const msg = create(Msg01Schema, { field1: "abcd" });
  await pub.sendMsg01(msg);
  console.log(`  sent       ${msg.$typeName} ${toJsonString(Msg01Schema, msg)}`);

  const received = await sub.recv({ timeoutMs: 5000 }); // Msg01 | Msg02, told apart by $typeName
  if (received.$typeName !== "Msg01") throw new Error(`expected a Msg01, got a ${received.$typeName}`);
  console.log(`  received   ${received.$typeName} ${toJsonString(Msg01Schema, received)}`);
  if (!equals(Msg01Schema, received, msg)) throw new Error("the received message differs from the one sent");
  console.log("  ok: the received message equals the one sent");
}

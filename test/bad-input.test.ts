import { randomBytes } from "node:crypto";
import { describe, expect, test } from "vitest";
import { DividereError, connection, envelope, messaging } from "@dividere/runtime";
import * as prefix from "./gen/test/prefix_pb.js";
import { testMsg01Schema } from "./gen/test/TestMsg_pb.js";
import { connectTo, eventually, transports } from "./helpers.js";

const types = [testMsg01Schema];
const codec = new envelope.EnvelopeCodec(types);
const valid = codec.encode(testMsg01Schema, { field1: "valid", field2: 1 });
const MAX = 4096;

/** One of each kind of bad input, with the drop reason it must be reported under. */
const badInputs: [string, Uint8Array, messaging.DropReason][] = [
  ["garbage", Buffer.from("definitely not protobuf \xff\xfe"), "NOT_AN_ENVELOPE"],
  ["random bytes", randomBytes(64), "NOT_AN_ENVELOPE"],
  ["empty frame", new Uint8Array(0), "NOT_AN_ENVELOPE"],
  ["truncated envelope", valid.subarray(0, valid.length - 3), "NOT_AN_ENVELOPE"],
  ["envelope cut after the name", valid.subarray(0, 11), "NOT_AN_ENVELOPE"],
  [
    "unknown type name",
    new envelope.EnvelopeCodec([prefix.Msg01Schema]).encode(prefix.Msg01Schema, { field1: "who am I?" }),
    "UNKNOWN_TYPE",
  ],
  ["corrupt payload", envelope.encodeEnvelope(testMsg01Schema, Buffer.from("0aff01", "hex")), "CORRUPT_PAYLOAD"],
  ["oversized frame", codec.encode(testMsg01Schema, { field1: "x".repeat(MAX) }), "OVERSIZED"],
];

/** Per reason, how many drops the inputs above must produce. */
function expectedDrops(times: number): Record<messaging.DropReason, number> {
  const counts = { NOT_AN_ENVELOPE: 0, UNKNOWN_TYPE: 0, CORRUPT_PAYLOAD: 0, OVERSIZED: 0 };
  for (const [, , reason] of badInputs) counts[reason] += times;
  return counts;
}

function collectDrops(socket: messaging.MessagingSocket<typeof types>): DividereError[] {
  const drops: DividereError[] = [];
  socket.events.on("dropped", (error) => drops.push(error));
  return drops;
}

const ROUNDS = 5;
const VALID_AFTER = 200;

describe("bad input is reported, counted and dropped; valid messages afterwards all arrive", () => {
  test("Subscriber", async () => {
    await using sub = new messaging.Subscriber(transports.tcp(), { types, maxEnvelopeSize: MAX });
    await using pub = new connection.Publisher(connectTo(sub));
    const drops = collectDrops(sub);
    await pub.waitForSubscribers({ timeoutMs: 5000 });
    for (let round = 0; round < ROUNDS; round++) {
      for (const [, bytes] of badInputs) await pub.send(bytes);
      await pub.send([valid, valid]); // two frames where one envelope belongs
    }
    for (let i = 0; i < VALID_AFTER; i++) await pub.send(codec.encode(testMsg01Schema, { field1: "ok", field2: i }));
    for (let i = 0; i < VALID_AFTER; i++) expect(await sub.recv({ timeoutMs: 5000 })).toMatchObject({ field2: i });
    const expected = expectedDrops(ROUNDS);
    expected.NOT_AN_ENVELOPE += ROUNDS;
    expect(sub.stats.dropped).toEqual(expected);
    expect(sub.stats.received).toBe(VALID_AFTER);
    expect(drops).toHaveLength(badInputs.length * ROUNDS + ROUNDS);
    expect(drops.every((error) => error instanceof DividereError)).toBe(true);
    expect(drops.find((error) => error.code === "UNKNOWN_TYPE")?.message).toContain("test.prefix.Msg01");
    expect(drops.find((error) => error.code === "OVERSIZED")?.message).toMatch(/maxEnvelopeSize/);
  });

  test("Response: a bad request is dropped without a reply, and the next requests are served", async () => {
    await using rep = new messaging.Response(transports.tcp(), { types, maxEnvelopeSize: MAX });
    const drops = collectDrops(rep);
    const serving = (async () => {
      for await (const request of rep) await rep.send(testMsg01Schema, { field1: "served", field2: request.field2 });
    })();
    // Bad requests come from a Dealer speaking REQ's framing (empty delimiter + body), and without the delimiter.
    await using attacker = new connection.Dealer(connectTo(rep));
    for (let round = 0; round < ROUNDS; round++) {
      for (const [, bytes] of badInputs) await attacker.send(["", bytes]);
      await attacker.send([valid]);
    }
    await using req = new messaging.Request(connectTo(rep), { types });
    for (let i = 0; i < VALID_AFTER; i++) {
      await req.send(testMsg01Schema, { field1: "please", field2: i });
      expect(await req.recv({ timeoutMs: 5000 })).toMatchObject({ field1: "served", field2: i });
    }
    const expected = expectedDrops(ROUNDS);
    expected.NOT_AN_ENVELOPE += ROUNDS;
    await eventually(() => drops.length === badInputs.length * ROUNDS + ROUNDS, 5000, "every bad request reported");
    expect(rep.stats.dropped).toEqual(expected);
    expect(await attacker.wait(50)).toBe(false); // nothing answers a dropped request
    await rep.close();
    await serving;
  });

  test("Router", async () => {
    await using router = new messaging.Router(transports.tcp(), { types, maxEnvelopeSize: MAX });
    const drops = collectDrops(router);
    await using dealer = new connection.Dealer(connectTo(router));
    for (let round = 0; round < ROUNDS; round++) {
      for (const [, bytes] of badInputs) await dealer.send(bytes);
      await dealer.send(["routing", "frames", "then garbage"]);
    }
    for (let i = 0; i < VALID_AFTER; i++) await dealer.send(codec.encode(testMsg01Schema, { field2: i }));
    for (let i = 0; i < VALID_AFTER; i++) expect((await router.recv({ timeoutMs: 5000 })).message).toMatchObject({ field2: i });
    const expected = expectedDrops(ROUNDS);
    expected.NOT_AN_ENVELOPE += ROUNDS;
    expect(router.stats.dropped).toEqual(expected);
    expect(drops).toHaveLength(badInputs.length * ROUNDS + ROUNDS);
  });

  test("Request: a reply that does not decode fails that recv, and the next exchange works", async () => {
    await using server = new connection.Response(transports.tcp());
    await using req = new messaging.Request(connectTo(server), { types });
    await req.send(testMsg01Schema, { field1: "q" });
    await server.recv({ timeoutMs: 2000 });
    await server.send("garbage reply");
    await expect(req.recv({ timeoutMs: 2000 })).rejects.toMatchObject({ code: "NOT_AN_ENVELOPE" });
    expect(req.stats.dropped.NOT_AN_ENVELOPE).toBe(1);
    await req.send(testMsg01Schema, { field1: "q2" });
    await server.recv({ timeoutMs: 2000 });
    await server.send(valid);
    expect(await req.recv({ timeoutMs: 2000 })).toMatchObject({ field1: "valid" });
  });
});

// Inputs for the messaging sockets that serve: what a Publisher sends a Subscriber, and what a
// Dealer sends a Router or a Response, with frame counts and delimiters wrong in every way
// those sockets' framing allows.
import { testMsg01Schema } from "../gen/test/TestMsg_pb.js";
import type { Random } from "../random.js";
import { BadEnvelopes, type Sample } from "./envelopes.js";
import type { Counts, FuzzInput } from "./tally.js";

/** The one type the messaging servers of the fuzz suite speak. */
export const testMsg: Sample = { schema: testMsg01Schema, init: (random) => ({ field1: random.text(30), field2: random.between(-1000, 1000) }) };

const EMPTY = Buffer.alloc(0);
const notAnEnvelope = BadEnvelopes.dropped("NOT_AN_ENVELOPE");

/** Between `min` and `max` frames, each a valid envelope, a bad one, empty, or random bytes. */
function someFrames(random: Random, bad: BadEnvelopes, min: number, max: number): Buffer[] {
  return Array.from({ length: random.between(min, max) }, () =>
    random.weighted<() => Buffer>([
      [2, () => bad.valid()],
      [2, () => bad.next().bytes],
      [1, () => EMPTY],
      [1, () => random.bytes(random.between(1, 16))],
    ])(),
  );
}

/** A Publisher's message to a Subscriber: one bad envelope, or several frames where one envelope belongs. */
export function subscriberInput(random: Random, bad: BadEnvelopes): FuzzInput {
  if (random.chance(0.85)) {
    const frame = bad.next();
    return { kind: frame.kind, frames: [frame.bytes], expect: BadEnvelopes.dropped(frame.reason) };
  }
  return { kind: "several frames", frames: someFrames(random, bad, 2, 4), expect: notAnEnvelope };
}

/**
 * A Dealer's message to a Router: the last frame is the envelope, any before it are routing
 * frames (legal, as through a chain of Dealers). So a valid envelope behind stray frames is
 * received, with a route of those frames after the Dealer's identity.
 */
export function routerInput(random: Random, bad: BadEnvelopes): FuzzInput {
  const route = random.chance(0.4) ? someFrames(random, bad, 1, 3) : [];
  if (route.length > 0 && random.chance(0.15)) {
    return { kind: "routing frames, then a valid envelope", frames: [...route, bad.valid()], expect: { received: 1, routeFrames: route.length + 1 } };
  }
  const frame = bad.next();
  return { kind: route.length ? `routing frames, then ${frame.kind}` : frame.kind, frames: [...route, frame.bytes], expect: BadEnvelopes.dropped(frame.reason) };
}

/** A request a Response-based server must take, and what it must count for it. */
export interface ValidRequest {
  readonly kind: string;
  readonly bytes: Uint8Array;
  readonly expect: Counts;
}

/**
 * A Dealer's message to a Response, which reads `[...routing, empty delimiter, envelope]` as
 * REP does: a bad envelope behind the delimiter, or the framing wrong (no delimiter, two, the
 * envelope in the wrong place), or now and then (`requestShare`) a `request()` behind 0-2
 * routing frames (as through a proxy), whose answer must carry the frames back (`reply`).
 */
export function responseInput(
  random: Random,
  bad: BadEnvelopes,
  request: () => ValidRequest,
  requestShare: number,
): FuzzInput & { reply?: Buffer[] } {
  const which = random.weighted([
    [14, "bad envelope"],
    [2, "no delimiter"],
    [1, "two delimiters"],
    [1, "delimiter after the envelope"],
    [requestShare, "request"],
  ] as const);
  switch (which) {
    case "bad envelope": {
      const frame = bad.next();
      return { kind: frame.kind, frames: [EMPTY, frame.bytes], expect: BadEnvelopes.dropped(frame.reason) };
    }
    case "no delimiter": {
      const frames = random.chance(0.5) ? [] : someFrames(random, bad, 1, 3).filter((frame) => frame.length > 0);
      return { kind: which, frames: frames.length > 0 ? frames : [bad.valid()], expect: notAnEnvelope };
    }
    case "two delimiters":
      return { kind: which, frames: [EMPTY, EMPTY, bad.valid()], expect: notAnEnvelope };
    case "delimiter after the envelope":
      return { kind: which, frames: [EMPTY, bad.valid(), EMPTY], expect: notAnEnvelope };
    case "request": {
      const route = Array.from({ length: random.below(3) }, () => random.bytes(random.between(1, 8)));
      const { kind, bytes, expect } = request();
      return { kind: route.length > 0 ? `${kind}, through a proxy` : kind, frames: [...route, EMPTY, bytes], expect, reply: route };
    }
  }
}

// Requests to a registry with bad fields: names empty or strange, ports and leases at the edges
// of uint32, instances without what makes them one, endpoints no Python peer can be told about,
// and registry messages that are no request at all. Each says how the registry must count it.
import { type DescMessage, type MessageInitShape, create, toBinary } from "@bufbuild/protobuf";
import { MsgLib, registryProtocol } from "@dividere/runtime";
import type { Random } from "../random.js";
import { type Sample, wellFormed } from "./envelopes.js";
import type { Counts } from "./tally.js";

/** A service every run registers with an endpoint whose port does not fit a Python lookup's answer. */
export const UNREPRESENTABLE_PORT_SERVICE = "fuzz.ports";

/** The requests, as samples for bad envelopes. */
export const registrySamples: Sample[] = [
  { schema: MsgLib.RegisterServiceSchema, init: (random) => ({ serviceName: random.text(10), server: "127.0.0.1", port: random.below(65536) }) },
  { schema: MsgLib.ServiceLookupReqSchema, init: (random) => ({ serviceName: random.text(10) }) },
  { schema: registryProtocol.LookupRequestSchema, init: (random) => ({ service: random.text(10) }) },
  {
    schema: registryProtocol.RegisterInstanceSchema,
    init: (random) => ({ instance: { service: random.text(10), instanceId: "1", endpoint: "tcp://127.0.0.1:1" } }),
  },
];

/** One request frame, and the counters (and reply) it must move. */
export interface RegistryRequest {
  readonly kind: string;
  readonly bytes: Buffer;
  readonly expect: Counts;
}

function frame<S extends DescMessage>(schema: S, init: MessageInitShape<S>): Buffer {
  return wellFormed(schema.typeName, toBinary(schema, create(schema, init)));
}

const answered = (kind: string, reply: string, more: Counts = {}): Counts => ({ handled: 1, [`answered.${kind}`]: 1, [`reply.${reply}`]: 1, ...more });

/** Registry requests, right in form and wrong in content. */
export class RegistryRequests {
  readonly #random: Random;
  #portsRegistered = false;

  constructor(random: Random) {
    this.#random = random;
  }

  next(): RegistryRequest {
    const random = this.#random;
    if (!this.#portsRegistered) {
      this.#portsRegistered = true;
      const instance = { service: UNREPRESENTABLE_PORT_SERVICE, instanceId: "far", endpoint: `tcp://example.org:${random.pick(["4294967296", "99999999999999999999"])}` };
      return { kind: "instance with a port beyond 65535", bytes: frame(registryProtocol.RegisterInstanceSchema, { instance }), expect: answered("RegisterInstance", "ack") };
    }
    return random.weighted<() => RegistryRequest>([
      [3, () => this.#registerService()],
      [1, () => ({ kind: "python unregister", bytes: frame(MsgLib.UnregisterServiceSchema, { serviceName: this.#name(), server: random.text(20), port: this.#port() }), expect: answered("UnregisterService", "ack") })],
      [2, () => ({ kind: "python lookup", bytes: frame(MsgLib.ServiceLookupReqSchema, { serviceName: this.#name() }), expect: answered("ServiceLookupReq", "ServiceLookupRep") })],
      [3, () => this.#registerInstance()],
      [1, () => ({ kind: "unregister", bytes: frame(registryProtocol.UnregisterInstanceSchema, { service: this.#name(), instanceId: random.text(10) }), expect: answered("UnregisterInstance", "ack") })],
      [2, () => ({ kind: "lookup", bytes: frame(registryProtocol.LookupRequestSchema, { service: this.#name() }), expect: answered("LookupRequest", "LookupReply") })],
      [2, () => this.#notARequest()],
    ])();
  }

  /** Mostly a fresh name; now and then one with instances, the empty one, or the one whose port is too big. */
  #name(): string {
    return this.#random.weighted<() => string>([
      [6, () => `fuzz.${this.#random.text(20)}`],
      [1, () => ""],
      [1, () => "fuzz.shared"],
      [2, () => UNREPRESENTABLE_PORT_SERVICE],
    ])();
  }

  #port(): number {
    return this.#random.pick([0, 1, 65535, 65536, 2 ** 31, 2 ** 32 - 1, this.#random.below(2 ** 32)]);
  }

  #registerService(): RegistryRequest {
    const serviceName = this.#random.chance(0.2) ? "" : this.#name();
    const bytes = frame(MsgLib.RegisterServiceSchema, { serviceName, server: this.#random.text(30), port: this.#port() });
    if (serviceName === "") return { kind: "python register without a name", bytes, expect: answered("RegisterService", "ack", { refused: 1 }) };
    return { kind: "python register", bytes, expect: answered("RegisterService", "ack") };
  }

  #registerInstance(): RegistryRequest {
    const random = this.#random;
    const instance = {
      service: random.chance(0.85) ? this.#name() : "",
      instanceId: random.chance(0.85) ? random.text(20) : "",
      endpoint: random.chance(0.85) ? random.pick([`tcp://127.0.0.1:${this.#port()}`, "ipc:///tmp/x", random.text(30)]) : "",
      ttlMs: random.pick([0, 1, 2 ** 31, 2 ** 32 - 1, random.below(10_000)]),
      metadata: random.chance(0.3) ? { [random.text(10)]: random.text(30) } : {},
    };
    const withoutInstance = random.chance(0.05);
    const bytes = frame(registryProtocol.RegisterInstanceSchema, withoutInstance ? {} : { instance });
    const incomplete = withoutInstance || !instance.service || !instance.instanceId || !instance.endpoint;
    return incomplete
      ? { kind: "instance without service, id or endpoint", bytes, expect: answered("RegisterInstance", "ack", { refused: 1 }) }
      : { kind: "register", bytes, expect: answered("RegisterInstance", "ack") };
  }

  /** A registry message that only a registry sends: handled by nobody, answered never. */
  #notARequest(): RegistryRequest {
    const random = this.#random;
    const bytes = random.pick([
      () => frame(MsgLib.ackSchema, { ok: random.chance(0.5) }),
      () => frame(MsgLib.ServiceLookupRepSchema, { serviceName: random.text(10), port: this.#port() }),
      () => frame(MsgLib.RediscoverReqSchema, {}),
      () => frame(registryProtocol.LookupReplySchema, { service: random.text(10) }),
      () => frame(registryProtocol.InstancesChangedSchema, { service: random.text(10) }),
    ])();
    return { kind: "registry message that is no request", bytes, expect: { unhandled: 1 } };
  }
}

/**
 * A publisher's entry in the registry: where it publishes, its topics, and the schemas of their
 * messages, so that a subscriber that has no `.proto` files (`dividere tap`) decodes what it
 * sends. Publishers are not services, and Python dividere registers none; this is an entry of
 * the service {@link PUBLISHER_SERVICE}, leased and renewed like a service's.
 * @module
 */
import { hostname } from "node:os";
import { type DescMessage, create, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { InstanceSchema } from "../gen/dividere/v1/registry_pb.js";
import { withImports } from "../builtin/reflection-service.js";
import type { TypeRegistry } from "../envelope/types.js";
import type { DividereError } from "../errors.js";
import type { RegistryClient } from "./client.js";
import { DEFAULT_TTL_MS, advertisedEndpoint } from "./defaults.js";
import { Registration } from "./registration.js";

/** The service under which publishers are registered. */
export const PUBLISHER_SERVICE = "dividere.v1.Publisher";
/** Metadata keys of a publisher's entry: its topics (type names, comma-separated), and a base64 FileDescriptorSet of their files. */
export const TOPICS_KEY = "topics";
export const SCHEMAS_KEY = "schemas";

/** What is announced of a publisher: a messaging Publisher, or a generated one. */
export interface Announceable {
  /** Where it is bound. */
  readonly endpoint: string;
  /** Its codec, whose types are its topics. */
  readonly codec: { readonly types: TypeRegistry };
}

/** Options of {@link announcePublisher}. */
export interface AnnounceOptions {
  /** The registry: its endpoint, several of one view (in order of preference), or a client (which stays open: it is yours). */
  registry: string | readonly string[] | RegistryClient;
  /** The host subscribers reach it at, as `serve()`'s `host`; default the address it is bound to. */
  host?: string;
  /** The lease in ms, renewed every third of it; default 3000. */
  ttlMs?: number;
  /** Where a registration that failed is reported (once, until it works again); default a line on stderr. It is tried again at the next renewal. */
  onError?: (error: DividereError) => void;
}

let announced = 0;

/**
 * Registers `publisher` with the registry: its endpoint, its topics and their schemas, renewed
 * while it runs; `close()` takes the entry away. `dividere tap ENDPOINT --registry R` then
 * decodes its messages without `--proto`.
 *
 * ```ts
 * await using pub = new ChatPublisher({ bind: "tcp://127.0.0.1:0" });
 * await using entry = announcePublisher(pub, { registry: "tcp://localhost:5000" });
 * ```
 */
export function announcePublisher(publisher: Announceable, options: AnnounceOptions): PublisherAnnouncement {
  return new PublisherAnnouncement(publisher, options);
}

/** A publisher's entry in the registry, renewed until {@link close}. */
export class PublisherAnnouncement {
  /** Where subscribers reach the publisher, as registered. */
  readonly endpoint: string;
  readonly #registration: Registration;
  #closing: Promise<void> | undefined;

  constructor(publisher: Announceable, options: AnnounceOptions) {
    this.endpoint = advertisedEndpoint(publisher.endpoint, options.host);
    const ttlMs = options.ttlMs ?? DEFAULT_TTL_MS;
    const schemas = publisher.codec.types.names().map((name) => publisher.codec.types.require(name));
    this.#registration = new Registration(options.registry, {
      ttlMs,
      holder: "publisher",
      onError: options.onError ?? ((error) => console.error(`dividere publisher: ${error.message}`)),
    });
    this.#registration.add(
      create(InstanceSchema, {
        service: PUBLISHER_SERVICE,
        instanceId: `${hostname()}/${process.pid}/publisher/${++announced}`,
        endpoint: this.endpoint,
        ttlMs,
        metadata: { [TOPICS_KEY]: schemas.map((schema) => schema.typeName).join(","), [SCHEMAS_KEY]: schemasOf(schemas) },
      }),
    );
  }

  /** Resolves once the registry has taken the entry; rejects with `CLOSED` if the announcement closes first. */
  waitForRegistration(): Promise<void> {
    return this.#registration.waitForRegistration();
  }

  /** Takes the entry away from the registry (best effort, for up to a second) and stops renewing it. */
  close(): Promise<void> {
    this.#closing ??= this.#registration.close(Date.now() + 1000);
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** The files of `schemas` and every file they import, as a base64 FileDescriptorSet. */
function schemasOf(schemas: readonly DescMessage[]): string {
  const file = withImports(schemas.map((schema) => schema.file)).map((desc) => desc.proto);
  return Buffer.from(toBinary(FileDescriptorSetSchema, create(FileDescriptorSetSchema, { file }))).toString("base64");
}

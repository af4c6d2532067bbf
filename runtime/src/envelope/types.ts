import {
  type DescFile,
  type DescMessage,
  type Message,
  type MessageShape,
  type Registry,
  createRegistry,
} from "@bufbuild/protobuf";
import { DividereError } from "../errors.js";

/** Where message types come from: schemas (`FooSchema`), generated files (`file_foo`), or a protobuf-es registry. */
export type TypeSource = DescMessage | DescFile | Registry;

/** One {@link TypeSource} or several; what every messaging socket's `types` option takes. */
export type Types = TypeSource | readonly TypeSource[];

type ShapeOf<S> = S extends DescMessage ? MessageShape<S> : Message;
type SchemaOfSource<S> = S extends DescMessage ? S : DescMessage;

/** The union of message shapes `types` describes (`Message` where a file or registry leaves it open). */
export type MessageOf<T extends Types> = T extends readonly (infer S)[] ? ShapeOf<S> : ShapeOf<T>;

/** The schemas `types` names (`DescMessage` where a file or registry leaves it open). */
export type SchemaOf<T extends Types> = T extends readonly (infer S)[] ? SchemaOfSource<S> : SchemaOfSource<T>;

function isRegistry(source: TypeSource): source is Registry {
  return typeof (source as Registry).getMessage === "function";
}

/**
 * The message types one socket knows, looked up by full protobuf name: what decides
 * which received envelopes decode and which are dropped as `UNKNOWN_TYPE`.
 */
export class TypeRegistry {
  readonly #registry: Registry;

  constructor(types: Types) {
    const sources = (Array.isArray(types) ? types : [types]) as readonly TypeSource[];
    for (const source of sources) {
      if (source === null || typeof source !== "object" || !(isRegistry(source) || "kind" in source)) {
        throw new DividereError(
          "INVALID_ARGUMENT",
          `types must list protobuf-es schemas (FooSchema), files (file_foo) or registries; got ${String(source)}`,
        );
      }
    }
    this.#registry = createRegistry(...sources);
  }

  /** The schema of the message type with this full name, if known. */
  get(typeName: string): DescMessage | undefined {
    return this.#registry.getMessage(typeName);
  }

  /** The schema with this full name; throws `UNKNOWN_TYPE` naming what is known when there is none. */
  require(typeName: string): DescMessage {
    const schema = this.get(typeName);
    if (schema) return schema;
    throw new DividereError(
      "UNKNOWN_TYPE",
      `message type "${typeName}" is not among this socket's types (${this.describe()}); add its schema or file to the types option`,
    );
  }

  /** The known type names for an error message: the first few, and how many more. */
  describe(): string {
    const names = this.names();
    if (names.length === 0) return "none";
    return names.length <= 8 ? names.join(", ") : `${names.slice(0, 8).join(", ")} and ${names.length - 8} more`;
  }

  /** The full names of every known message type. */
  names(): string[] {
    const names: string[] = [];
    for (const desc of this.#registry) if (desc.kind === "message") names.push(desc.typeName);
    return names.sort();
  }
}

import type { DescFile, DescMessage, DescMethod, DescService } from "@bufbuild/protobuf";
import { type GeneratedFile, type Printable, getComments } from "@bufbuild/protoplugin";
import { fileStem, lowerFirst, messageStem, upperFirst } from "./names.js";

/**
 * Printables that templates place in their text. Each is represented by a token that the
 * renderer swaps back for the printable, so protoplugin keeps doing the import and export
 * bookkeeping (dedupe, aliasing on clashes, import_extension, type-only imports).
 */
export class SymbolTable {
  readonly #printables: Printable[] = [];

  /** A token standing for `printable` in rendered text. */
  token(printable: Printable): string {
    this.#printables.push(printable);
    return `\uE000${this.#printables.length - 1}\uE001`;
  }

  /** Rendered text split into strings and the printables its tokens stand for. */
  resolve(text: string): Printable[] {
    const parts: Printable[] = [];
    const pattern = /\uE000(\d+)\uE001/g;
    let last = 0;
    for (const match of text.matchAll(pattern)) {
      parts.push(text.slice(last, match.index));
      parts.push(this.#printables[Number(match[1])]!);
      last = match.index + match[0].length;
    }
    parts.push(text.slice(last));
    return parts;
  }
}

/** One message of the file, as templates see it. */
export interface MessageView {
  /** Full protobuf name, e.g. `chat.v1.Said`: the topic. */
  typeName: string;
  /** The name in generated identifiers, e.g. `Said`, `Outer_Inner`. */
  stem: string;
  /** The proto comments of the message, for TSDoc (may be empty). */
  doc: string;
  /** Deprecated itself, or nested in a deprecated message. */
  deprecated: boolean;
  /** Token of the protoc-gen-es schema (`SaidSchema`). */
  schema: string;
  /** Token of the protoc-gen-es message type (`Said`), type-only. */
  shape: string;
  /** The topic constant, e.g. `SaidTopic`. */
  topic: string;
  /** The handler method, e.g. `handleSaid`. */
  handler: string;
  /** The publisher's named send method, e.g. `sendSaid`. */
  send: string;
}

/** A message type as a method's input or output. */
export interface TypeRef {
  /** Token of the protoc-gen-es schema. */
  schema: string;
  /** Token of the protoc-gen-es message type, type-only. */
  shape: string;
}

/** One rpc of a service, as templates see it. */
export interface MethodView {
  /** The proto name, e.g. `Recent`. */
  name: string;
  /** The name in code, e.g. `recent` (protoc-gen-es's `localName`). */
  localName: string;
  /** `/chat.v1.History/Recent`. */
  path: string;
  doc: string;
  deprecated: boolean;
  unary: boolean;
  serverStreaming: boolean;
  input: TypeRef;
  output: TypeRef;
}

/** One service of the file, as templates see it. */
export interface ServiceView {
  typeName: string;
  name: string;
  /** The proto comments of the service, for TSDoc (may be empty). */
  doc: string;
  deprecated: boolean;
  /** Token of the protoc-gen-es service descriptor (`History`). */
  descriptor: string;
  /** Unary and server-streaming rpcs: the ones dividere carries. */
  methods: MethodView[];
  /** Client- and bidi-streaming rpcs, which are left out, e.g. `Upload (client streaming)`. */
  unsupported: string[];
  names: {
    /** The interface to implement, e.g. `HistoryService`. */
    service: string;
    /** The client stub, e.g. `HistoryClient`. */
    client: string;
    /** What `serve()` takes, e.g. `HistoryDefinition`. */
    definition: string;
  };
}

/** Everything a template gets for one .proto file. */
export interface FileView {
  /** The .proto file name, e.g. `chat/v1/chat.proto`. */
  proto: string;
  package: string;
  messages: MessageView[];
  services: ServiceView[];
  /** File-level names, derived from the file name. */
  names: {
    stem: string;
    types: string;
    message: string;
    topics: string;
    publisher: string;
    subscriber: string;
    handlers: string;
    dispatch: string;
  };
}

/** The messages of a file that become topics: all of them, nested too, except synthetic map entries. */
function messagesOf(file: DescFile): DescMessage[] {
  const all: DescMessage[] = [];
  const visit = (messages: readonly DescMessage[]) => {
    for (const message of messages) {
      if (message.proto.options?.mapEntry) continue;
      all.push(message);
      visit(message.nestedMessages);
    }
  };
  visit(file.messages);
  return all;
}

/** The proto comments of a message or service (leading, then trailing), without the leading space of each line. */
function commentsOf(desc: DescMessage | DescService): string {
  const comments = getComments(desc);
  return [comments.leading, comments.trailing]
    .filter((block): block is string => !!block)
    .map((block) =>
      block
        .replace(/\n$/, "")
        .split("\n")
        .map((line) => (line.startsWith(" ") ? line.slice(1) : line))
        .join("\n"),
    )
    .join("\n\n");
}

/** The proto comments of an rpc. */
function methodComments(method: DescMethod): string {
  const comments = getComments(method);
  return (comments.leading ?? "").replace(/\n$/, "").split("\n").map((line) => (line.startsWith(" ") ? line.slice(1) : line)).join("\n");
}

function isDeprecated(desc: DescMessage): boolean {
  for (let at: DescMessage | undefined = desc; at; at = at.parent) if (at.deprecated) return true;
  return false;
}

export function buildFileView(file: DescFile, f: GeneratedFile, symbols: SymbolTable): FileView {
  const stem = fileStem(file);
  const messages = messagesOf(file).map((message): MessageView => {
    const name = messageStem(message);
    return {
      typeName: message.typeName,
      stem: name,
      doc: commentsOf(message),
      deprecated: isDeprecated(message),
      schema: symbols.token(f.importSchema(message)),
      shape: symbols.token(f.importShape(message)),
      topic: `${name}Topic`,
      handler: `handle${upperFirst(name)}`,
      send: `send${upperFirst(name)}`,
    };
  });
  const typeRef = (message: DescMessage): TypeRef => ({
    schema: symbols.token(f.importSchema(message)),
    shape: symbols.token(f.importShape(message)),
  });
  const services = file.services.map((service): ServiceView => {
    const carried = service.methods.filter((method) => method.methodKind === "unary" || method.methodKind === "server_streaming");
    return {
      typeName: service.typeName,
      name: service.name,
      doc: commentsOf(service),
      deprecated: service.deprecated,
      descriptor: symbols.token(f.importSchema(service)),
      methods: carried.map((method) => ({
        name: method.name,
        localName: method.localName,
        path: `/${service.typeName}/${method.name}`,
        doc: methodComments(method),
        deprecated: method.deprecated,
        unary: method.methodKind === "unary",
        serverStreaming: method.methodKind === "server_streaming",
        input: typeRef(method.input),
        output: typeRef(method.output),
      })),
      unsupported: service.methods
        .filter((method) => !carried.includes(method))
        .map((method) => `${method.name} (${method.methodKind.replace("_", " ")})`),
      names: { service: `${service.name}Service`, client: `${service.name}Client`, definition: `${service.name}Definition` },
    };
  });
  return {
    proto: file.proto.name,
    package: file.proto.package,
    messages,
    services,
    names: {
      stem,
      types: `${lowerFirst(stem)}Types`,
      message: `${stem}Message`,
      topics: `${stem}Topics`,
      publisher: `${stem}Publisher`,
      subscriber: `${stem}Subscriber`,
      handlers: `${stem}Handlers`,
      dispatch: `${lowerFirst(stem)}Dispatch`,
    },
  };
}

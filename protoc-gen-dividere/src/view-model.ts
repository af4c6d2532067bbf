import type { DescFile, DescMessage, DescMethod, DescService } from "@bufbuild/protobuf";
import { parentTypes } from "@bufbuild/protobuf/reflect";
import { type GeneratedFile, type Printable, getComments } from "@bufbuild/protoplugin";
import { isEvent, rpcMessagesOf } from "./events.js";
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

/**
 * What the proto says of a message, service or rpc, for the TSDoc of what is generated from it:
 * the `jsdoc` helper's `from=`. It carries what protoc-gen-es's JSDoc carries.
 */
export interface SourceView {
  /** The leading and trailing proto comments, one leading space off each line (may be empty). */
  comments: string;
  /** What it is generated from, e.g. `message chat.v1.Said`, `rpc chat.v1.History.Recent`. */
  declaration: string;
  /** Deprecated itself, or (a message or service) nested in something deprecated. */
  deprecated: boolean;
}

/** One message of the file, as templates see it. */
export interface MessageView {
  /** Full protobuf name, e.g. `chat.v1.Said`: the topic. */
  typeName: string;
  /** The name in generated identifiers, e.g. `Said`, `Outer_Inner`. */
  stem: string;
  source: SourceView;
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
  /** The client's method: `localName`, with a `$` after names the client has already (`close$`). */
  clientMethod: string;
  /** `/chat.v1.History/Recent`. */
  path: string;
  source: SourceView;
  /** The RpcClient method that makes the call: `unary`, `serverStream`, `clientStream` or `bidiStream`. */
  call: "unary" | "serverStream" | "clientStream" | "bidiStream";
  /** A client or bidi stream: the client method takes `requests`, an AsyncIterable. */
  streamsRequests: boolean;
  /** A server or bidi stream: the client method returns an AsyncIterable. */
  streamsReplies: boolean;
  input: TypeRef;
  output: TypeRef;
}

/** One service of the file, as templates see it. */
export interface ServiceView {
  typeName: string;
  name: string;
  source: SourceView;
  /** Token of the protoc-gen-es service descriptor (`History`). */
  descriptor: string;
  /** Its rpcs, of all four kinds. */
  methods: MethodView[];
  names: {
    /** The type to implement, e.g. `HistoryService`: the runtime's `ServiceImpl` of the descriptor. */
    service: string;
    /** The client stub, e.g. `HistoryClient`. */
    client: string;
    /** What `serve()` takes, e.g. `HistoryDefinition`: the descriptor under the name the docs use. */
    definition: string;
  };
}

/** Everything a template gets for one .proto file. */
export interface FileView {
  /** The .proto file name, e.g. `chat/v1/chat.proto`. */
  proto: string;
  package: string;
  /**
   * The file's events: its messages (nested too, map entries not), but those an rpc of the
   * file takes or returns, unless the `event=` option names them.
   */
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

/** The messages of a file, nested ones too, except synthetic map entries. */
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

/** What a generated client has besides its rpcs' methods. */
const CLIENT_MEMBERS = new Set(["rpc", "close"]);

/** The RpcClient method of each kind of rpc. */
const CLIENT_CALLS = {
  unary: "unary",
  server_streaming: "serverStream",
  client_streaming: "clientStream",
  bidi_streaming: "bidiStream",
} as const satisfies Record<DescMethod["methodKind"], MethodView["call"]>;

/** Comments and deprecation as protoplugin's JSDoc of a descriptor (`f.jsDoc(desc)`) has them. */
function sourceOf(desc: DescMessage | DescService | DescMethod): SourceView {
  const { leading, trailing } = getComments(desc);
  const comments = [leading, trailing]
    .filter((block): block is string => !!block)
    .map((block) => block.replace(/\n$/, ""))
    .join("\n\n")
    .split("\n")
    .map((line) => (line.startsWith(" ") ? line.slice(1) : line))
    .join("\n");
  const deprecated = desc.kind === "rpc" ? desc.deprecated : desc.deprecated || parentTypes(desc).some((parent) => parent.deprecated);
  return { comments, declaration: desc.toString(), deprecated };
}

/** The view of `file`; `events` are the messages the `event=` option names. */
export function buildFileView(file: DescFile, f: GeneratedFile, symbols: SymbolTable, events: ReadonlySet<string>): FileView {
  const stem = fileStem(file);
  const rpcMessages = rpcMessagesOf(file);
  const eventMessages = messagesOf(file).filter((message) => isEvent(message, rpcMessages, events));
  const messages = eventMessages.map((message): MessageView => {
    const name = messageStem(message);
    return {
      typeName: message.typeName,
      stem: name,
      source: sourceOf(message),
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
    return {
      typeName: service.typeName,
      name: service.name,
      source: sourceOf(service),
      descriptor: symbols.token(f.importSchema(service)),
      methods: service.methods.map((method) => ({
        name: method.name,
        localName: method.localName,
        clientMethod: CLIENT_MEMBERS.has(method.localName) ? `${method.localName}$` : method.localName,
        path: `/${service.typeName}/${method.name}`,
        source: sourceOf(method),
        call: CLIENT_CALLS[method.methodKind],
        streamsRequests: method.methodKind === "client_streaming" || method.methodKind === "bidi_streaming",
        streamsReplies: method.methodKind === "server_streaming" || method.methodKind === "bidi_streaming",
        input: typeRef(method.input),
        output: typeRef(method.output),
      })),
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

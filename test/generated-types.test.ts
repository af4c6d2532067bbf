/**
 * What the generated code lets through the compiler, and what it does not. These are checked by
 * `npm run typecheck` (tsc --strict); an `@ts-expect-error` that finds no error fails it.
 */
import { create } from "@bufbuild/protobuf";
import { describe, expectTypeOf, test } from "vitest";
import type { MessageContext } from "@dividere/runtime";
import * as a from "./gen/test/difficult/a_dividere.js";
import * as b from "./gen/test/difficult/b_dividere.js";
import type { Said as SaidA } from "./gen/test/difficult/a_pb.js";
import type { Said as SaidB } from "./gen/test/difficult/b_pb.js";
import { Msg01Schema } from "./gen/test/clientMsgs_pb.js";
import type * as chat from "./gen/test/chat/v1/chat_dividere.js";
import type { OracleClient } from "./gen/test/difficult/oracle_dividere.js";
import type { AskReply } from "./gen/test/difficult/oracle_pb.js";
import type { DescService, MessageInitShape } from "@bufbuild/protobuf";
import { type CallContext, type CallOptions, type RpcClient, type RpcServer, type ServiceImpl, type Worker, serve } from "@dividere/runtime";
import type { EchoClient, EchoService } from "./fixtures/gen/test/services/v1/echo_dividere.js";
import { Echo } from "./fixtures/gen/test/services/v1/echo_pb.js";
import type { EchoReply, EchoReplySchema, EchoRequest, EchoRequestSchema } from "./fixtures/gen/test/services/v1/echo_pb.js";
import {
  type ChatHandlers,
  HistoryClient,
  HistoryDefinition,
  type HistoryService,
  type ChatMessage,
  ChatPublisher,
  ChatSubscriber,
  JoinedTopic,
  SaidTopic,
  chatDispatch,
  chatTypes,
} from "./gen/test/chat/v1/chat_dividere.js";
import { History, type HistoryReply, type HistoryRequest, type Joined, type Said, SaidSchema } from "./gen/test/chat/v1/chat_pb.js";

describe("generated code, at the type level", () => {
  test("topic constants are the full names, as literal types", () => {
    expectTypeOf<typeof SaidTopic>().toEqualTypeOf<"chat.v1.Said">();
    expectTypeOf<typeof JoinedTopic>().toEqualTypeOf<"chat.v1.Joined">();
    expectTypeOf<(typeof chatTypes)[0]>().toEqualTypeOf<typeof SaidSchema>();
  });

  test("the subscriber yields a $typeName union that a switch narrows", () => {
    expectTypeOf<ChatMessage>().toEqualTypeOf<Said | Joined>();
    expectTypeOf<ReturnType<ChatSubscriber["recv"]>>().toEqualTypeOf<Promise<ChatMessage>>();
    const describeMessage = (msg: ChatMessage): string => {
      switch (msg.$typeName) {
        case "chat.v1.Said":
          expectTypeOf(msg).toEqualTypeOf<Said>();
          return msg.text;
        case "chat.v1.Joined":
          return msg.user;
        default:
          expectTypeOf(msg).toBeNever();
          return "";
      }
    };
    expectTypeOf(describeMessage).returns.toBeString();
  });

  test("the publisher takes its file's messages and init shapes, and nothing else", () => {
    expectTypeOf<ChatPublisher["sendSaid"]>().toBeCallableWith({ room: "r", text: "t" });
    expectTypeOf<ChatPublisher["sendSaid"]>().toBeCallableWith(create(SaidSchema));
    expectTypeOf<ChatPublisher["send"]>().toBeCallableWith(create(SaidSchema, { text: "t" }));
    // @ts-expect-error: a message of another file
    expectTypeOf<ChatPublisher["send"]>().toBeCallableWith(create(Msg01Schema));
    // @ts-expect-error: a schema of another file
    expectTypeOf<ChatPublisher["send"]>().toBeCallableWith(Msg01Schema, { field1: "x" });
  });

  test("a handlers object missing a handler does not compile; a complete one does", () => {
    const complete: ChatHandlers = {
      handleSaid(msg, ctx) {
        expectTypeOf(msg).toEqualTypeOf<Said>();
        expectTypeOf(ctx).toEqualTypeOf<MessageContext>();
      },
      handleJoined: async () => {},
    };
    // @ts-expect-error: handleJoined is missing
    const incomplete: ChatHandlers = { handleSaid() {} };
    expectTypeOf(complete).toEqualTypeOf(incomplete);
  });

  test("the dispatch takes some of the handlers: the interface is where the compiler checks them all", () => {
    expectTypeOf(chatDispatch).toBeCallableWith({ handleSaid() {} });
    expectTypeOf(chatDispatch).parameter(0).toEqualTypeOf<Partial<ChatHandlers>>();
  });

  test("a message only an rpc takes or returns is no event; one the event= option names is", () => {
    // HistoryRequest and HistoryReply are History's; Said is Follow's reply, and named by event=chat.v1.Said.
    expectTypeOf<keyof ChatHandlers>().toEqualTypeOf<"handleSaid" | "handleJoined">();
    expectTypeOf<chat.ChatTopics>().toEqualTypeOf<"chat.v1.Said" | "chat.v1.Joined">();
    expectTypeOf<Extract<keyof typeof chat, `${string}Topic`>>().toEqualTypeOf<"SaidTopic" | "JoinedTopic">();
    expectTypeOf<Extract<keyof ChatPublisher, `send${string}`>>().toEqualTypeOf<"send" | "sendSaid" | "sendJoined">();
  });

  test("a subscriber's topics are its file's topic constants or schemas", () => {
    type Options = ConstructorParameters<typeof ChatSubscriber>[1];
    expectTypeOf<{ topics: ["chat.v1.Said"] }>().toMatchTypeOf<Options>();
    expectTypeOf<{ topics: [typeof SaidSchema, typeof JoinedTopic] }>().toMatchTypeOf<Options>();
    // @ts-expect-error: not a topic of this file
    expectTypeOf<{ topics: ["other.Type"] }>().toMatchTypeOf<Options>();
    // @ts-expect-error: a schema of another file
    expectTypeOf<{ topics: [typeof Msg01Schema] }>().toMatchTypeOf<Options>();
    // @ts-expect-error: an rpc's request is no topic
    expectTypeOf<{ topics: ["chat.v1.HistoryRequest"] }>().toMatchTypeOf<Options>();
  });

  test("messages of the same short name in two packages stay apart", () => {
    expectTypeOf<typeof a.SaidTopic>().toEqualTypeOf<"test.a.Said">();
    expectTypeOf<typeof b.SaidTopic>().toEqualTypeOf<"test.b.Said">();
    expectTypeOf<a.AMessage>().toEqualTypeOf<SaidA>();
    expectTypeOf<b.BMessage>().not.toEqualTypeOf<SaidA>();
    expectTypeOf<SaidB>().toMatchTypeOf<b.BMessage>();
  });

  test("a service implementation is derived from the protoc-gen-es descriptor: every rpc, typed by its kind", () => {
    expectTypeOf<HistoryService>().toEqualTypeOf<ServiceImpl<typeof History>>();
    expectTypeOf(HistoryDefinition).toEqualTypeOf(History);
    const history: HistoryService = {
      recent(request, ctx) {
        expectTypeOf(request).toEqualTypeOf<HistoryRequest>();
        expectTypeOf(ctx).toEqualTypeOf<CallContext>();
        return { lines: [{ room: request.room, text: "hi" }] };
      },
      async *follow(request) {
        expectTypeOf(request).toEqualTypeOf<HistoryRequest>();
        yield { room: request.room, text: "..." };
      },
    };
    // @ts-expect-error: follow is missing
    const partial: HistoryService = { recent: () => ({}) };
    // @ts-expect-error: a reply of the wrong type
    const wrongReply: HistoryService = { ...history, recent: () => ({ text: "not a HistoryReply field" }) };
    // @ts-expect-error: a server-streaming rpc answered with one reply
    const wrongKind: HistoryService = { ...history, follow: () => ({ room: "r" }) };
    // @ts-expect-error: a unary rpc answered with a stream
    const streamedUnary: HistoryService = { ...history, async *recent() {} };
    expectTypeOf(partial).toEqualTypeOf(wrongReply);
    expectTypeOf(wrongKind).toEqualTypeOf(streamedUnary);
  });

  test("rpcs of all four kinds are in the implementation, client and bidi streams taking an AsyncIterable of requests", () => {
    expectTypeOf<keyof EchoService>().toEqualTypeOf<"say" | "count" | "unfinished" | "upload" | "collect" | "chat">();
    expectTypeOf<EchoService["collect"]>().parameter(0).toEqualTypeOf<AsyncIterable<EchoRequest>>();
    expectTypeOf<EchoService["collect"]>().returns.toEqualTypeOf<Promise<MessageInitShape<typeof EchoReplySchema>>>();
    expectTypeOf<EchoService["chat"]>().returns.toEqualTypeOf<AsyncIterable<MessageInitShape<typeof EchoReplySchema>>>();
    expectTypeOf<EchoClient["collect"]>().parameter(0).toEqualTypeOf<AsyncIterable<MessageInitShape<typeof EchoRequestSchema>>>();
    expectTypeOf<EchoClient["collect"]>().returns.toEqualTypeOf<Promise<EchoReply>>();
    expectTypeOf<EchoClient["chat"]>().returns.toEqualTypeOf<AsyncIterable<EchoReply>>();
  });

  test("serve(), RpcServer.add and Worker.add type the implementation through the descriptor they get", () => {
    // Type checks only: never called.
    const host = (server: RpcServer, worker: Worker, untyped: DescService) => {
      void serve(HistoryDefinition, { recent: (request) => ({ lines: [{ room: request.room }] }), async *follow() {} });
      server.add(History, { recent: () => ({}), follow: async function* () {} });
      worker.add(HistoryDefinition, { recent: () => ({}), follow: async function* () {} });
      // @ts-expect-error: follow is missing
      void serve(HistoryDefinition, { recent: () => ({}) });
      // @ts-expect-error: a reply of the wrong type
      server.add(History, { recent: () => ({ text: "t" }), follow: async function* () {} });
      // @ts-expect-error: a stream of the wrong type
      worker.add(History, { recent: () => ({}), async *follow() { yield { lines: [] }; } });
      // A descriptor known only at run time types nothing: the runtime checks the methods are functions.
      server.add(untyped, { say: () => ({}) });
    };
    expectTypeOf(host).toBeFunction();
  });

  test("the client's methods are typed promises and streams; RpcClient takes a method of the kind it calls", () => {
    expectTypeOf<HistoryClient["recent"]>().returns.toEqualTypeOf<Promise<HistoryReply>>();
    expectTypeOf<HistoryClient["follow"]>().returns.toEqualTypeOf<AsyncIterable<Said>>();
    expectTypeOf<HistoryClient["recent"]>().parameter(1).toEqualTypeOf<CallOptions | undefined>();
    expectTypeOf<HistoryClient["close"]>().returns.toEqualTypeOf<Promise<void>>();
    expectTypeOf<HistoryClient>().toMatchTypeOf<AsyncDisposable>();
    // An rpc named Close leaves the client's close() alone.
    expectTypeOf<OracleClient["close$"]>().returns.toEqualTypeOf<Promise<AskReply>>();
    expectTypeOf<OracleClient["close"]>().returns.toEqualTypeOf<Promise<void>>();
    const call = (rpc: RpcClient) => {
      expectTypeOf(rpc.unary(History.method.recent, { room: "r" })).toEqualTypeOf<Promise<HistoryReply>>();
      // @ts-expect-error: follow is server-streaming
      void rpc.unary(History.method.follow, {});
      // @ts-expect-error: recent is unary
      void rpc.serverStream(History.method.recent, {});
      // @ts-expect-error: Say is unary, not a client stream
      void rpc.clientStream(Echo.method.say, (async function* () {})());
      expectTypeOf(rpc.bidiStream(Echo.method.chat, (async function* () {})())).toEqualTypeOf<AsyncGenerator<EchoReply, void, undefined>>();
    };
    expectTypeOf(call).toBeFunction();
  });
});

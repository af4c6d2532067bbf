import { type FileRegistry, type MessageInitShape, create, createFileRegistry, fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import type { ServerReflectionRequestSchema, ServerReflectionResponse } from "../gen/grpc/reflection/v1/reflection_pb.js";
import { RpcClient, type RpcClientOptions } from "../rpc/client.js";
import { RpcError, fromStatusCode } from "../rpc/status.js";
import type { Transport } from "../rpc/transport.js";
import type { CallOptions } from "../rpc/types.js";
import { ServerReflection } from "./reflection-service.js";

type Question = MessageInitShape<typeof ServerReflectionRequestSchema>["messageRequest"];

/**
 * Asks a server what it hosts, over gRPC's server reflection (`grpc.reflection.v1`), which
 * every RpcServer, `serve()` host and Broker answers: the full names of its services, and the
 * descriptors of the file that declares a symbol, with every file it imports, as a registry
 * that resolves its services, methods and messages. A question the server has no answer for
 * rejects with its {@link RpcError} (`NOT_FOUND`); a server without reflection, with
 * `UNIMPLEMENTED`.
 *
 * ```ts
 * const reflection = new ReflectionClient(directTransport("tcp://localhost:5123"));
 * const types = await reflection.fileContainingSymbol("chat.v1.History", { timeoutMs: 1000 });
 * const recent = types.getService("chat.v1.History")?.methods[0];
 * ```
 */
export class ReflectionClient {
  readonly #client: RpcClient;

  /** Calls over `transport` (directTransport to a server or a broker's frontend), with `options`' interceptors. */
  constructor(transport: Transport, options: RpcClientOptions = {}) {
    this.#client = new RpcClient(transport, options);
  }

  /** The full names of the services the server hosts, the built-in ones included. */
  async listServices(options: CallOptions = {}): Promise<string[]> {
    const answer = await this.#ask({ case: "listServices", value: "" }, options);
    if (answer.case !== "listServicesResponse") throw unexpected(answer.case);
    return answer.value.service.map((service) => service.name);
  }

  /**
   * The file that declares `symbol` (a service, method, message, enum or extension by its full
   * name) and every file it imports, as a registry of the types they declare.
   */
  async fileContainingSymbol(symbol: string, options: CallOptions = {}): Promise<FileRegistry> {
    const answer = await this.#ask({ case: "fileContainingSymbol", value: symbol }, options);
    if (answer.case !== "fileDescriptorResponse") throw unexpected(answer.case);
    const files = answer.value.fileDescriptorProto.map((bytes) => fromBinary(FileDescriptorProtoSchema, bytes));
    try {
      return createFileRegistry(create(FileDescriptorSetSchema, { file: files }));
    } catch (error) {
      throw new RpcError("INTERNAL", `the server's descriptors for ${symbol} do not make a whole set of files: ${(error as Error).message}`, { cause: error });
    }
  }

  /** One question on a stream of its own, and its answer; an `error_response` rejects. */
  async #ask(question: Question, options: CallOptions): Promise<ServerReflectionResponse["messageResponse"]> {
    let answer: ServerReflectionResponse["messageResponse"] | undefined;
    const questions = (async function* () {
      yield { messageRequest: question };
    })();
    for await (const response of this.#client.bidiStream(ServerReflection.method.serverReflectionInfo, questions, options)) answer = response.messageResponse;
    if (!answer) throw new RpcError("INTERNAL", "the server ended its reflection stream without an answer");
    if (answer.case === "errorResponse") {
      const code = fromStatusCode(answer.value.errorCode);
      throw new RpcError(code === "OK" ? "UNKNOWN" : code, answer.value.errorMessage);
    }
    return answer;
  }

  /** Ends this client: its calls in flight fail with `CANCELLED`; the transport stays open: whoever made it closes it. */
  close(): Promise<void> {
    return this.#client.close();
  }

  /** `await using reflection = ...` closes it at the end of the scope; see {@link close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

const unexpected = (what: string | undefined) => new RpcError("INTERNAL", `the server answered a reflection question with ${what ?? "nothing"}`);

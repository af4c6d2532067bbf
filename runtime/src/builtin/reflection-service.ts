/**
 * The reflection service every server hosts beside the application's: gRPC's server reflection
 * (proto/grpc/reflection/v1/reflection.proto), answered from the descriptors of the services it
 * hosts, so that a tool can call them without their .proto files.
 * @module
 */
import { type DescFile, type DescService, type MessageInitShape, type Registry, createRegistry, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { ServerReflection, type ServerReflectionRequest, type ServerReflectionResponseSchema } from "../gen/grpc/reflection/v1/reflection_pb.js";
import type { RpcCode } from "../errors.js";
import { toStatusCode } from "../rpc/status.js";
import type { ServiceImpl } from "../rpc/types.js";

export { ServerReflection };

/** What reflection reads of its server (its CallDispatcher): the services hosted, the built-in ones included. */
export interface ReflectionSource {
  readonly descriptors: readonly DescService[];
}

/** `files` and every file they import, directly or not, each once, a file's imports before it. */
export function withImports(files: Iterable<DescFile>): DescFile[] {
  const ordered = new Map<string, DescFile>();
  const visit = (file: DescFile) => {
    if (ordered.has(file.name)) return;
    for (const imported of file.dependencies) visit(imported);
    ordered.set(file.name, file);
  };
  for (const file of files) visit(file);
  return [...ordered.values()];
}

/** What the answers are read from: the files of the hosted services with their imports, and every type in them. */
interface Described {
  services: readonly DescService[];
  files: ReadonlyMap<string, DescFile>;
  types: Registry;
}

function describe(source: ReflectionSource): Described {
  const services = source.descriptors;
  const files = withImports(services.map((service) => service.file));
  return { services, files: new Map(files.map((file) => [file.proto.name, file])), types: createRegistry(...files) };
}

/** The file that declares `symbol`: a type's full name, or a method's, field's or enum value's (`package.Parent.member`). */
function fileOf(types: Registry, symbol: string): DescFile | undefined {
  const desc = types.get(symbol);
  if (desc) return desc.file;
  const dot = symbol.lastIndexOf(".");
  const parent = dot > 0 ? types.get(symbol.slice(0, dot)) : undefined;
  const member = symbol.slice(dot + 1);
  switch (parent?.kind) {
    case "service":
      return parent.methods.some((method) => method.name === member) ? parent.file : undefined;
    case "message":
      return parent.fields.some((field) => field.name === member) || parent.oneofs.some((oneof) => oneof.name === member) ? parent.file : undefined;
    case "enum":
      return parent.values.some((value) => value.name === member) ? parent.file : undefined;
    default:
      return undefined;
  }
}

type Answer = NonNullable<MessageInitShape<typeof ServerReflectionResponseSchema>["messageResponse"]>;

function fileAnswer(file: DescFile | undefined, what: string): Answer {
  if (!file) return errorAnswer("NOT_FOUND", `this server hosts no ${what}`);
  return {
    case: "fileDescriptorResponse",
    value: { fileDescriptorProto: withImports([file]).map((each) => toBinary(FileDescriptorProtoSchema, each.proto)) },
  };
}

function errorAnswer(code: RpcCode, message: string): Answer {
  return { case: "errorResponse", value: { errorCode: toStatusCode(code), errorMessage: message } };
}

/** The answer to one question, as gRPC's servers give it: a question without an answer gets an `error_response`, the stream goes on. */
function answer({ files, services, types }: Described, question: ServerReflectionRequest["messageRequest"]): Answer {
  switch (question.case) {
    case "fileByFilename":
      return fileAnswer(files.get(question.value), `file ${JSON.stringify(question.value)}`);
    case "fileContainingSymbol":
      return fileAnswer(fileOf(types, question.value), `symbol ${JSON.stringify(question.value)}`);
    case "fileContainingExtension": {
      const { containingType, extensionNumber } = question.value;
      const extendee = types.getMessage(containingType);
      const extension = extendee && types.getExtensionFor(extendee, extensionNumber);
      return fileAnswer(extension?.file, `extension ${extensionNumber} of ${JSON.stringify(containingType)}`);
    }
    case "allExtensionNumbersOfType": {
      if (!types.getMessage(question.value)) return errorAnswer("NOT_FOUND", `this server hosts no message type ${JSON.stringify(question.value)}`);
      const numbers = [...types].flatMap((desc) => (desc.kind === "extension" && desc.extendee.typeName === question.value ? [desc.number] : []));
      return { case: "allExtensionNumbersResponse", value: { baseTypeName: question.value, extensionNumber: numbers } };
    }
    case "listServices":
      return { case: "listServicesResponse", value: { service: services.map((service) => ({ name: service.typeName })) } };
    default:
      return errorAnswer("INVALID_ARGUMENT", "the request asks nothing: set one of file_by_filename, file_containing_symbol, file_containing_extension, all_extension_numbers_of_type, list_services");
  }
}

/** `grpc.reflection.v1.ServerReflection` answered from the services `source` hosts at the time of each question. */
export function reflectionService(source: ReflectionSource): ServiceImpl<typeof ServerReflection> {
  return {
    async *serverReflectionInfo(requests) {
      for await (const request of requests) {
        yield { originalRequest: request, messageResponse: answer(describe(source), request.messageRequest) };
      }
    },
  };
}

import { type FileRegistry, createFileRegistry, fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { PUBLISHER_SERVICE, SCHEMAS_KEY } from "../registry/publishing.js";
import { UsageError } from "./command.js";
import { askRegistry } from "./instances.js";

/**
 * The schemas the publisher at `endpoint` registered with the registry (`announcePublisher`):
 * what `dividere tap` knows of the types when it is given no --proto but a --registry.
 */
export async function announcedTypes(registry: string, endpoint: string, timeoutMs: number): Promise<FileRegistry> {
  const publishers = await askRegistry(registry, timeoutMs, (client) => client.lookup(PUBLISHER_SERVICE));
  const entry = publishers.find((instance) => instance.endpoint === endpoint);
  if (!entry) {
    const known = publishers.map((instance) => instance.endpoint).join(", ") || "none";
    throw new UsageError(`no publisher at ${endpoint} is registered at ${registry} (registered publishers: ${known}); give the endpoint it registered, or pass --proto DIR`);
  }
  const schemas = entry.metadata[SCHEMAS_KEY];
  if (!schemas) throw new UsageError(`the publisher at ${endpoint} registered no schemas; pass --proto DIR`);
  return createFileRegistry(fromBinary(FileDescriptorSetSchema, Buffer.from(schemas, "base64")));
}

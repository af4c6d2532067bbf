/**
 * The wire format shared with Python dividere: every message travels as a `msgEnvelope`
 * (`msgName` + `google.protobuf.Any`) in one ZeroMQ frame.
 * @module
 */
export { EnvelopeCodec, encodeEnvelope, parseEnvelope, type EnvelopeParts } from "./codec.js";
export { TypeRegistry, type MessageOf, type SchemaOf, type TypeSource, type Types } from "./types.js";
export { envelopeTopic } from "./wire.js";

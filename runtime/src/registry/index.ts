/**
 * The name service and service hosting, the successors of Python dividere's `registry` and
 * `service` modules.
 * @module
 */
export { RegistryClient, type RegistryClientOptions } from "./client.js";
export type { RegistryEndpoints, RegistryRequestOptions } from "./protocol.js";
export { REGISTRY_PORT, REGISTRY_PUBLISH_PORT, REGISTRY_WATCH_PORT } from "./defaults.js";
export { ServiceHost, serve, type ServeOptions, type WaitForRegistrationOptions } from "./hosting.js";
export { PUBLISHER_SERVICE, PublisherAnnouncement, announcePublisher, type Announceable, type AnnounceOptions } from "./publishing.js";
export {
  RegistryServer,
  registryTypes,
  type RegistryRequestKind,
  type RegistryServerOptions,
  type RegistryServerStats,
} from "./server.js";
export type { RegistryStore } from "./store.js";
export { MemoryStore, type MemoryStoreOptions } from "./memory-store.js";
export { DEFAULT_ETCD_PREFIX, EtcdStore, type EtcdStoreOptions } from "./etcd-store.js";
export { registryTransport, type RegistryTransportOptions } from "./transport.js";

import { Health as HealthService, HealthCheckResponse_ServingStatus as WireStatus } from "../gen/grpc/health/v1/health_pb.js";
import { RpcError } from "../rpc/status.js";
import type { ServiceImpl } from "../rpc/types.js";
import type { Health, ServingStatus } from "./health.js";

export { HealthService };

/** A status as `grpc.health.v1` numbers it, and back. */
export function toWireStatus(status: ServingStatus): WireStatus {
  return WireStatus[status];
}

/** The status a `grpc.health.v1` answer carries; `UNKNOWN` (0: a peer that set none) reads as `SERVICE_UNKNOWN`. */
export function fromWireStatus(status: WireStatus): ServingStatus {
  return status === WireStatus.SERVING ? "SERVING" : status === WireStatus.NOT_SERVING ? "NOT_SERVING" : "SERVICE_UNKNOWN";
}

/**
 * `grpc.health.v1.Health` answered from `health`, as gRPC answers it: Check fails with
 * `NOT_FOUND` for a service it does not know; Watch sends the status now and each change, and
 * reports an unknown service as `SERVICE_UNKNOWN` without ending (it may become known).
 */
export function healthService(health: Health): ServiceImpl<typeof HealthService> {
  return {
    check({ service }) {
      const status = health.check(service);
      if (status === "SERVICE_UNKNOWN") {
        const known = [...health.list().keys()].map((name) => JSON.stringify(name)).join(", ");
        throw new RpcError("NOT_FOUND", `no service ${JSON.stringify(service)} here (its health is known for ${known}); "" asks about the server as a whole`);
      }
      return { status: toWireStatus(status) };
    },
    list() {
      const statuses: Record<string, { status: WireStatus }> = {};
      for (const [service, status] of health.list()) statuses[service] = { status: toWireStatus(status) };
      return { statuses };
    },
    async *watch({ service }, ctx) {
      for await (const status of health.watch(service, ctx.signal)) yield { status: toWireStatus(status) };
    },
  };
}

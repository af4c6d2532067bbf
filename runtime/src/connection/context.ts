import { readFileSync, readdirSync } from "node:fs";
import * as zmq from "zeromq";
import { DividereError } from "../errors.js";

/**
 * ZeroMQ's sockets per process (ZMQ_MAX_SOCKETS), raised when the runtime loads.
 *
 * ZeroMQ allows 1023 sockets per context unless told otherwise before the context's first
 * socket, and every runtime socket takes three (the socket, and the two PAIR sockets of the
 * monitor its events come from): 1023 would stop a process at 341 connections. The runtime
 * raises the limit to ZeroMQ's cap (`context.maxSocketsLimit`, 65535 with epoll), which costs a
 * few bytes per slot, so that the operating system's limit of open files is the one a process
 * meets. `DIVIDERE_MAX_SOCKETS` sets another number; a program that sets `context.maxSockets`
 * itself before the runtime loads keeps its own.
 */
export const MAX_SOCKETS_ENV = "DIVIDERE_MAX_SOCKETS";

/** Native ZeroMQ sockets behind one runtime socket: itself and its monitor's two PAIR sockets. */
export const NATIVE_SOCKETS_PER_SOCKET = 3;

/** ZeroMQ's own default of ZMQ_MAX_SOCKETS. */
const ZMQ_DEFAULT_MAX_SOCKETS = 1023;

let open = 0;

function raiseSocketLimit(): void {
  const { context } = zmq;
  const wanted = process.env[MAX_SOCKETS_ENV];
  if (wanted === undefined && context.maxSockets !== ZMQ_DEFAULT_MAX_SOCKETS) return;
  let limit = context.maxSocketsLimit;
  if (wanted !== undefined) {
    const asked = Number(wanted);
    if (Number.isInteger(asked) && asked >= 1 && asked <= context.maxSocketsLimit) limit = asked;
    else console.error(`dividere: ${MAX_SOCKETS_ENV}=${wanted} is not a whole number from 1 to ${context.maxSocketsLimit}; using ${limit}`);
  }
  context.maxSockets = limit;
}
raiseSocketLimit();

/** Counts the native sockets of one more open runtime socket; returns the count's release. */
export function countOpenSocket(): () => void {
  open += NATIVE_SOCKETS_PER_SOCKET;
  let released = false;
  return () => {
    if (!released) open -= NATIVE_SOCKETS_PER_SOCKET;
    released = true;
  };
}

/**
 * Runs `open` (a native socket or its monitor being made); an EMFILE from it becomes an error
 * that says which of the two limits it can be, and how to raise each.
 */
export function openNative<T>(name: string, open: () => T): T {
  try {
    return open();
  } catch (error) {
    if ((error as { code?: string }).code === "EMFILE") throw tooManySockets(name, error);
    throw error;
  }
}

function tooManySockets(name: string, cause: unknown): DividereError {
  const max = zmq.context.maxSockets;
  const files = openFiles();
  const zeromq =
    `ZeroMQ's limit of sockets in this process, ${max} (context.maxSockets, ZMQ_MAX_SOCKETS; this process's runtime sockets hold about ${open}, ` +
    `${NATIVE_SOCKETS_PER_SOCKET} each): set ${MAX_SOCKETS_ENV} (up to ${zmq.context.maxSocketsLimit}) in the environment, or context.maxSockets before the first socket opens`;
  const os =
    `the operating system's limit of open files${files ? `, ${files.limit} (${files.open} open now)` : ""} (each connection takes a file descriptor, each socket another): ` +
    "raise the hard limit (ulimit -Hn, systemd LimitNOFILE, docker --ulimit nofile; Node raises its soft limit to the hard one)";
  const likely = files && files.open >= files.limit - NATIVE_SOCKETS_PER_SOCKET ? [os, zeromq] : [zeromq, os];
  return new DividereError("RESOURCE_EXHAUSTED", `${name}: cannot open another ZeroMQ socket (EMFILE). The limit reached is ${likely[0]}; or else ${likely[1]}.`, {
    cause,
  });
}

/** This process's open file descriptors and their limit, where the system tells (Linux /proc). */
function openFiles(): { open: number; limit: number } | undefined {
  try {
    const limit = /^Max open files\s+(\d+)/m.exec(readFileSync("/proc/self/limits", "utf8"))?.[1];
    return limit === undefined ? undefined : { open: readdirSync("/proc/self/fd").length, limit: Number(limit) };
  } catch {
    return undefined;
  }
}

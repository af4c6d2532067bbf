import { readFileSync, readdirSync } from "node:fs";
import * as zmq from "zeromq";
import { DividereError } from "../errors.js";

const MAX_SOCKETS_ENV = "DIVIDERE_MAX_SOCKETS";

/** Native ZeroMQ sockets behind one runtime socket: itself and its monitor's two PAIR sockets. */
const NATIVE_SOCKETS_PER_SOCKET = 3;

/** ZeroMQ's own default of ZMQ_MAX_SOCKETS. */
const ZMQ_DEFAULT_MAX_SOCKETS = 1023;

/** Native sockets of the runtime's sockets open now, for the error that says which limit was met. */
let open = 0;

/**
 * Raises ZeroMQ's sockets per process (ZMQ_MAX_SOCKETS) when the runtime loads, before any
 * socket: ZeroMQ takes it only then. It allows 1023 unless told otherwise, and every runtime
 * socket takes three: 1023 would stop a process at 341 connections. The runtime asks for
 * ZeroMQ's cap (`context.maxSocketsLimit`, 65535 with epoll), which costs a few bytes per slot,
 * so that the operating system's limit of open files is the one a process meets.
 * `DIVIDERE_MAX_SOCKETS` sets another number; a program that set `context.maxSockets` itself
 * before the runtime loaded keeps its own.
 */
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

/** Counts the native sockets of one more open runtime socket; returns the release, to run once. */
export function countOpenSocket(): () => void {
  open += NATIVE_SOCKETS_PER_SOCKET;
  return () => void (open -= NATIVE_SOCKETS_PER_SOCKET);
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

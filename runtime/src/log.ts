import { debuglog } from "node:util";

/**
 * Debug logging of the whole runtime: socket events, dropped input, lifecycle.
 * Turn it on with `NODE_DEBUG=dividere`.
 */
export const debug = debuglog("dividere");

import { fromEnv } from "../connection/curve.js";
import type { SocketOptions } from "../connection/options.js";

/** The paragraph of every command's usage on CURVE, which the commands take from the environment. */
export const SECURITY_USAGE = `CurveZMQ: the keys come from the environment, never the command line (see "dividere keygen --help"):
  DIVIDERE_CURVE_CERT=FILE          this side's .key_secret (or DIVIDERE_CURVE_SECRET_KEY=Z85)
  DIVIDERE_CURVE_SERVER_KEY=FILE    the server's .key or Z85 key: this side is its client
  DIVIDERE_CURVE_ALLOW=LIST         a server's allowed clients: Z85 keys, .key files, folders`;

/** The `curve` socket option the environment gives, if any. */
export function curveFromEnvironment(): Pick<SocketOptions, "curve"> {
  const curve = fromEnv();
  return curve ? { curve } : {};
}

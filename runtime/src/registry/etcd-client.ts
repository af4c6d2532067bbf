import { DividereError } from "../errors.js";

/*
 * The etcd client, loaded when a registry on etcd needs it. A module of its own, which nothing
 * the package exports imports: its declarations name etcd3's types, and a project without
 * etcd3 (an optional peer dependency) that checks the package's declarations never reads them.
 */

/** etcd3 is an optional peer dependency: only a registry on etcd loads it. Rejects with what to install when it is missing. */
export async function importEtcd3(): Promise<typeof import("etcd3")> {
  try {
    return await import("etcd3");
  } catch (error) {
    throw new DividereError("INVALID_ARGUMENT", "a registry on etcd needs the etcd3 package: npm install etcd3", { cause: error });
  }
}

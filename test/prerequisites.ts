import { execFileSync } from "node:child_process";

/**
 * Programs some tests need beyond Node: a Python with pyzmq and protobuf (the Python peer) and
 * protoc (the peer's modules, and the plugin run from protoc). Where one is missing, the tests
 * that need it are skipped and the run ends with one line naming them; under CI (`CI=true`) a
 * missing one fails the run instead (test/global-setup.ts).
 *
 * DIVIDERE_TEST_PYTHON and DIVIDERE_TEST_PROTOC name the programs to use instead of looking for
 * them, which is also how a run without them is simulated: point them at a path that does not exist.
 */
export interface Prerequisite {
  /** What is missing, in a user's words. */
  readonly what: string;
  /** The tests that are skipped without it. */
  readonly tests: string;
  /** How to get it. */
  readonly install: string;
  /** The program to run, or undefined where none works. */
  readonly program: string | undefined;
}

const DEBIAN_PACKAGES = "apt-get install -y python3-zmq python3-protobuf protobuf-compiler";

function firstThatRuns(candidates: readonly string[], args: readonly string[]): string | undefined {
  for (const candidate of candidates) {
    try {
      execFileSync(candidate, args, { stdio: "ignore" });
      return candidate;
    } catch {
      // try the next one
    }
  }
  return undefined;
}

function candidates(variable: string, defaults: readonly string[]): readonly string[] {
  const given = process.env[variable];
  return given ? [given] : defaults;
}

/** protoc, which generates the Python peer's modules and runs the plugin in test/plugin.test.ts. */
export const protoc: Prerequisite = {
  what: "protoc",
  tests: 'test/plugin.test.ts "runs from protoc --plugin"',
  install: `${DEBIAN_PACKAGES} (or set DIVIDERE_TEST_PROTOC to a protoc)`,
  program: firstThatRuns(candidates("DIVIDERE_TEST_PROTOC", ["protoc"]), ["--version"]),
};

// Debian's pyzmq and protobuf live beside /usr/bin/python3, not in a pyenv that may come first on PATH.
const python3 = firstThatRuns(candidates("DIVIDERE_TEST_PYTHON", ["/usr/bin/python3", "python3"]), ["-c", "import zmq, google.protobuf"]);

/** A Python with pyzmq and protobuf, and protoc for its modules: the Python peer. */
export const pyzmq: Prerequisite = {
  what: python3 ? "protoc (for the Python peer's modules)" : "a python3 with pyzmq and protobuf",
  tests: 'test/interop-python.test.ts and test/security.test.ts "with Python peers", and test/registry-etcd.test.ts "a Python peer"',
  install: `${DEBIAN_PACKAGES} (or set DIVIDERE_TEST_PYTHON to such a python3)`,
  program: protoc.program ? python3 : undefined,
};

/** etcd, Debian 12's etcd-server 3.4: the registry's records on etcd (test/etcd.ts starts clusters of it). */
export const etcd: Prerequisite = {
  what: "etcd",
  tests: "test/registry-etcd.test.ts",
  install: "apt-get install -y etcd-server (or set DIVIDERE_TEST_ETCD to an etcd 3.4 or later)",
  program: firstThatRuns(candidates("DIVIDERE_TEST_ETCD", ["etcd", "/usr/bin/etcd"]), ["--version"]),
};

/** The prerequisites this machine lacks. */
export function missingPrerequisites(): Prerequisite[] {
  return [pyzmq, protoc, etcd].filter((prerequisite) => prerequisite.program === undefined);
}

/** The one line a run prints for what it skipped. */
export function skippedLine(missing: readonly Prerequisite[]): string {
  return `skipped for want of ${missing.map((m) => `${m.what}: ${m.tests}; to run them, ${m.install}`).join(". Skipped for want of ")}.`;
}

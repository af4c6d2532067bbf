import type { DescFile, DescMessage } from "@bufbuild/protobuf";

/*
 * Which messages of a file are events: every message but those an rpc of the same file takes
 * or returns, which are the service's requests and replies. A message that is both (a reply
 * streamed to callers and also published) is an event only when the `event=` option names it.
 * Only the file's own rpcs count, so that each file's output depends on the file alone, as
 * buf runs the plugin per directory.
 */

/** The full names of the messages of `file` that an rpc of `file` takes or returns. */
export function rpcMessagesOf(file: DescFile): Set<string> {
  const names = new Set<string>();
  for (const method of file.services.flatMap((service) => service.methods)) {
    for (const message of [method.input, method.output]) if (message.file === file) names.add(message.typeName);
  }
  return names;
}

/** Whether `message` is an event: a topic, a publisher method and a handler. */
export function isEvent(message: DescMessage, rpcMessages: ReadonlySet<string>, events: ReadonlySet<string>): boolean {
  return !rpcMessages.has(message.typeName) || events.has(message.typeName);
}

/**
 * Fails for an `event=` name that belongs to a package being generated but names no message
 * of it: a typo. A name of another package may be for another run of the plugin (buf runs it
 * once per directory, with the same options).
 */
export function checkEvents(events: ReadonlySet<string>, generated: readonly DescFile[], all: readonly DescFile[]): void {
  const known = new Set<string>();
  const visit = (messages: readonly DescMessage[]) => {
    for (const message of messages) {
      known.add(message.typeName);
      visit(message.nestedMessages);
    }
  };
  for (const file of all) visit(file.messages);
  for (const name of events) {
    if (known.has(name)) continue;
    const files = generated.filter((file) => (file.proto.package === "" ? !name.includes(".") : name.startsWith(`${file.proto.package}.`)));
    if (files.length === 0) continue;
    const rpcMessages = [...new Set(files.flatMap((file) => [...rpcMessagesOf(file)]))];
    throw new Error(
      `invalid option "event=${name}": no message ${name} in ${files.map((file) => file.name + ".proto").join(", ")}; ` +
        (rpcMessages.length > 0 ? `the messages its rpcs take and return are ${rpcMessages.join(", ")}` : "it has no rpcs, so every message is an event already"),
    );
  }
}

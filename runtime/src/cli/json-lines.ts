import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import { type DescMessage, type MessageShape, type Registry, fromJsonString } from "@bufbuild/protobuf";
import { UsageError } from "./command.js";

/**
 * The messages of `input` given as JSON lines (one message a line, protobuf's JSON form; blank
 * lines skipped), each yielded as soon as its line ends, so a stream's requests go out while
 * the input is still being written. A line that is not the message stops the iteration with
 * a {@link UsageError} naming the line, kept in {@link failure} too: a call that ends because
 * its requests threw reports its own error, and the command wants to report the line.
 */
export class JsonLines<Desc extends DescMessage> implements AsyncIterable<MessageShape<Desc>> {
  /** Why the input stopped early, if a line was not the message. */
  failure: UsageError | undefined;

  constructor(
    readonly schema: Desc,
    readonly input: Readable,
    readonly registry: Registry,
    readonly inputName = "standard input",
  ) {}

  async *[Symbol.asyncIterator](): AsyncGenerator<MessageShape<Desc>, void, undefined> {
    const lines = createInterface({ input: this.input, crlfDelay: Infinity, terminal: false });
    let number = 0;
    try {
      for await (const line of lines) {
        number++;
        if (line.trim() === "") continue;
        let message: MessageShape<Desc>;
        try {
          message = fromJsonString(this.schema, line, { registry: this.registry });
        } catch (error) {
          this.failure = new UsageError(`line ${number} of ${this.inputName} is not a ${this.schema.typeName}: ${(error as Error).message}`);
          throw this.failure;
        }
        yield message;
      }
    } finally {
      lines.close();
    }
  }
}

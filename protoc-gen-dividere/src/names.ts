import type { DescFile, DescMessage } from "@bufbuild/protobuf";

/** `chat/v1/chat_room.proto` → `ChatRoom`: the stem of file-level names. */
export function fileStem(file: DescFile): string {
  const base = file.name.split("/").pop() ?? file.name;
  const words = base.split(/[^A-Za-z0-9]+/).filter(Boolean);
  const stem = words.map((word) => word[0]!.toUpperCase() + word.slice(1)).join("");
  return /^[A-Za-z]/.test(stem) ? stem : `Proto${stem}`;
}

/** `ChatRoom` → `chatRoom`. */
export function lowerFirst(name: string): string {
  return name[0]!.toLowerCase() + name.slice(1);
}

/** `testMsg01` → `TestMsg01`. */
export function upperFirst(name: string): string {
  return name[0]!.toUpperCase() + name.slice(1);
}

/**
 * The name a message goes by in generated identifiers: its proto name, with the names of
 * enclosing messages in front for nested ones (`Outer_Inner`), as protoc-gen-es names them.
 */
export function messageStem(message: DescMessage): string {
  const parts = [message.name];
  for (let parent = message.parent; parent; parent = parent.parent) parts.unshift(parent.name);
  return parts.join("_");
}

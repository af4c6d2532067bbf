// Reading code out of markdown: the docs test and the first-contact check both take what they run
// from the README and the docs, so that the documentation is the one copy.

/**
 * The fenced code blocks of a markdown text: info string, first code line (1-based) and code.
 * @param {string} markdown
 * @returns {{ info: string; line: number; code: string }[]}
 */
export function fencedBlocks(markdown) {
  const blocks = [];
  const lines = markdown.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const open = /^( *)(`{3,}|~{3,})\s*(.*)$/.exec(lines[i]);
    if (!open) continue;
    const [, indent, fence, info] = open;
    const body = [];
    let j = i + 1;
    for (; j < lines.length; j++) {
      const line = lines[j];
      if (line.trimStart().startsWith(fence) && line.trim().replace(/^[`~]+/, "") === "") break;
      body.push(line.startsWith(indent) ? line.slice(indent.length) : line.trimStart());
    }
    blocks.push({ info: info.trim(), line: i + 2, code: body.join("\n") + "\n" });
    i = j;
  }
  return blocks;
}

/**
 * The text under a `## heading`, up to the next heading of the same level, with the line (1-based)
 * the heading is on; `undefined` when there is no such heading.
 * @param {string} markdown
 * @param {string} heading e.g. `## Your own project`
 * @returns {{ line: number; text: string } | undefined}
 */
export function section(markdown, heading) {
  const lines = markdown.split("\n");
  const ends = new RegExp(`^#{1,${/^#+/.exec(heading)[0].length}} `);
  let fence = "";
  let start = -1;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    // A `# comment` inside a code block is no heading.
    const marker = /^ *(`{3,}|~{3,})/.exec(line)?.[1];
    if (marker && (!fence || marker.startsWith(fence))) fence = fence ? "" : marker;
    if (fence || marker) continue;
    if (start < 0 && line.trimEnd() === heading) start = i;
    else if (start >= 0 && ends.test(line)) return { line: start + 1, text: lines.slice(start, i).join("\n") };
  }
  return start < 0 ? undefined : { line: start + 1, text: lines.slice(start).join("\n") };
}

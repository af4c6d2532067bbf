/** The fenced code blocks of a markdown text: info string, first code line (1-based) and code. */
export function fencedBlocks(markdown: string): { info: string; line: number; code: string }[];

/** The text under a `## heading`, up to the next heading of its level or above; `undefined` when there is none. */
export function section(markdown: string, heading: string): { line: number; text: string } | undefined;

import { missingPrerequisites, skippedLine } from "./prerequisites.js";

/**
 * Names once what a run skips for want of a program beyond Node (test/prerequisites.ts), and
 * under CI fails instead: CI installs them, so one missing there is a broken CI, not a skip.
 */
export function setup(): void {
  const missing = missingPrerequisites();
  if (missing.length === 0) return;
  if (process.env.CI === "true") throw new Error(`CI=true, and nothing may be skipped: ${skippedLine(missing)}`);
}

export function teardown(): void {
  const missing = missingPrerequisites();
  if (missing.length > 0) console.log(`\n${skippedLine(missing)}`);
}

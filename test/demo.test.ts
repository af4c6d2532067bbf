import { fileURLToPath } from "node:url";
import { expect, test } from "vitest";
import { runNode } from "./helpers.js";

const demo = fileURLToPath(new URL("../example-app/dist/demo.js", import.meta.url));

test("the demo (npm run demo) runs the greenhouse end to end, tells its story, stops every process and exits 0", async () => {
  const { code, stdout, stderr } = await runNode(demo, 60_000);
  expect(stderr).toBe("");
  expect(code).toBe(0);
  const story = [
    /\[registry\] +dividere registry: requests at tcp:\/\/127\.0\.0\.1:\d+/,
    /\[broker\] +dividere broker: callers at tcp:\/\/127\.0\.0\.1:\d+, workers at/,
    /\[monitor\] +greenhouse\.v1\.Monitor answers at .*, registered at/,
    /\[lookup\] +\{"service":"greenhouse\.v1\.Monitor",.*"metadata":\{"readings":"tcp:.*","alerts":"tcp:/,
    /the broker has 2 workers for greenhouse\.v1\.Forecaster/,
    /bed-1 +20 +20\.5 +21\.5 +55 % +0/,
    /bed-2 +20 +24\.6 +31\.2 +60 % +1/,
    /bed-3 +20 +23\.0 +23\.0 +39 % +1/,
    /bed-2: 24\.3 °C → 23\.6 °C → 22\.8 °C → 22\.1 °C → 21\.4 °C +\(by forecaster-[12]\)/,
    /\$ dividere services --registry tcp:\/\/127\.0\.0\.1:\d+\n +\[services\] +SERVICE +INSTANCE +ENDPOINT +HEALTH\n/,
    /\[services\] +greenhouse\.v1\.Monitor +\S+ +tcp:\/\/127\.0\.0\.1:\d+ +SERVING\n/,
    /\[monitor\] +stopped after 60 readings; unregistered/,
    /\[broker\] +dividere broker: stopped after answering \d+ calls/,
    /\[registry\] +dividere registry: stopped/,
    /demo finished: 60 readings, 2 alerts, 3 forecasts; every process exited 0\./,
  ];
  let rest = stdout;
  for (const line of story) {
    const found = line.exec(rest);
    expect(found, `the story goes on with ${line}`).not.toBeNull();
    rest = rest.slice(found!.index + found![0].length);
  }
  // Alerts come from processes running side by side: each is there, in whatever order.
  for (const alert of [
    /\[monitor\] +bed-2 is too hot: 30\.6 °C, 60 % \(reading 11\)/,
    /dashboard: ALERT bed-2 is too hot \(30\.6 °C, 60 %\)/,
    /dashboard: ALERT bed-2 is fine again \(29\.6 °C, 60 %\)/,
    /dashboard: ALERT bed-3 is too dry \(23 °C, 34 %\)/,
  ]) {
    expect(stdout).toMatch(alert);
  }
  // Both forecasters took calls: the broker spread them.
  expect(stdout).toMatch(/\(by forecaster-1\)/);
  expect(stdout).toMatch(/\(by forecaster-2\)/);
});

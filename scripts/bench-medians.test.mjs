// bench-medians reads bench.sh's ratio lines from several runs and prints
// each one's median, telling apart labels that repeat.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { spawnSync } from "node:child_process";

const script = join(dirname(new URL(import.meta.url).pathname), "bench-medians.mjs");

/** A run's output in bench.sh's layout, with these ratios. */
function run(disk, memory, protectedDisk, protectedMemory) {
  return `
ActionGate benchmark (workerd workerd 2026-11-17, wrk -t2 -c16 -d5s)
  minimal worker (JS, answers itself)   13539.84 req/s   p50   1.02ms   p99 121.81ms

  Track, Durable Objects on local disk
  ActionGate track (DO write)            839.33 req/s   p50  17.95ms   p99  86.07ms
  track / storage floor                    ${disk}   (ActionGate's own cost; target >= 0.80)

  Track, Durable Objects on a memory file system (tmpfs)
  track / storage floor                    ${memory}   (ActionGate's own cost; target >= 0.80)

  Edge proxy (stand-in origin on the same workerd)
  protected ALLOW / pass-through           ${protectedDisk}   (target >= 0.50; disk)
  protected ALLOW / pass-through           ${protectedMemory}   (target >= 0.50; memory fs)
  added p50 latency                     19.10ms   (protected ALLOW p50 minus pass-through p50; memory fs)
`;
}

function medians(...outputs) {
  const dir = mkdtempSync(join(tmpdir(), "medians-"));
  const files = outputs.map((o, i) => {
    const f = join(dir, `run-${i}.txt`);
    writeFileSync(f, o);
    return f;
  });
  return spawnSync(process.execPath, [script, ...files], { encoding: "utf8" });
}

test("each ratio's median over the runs, repeated labels kept apart", () => {
  const r = medians(run("0.94", "0.60", "0.12", "0.20"), run("0.93", "0.77", "0.11", "0.23"), run("0.90", "0.58", "0.13", "0.21"));
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.split("\n");
  const at = (section, label, n = 0) => {
    const s = lines.findIndex((l) => l.trim() === section);
    assert.ok(s >= 0, `${section} in\n${r.stdout}`);
    return lines.slice(s + 1).filter((l) => l.trim().startsWith(label))[n];
  };
  assert.match(at("Track, Durable Objects on local disk", "track / storage floor"), /0\.93 {3}\[0\.94, 0\.93, 0\.90\]/);
  assert.match(at("Track, Durable Objects on a memory file system", "track / storage floor"), /0\.60 {3}\[0\.60, 0\.77, 0\.58\]/);
  assert.match(at("Edge proxy", "protected ALLOW / pass-through", 0), /0\.12 .*disk\)$/);
  assert.match(at("Edge proxy", "protected ALLOW / pass-through", 1), /0\.21 .*memory fs\)$/);
  assert.doesNotMatch(r.stdout, /latency/);
});

test("an even number of runs takes the mean of the middle two", () => {
  const r = medians(run("0.90", "0.50", "0.1", "0.2"), run("0.80", "0.70", "0.1", "0.2"));
  assert.match(r.stdout, /0\.85 {3}\[0\.90, 0\.80\]/);
  assert.match(r.stdout, /0\.60 {3}\[0\.50, 0\.70\]/);
});

test("no ratio lines at all is an error, not an empty table", () => {
  const r = medians("wrk failed\n");
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /no ratio lines/);
});

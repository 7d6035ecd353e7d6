// The median of each ratio over several runs of scripts/bench.sh (RUNS=N
// bash scripts/bench.sh runs it N times and ends with this): a single run
// on a shared machine moves a ratio by up to ±0.1, so a target is judged by
// the median of three or more runs (docs/benchmark.md, "Where issue 22
// ends"). Reads the runs' outputs from the files named on the command line.
// A ratio line is "  <label>   <number>   (<note>)"; its section (the
// preceding heading line) and its place among lines of the same label tell
// apart labels that repeat, e.g. "track / storage floor" on disk and on the
// memory file system.
import { readFileSync } from "node:fs";

const RATIO = /^ {2}(\S.*?)\s{2,}(-?\d+\.\d+)\s{3}\((.*)\)$/;
const HEADING = /^ {2}([A-Z][^0-9]*?)(?: \(.*)?$/;

const runs = process.argv.slice(2).map((f) => {
  const ratios = new Map();
  let section = "";
  for (const line of readFileSync(f, "utf8").split("\n")) {
    const r = RATIO.exec(line);
    if (r) {
      // A label may repeat within a section (disk, then memory fs): the
      // n-th of its name is one figure across runs.
      let n = 0;
      while (ratios.has(`${section}\u0000${r[1]}\u0000${n}`)) n++;
      ratios.set(`${section}\u0000${r[1]}\u0000${n}`, { section, label: r[1], value: Number(r[2]), note: r[3] });
      continue;
    }
    const h = HEADING.exec(line);
    if (h && !/req\/s|µs|ms\b/.test(line)) section = h[1].trim();
  }
  return ratios;
});

if (runs.length === 0 || runs.every((r) => r.size === 0)) {
  console.error("bench-medians: no ratio lines in the given runs");
  process.exit(1);
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

console.log(`\nMedians of ${runs.length} runs (each run's figure in brackets)`);
let section = null;
for (const [key, first] of runs[0]) {
  const values = runs.map((r) => r.get(key)?.value).filter((v) => v !== undefined);
  if (first.section !== section) {
    section = first.section;
    console.log(`  ${section}`);
  }
  const each = values.map((v) => v.toFixed(2)).join(", ");
  console.log(`    ${first.label.padEnd(42)} ${median(values).toFixed(2)}   [${each}]   (${first.note})`);
}

// Prints vitest's JSON results as the plain closing line "N passed, N failed, N skipped".
import { readFileSync } from "node:fs";

const file = process.argv[2];
const results = JSON.parse(readFileSync(file, "utf8"));
const skipped = (results.numPendingTests ?? 0) + (results.numTodoTests ?? 0);
console.log(`tests: ${results.numPassedTests} passed, ${results.numFailedTests} failed, ${skipped} skipped`);
if (results.numTotalTests === 0) {
  console.error("no test ran");
  process.exit(1);
}

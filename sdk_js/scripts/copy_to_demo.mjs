// Copy the built ESM files (dist/*.js) to the server's demo, which serves them at /demo/sdk/, so the browser demo
// runs without npm on the user's machine. The copies are committed; tests/sdk_js checks they match a fresh build.
import { copyFileSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const built = join(root, "dist");
const sources = join(root, "src");
const target = resolve(root, "../server/omnicart_server/demo/static/sdk");
const isModule = (name) => name.endsWith(".js");

mkdirSync(target, { recursive: true });
// One module per source file: a file left in dist/ by a module since renamed is not the SDK's.
const modules = readdirSync(sources)
  .filter((name) => name.endsWith(".ts") && !name.endsWith(".d.ts"))
  .map((name) => name.replace(/\.ts$/, ".js"));
for (const stale of readdirSync(target).filter((name) => isModule(name) && !modules.includes(name))) {
  rmSync(join(target, stale));
}
for (const name of modules) copyFileSync(join(built, name), join(target, name));

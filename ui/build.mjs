// Builds the panel into dist/ (or --outdir DIR): index.html, panel.js (one bundle), panel.css.
// No remote content, no inline scripts or styles: the CSP allows only 'self'.
// --preview builds dev/preview.ts (a fake backend, for a plain browser) into dist-preview/ instead.
import { build } from "esbuild";
import { copyFile, mkdir, rm } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const i = process.argv.indexOf("--outdir");
const preview = process.argv.includes("--preview");
const outdir = resolve(i > 0 ? process.argv[i + 1] : join(here, preview ? "dist-preview" : "dist"));
const dev = preview || process.argv.includes("--dev");

await rm(outdir, { recursive: true, force: true });
await mkdir(outdir, { recursive: true });
await build({
  entryPoints: [join(here, preview ? "dev/preview.ts" : "src/main.ts")],
  outfile: join(outdir, "panel.js"),
  bundle: true,
  format: "esm",
  // WebKitGTK 2.40+ (Linux), WKWebView (macOS 13+), WebView2 (Windows).
  target: preview ? ["es2022"] : ["es2021", "safari15", "chrome100"],
  minify: !dev,
  sourcemap: dev ? "inline" : false,
  legalComments: "none",
  logLevel: "warning",
});
await copyFile(join(here, "static/index.html"), join(outdir, "index.html"));
await copyFile(join(here, "static/panel.css"), join(outdir, "panel.css"));
console.log(`panel built in ${outdir}`);

// The Tauri CLI reads its configuration from the Rust app's folder (src-tauri/),
// while ChatBell keeps its one tauri.conf.json at the repository's root, where
// `cargo build` (src-tauri/build.rs, generate_context!) reads it. This writes the
// same configuration to src-tauri/tauri.conf.json with its file paths made
// relative to src-tauri/, for the CLI only; `./dev package` removes it again.
//
//   node packaging/stage-config.mjs [ROOT]       (ROOT: the repository, default .)
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";

const root = resolve(process.argv[2] ?? ".");
const appDir = join(root, "src-tauri");
const config = JSON.parse(readFileSync(join(root, "tauri.conf.json"), "utf8"));

// Every key of the configuration that names a file or folder.
const PATH_KEYS = [
  "build.frontendDist",
  "bundle.icon",
  "bundle.resources",
  "bundle.licenseFile",
  ...["deb", "rpm"].flatMap((k) =>
    ["preInstallScript", "postInstallScript", "preRemoveScript", "postRemoveScript", "desktopTemplate", "changelog"].map(
      (s) => `bundle.linux.${k}.${s}`,
    ),
  ),
  "bundle.windows.nsis.installerHooks",
  "bundle.windows.nsis.installerIcon",
  "bundle.windows.nsis.headerImage",
  "bundle.windows.nsis.sidebarImage",
  "bundle.windows.nsis.template",
  "bundle.windows.wix.template",
  "bundle.windows.wix.bannerPath",
  "bundle.windows.wix.dialogImagePath",
  "bundle.macOS.entitlements",
  "bundle.macOS.dmg.background",
];

function rebase(path, key) {
  if (/^[a-z]+:\/\//i.test(path)) return path;
  if (!existsSync(join(root, path))) {
    throw new Error(`tauri.conf.json: ${key}: ${path} does not exist`);
  }
  return relative(appDir, join(root, path)).split("\\").join("/");
}

for (const key of PATH_KEYS) {
  const parts = key.split(".");
  const last = parts.pop();
  let obj = config;
  for (const p of parts) obj = obj?.[p];
  const value = obj?.[last];
  if (value === undefined || value === null) continue;
  if (typeof value === "string") obj[last] = rebase(value, key);
  else if (Array.isArray(value)) obj[last] = value.map((v) => rebase(v, key));
  else throw new Error(`tauri.conf.json: ${key}: a file list of this form is not handled here`);
}

writeFileSync(join(appDir, "tauri.conf.json"), JSON.stringify(config, null, 2) + "\n");
console.log(`staged ${relative(root, join(appDir, "tauri.conf.json"))} for the Tauri CLI`);

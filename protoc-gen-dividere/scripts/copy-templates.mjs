// The templates live at the top of the repository, beside runtime/ and protoc-gen-dividere/;
// the build copies them into the package, so that the packed plugin holds them (`files`).
import { cpSync, rmSync } from "node:fs";

const from = new URL("../../templates/", import.meta.url);
const to = new URL("../templates/", import.meta.url);
rmSync(to, { recursive: true, force: true }); // a template removed up there goes here too
cpSync(from, to, { recursive: true });

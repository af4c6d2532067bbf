import { runNodeJs } from "@bufbuild/protoplugin";
import { protocGenDividere } from "./plugin.js";

runNodeJs(protocGenDividere);

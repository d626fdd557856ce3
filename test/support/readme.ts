import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const README = fileURLToPath(new URL("../../README.md", import.meta.url));

/** The fenced code blocks of README.md in the given language, as written. */
export function readmeBlocks(language: string): string[] {
  const text = readFileSync(README, "utf8");
  const blocks: string[] = [];
  const fence = new RegExp("^```" + language + "\\n([\\s\\S]*?)^```", "gm");
  for (let match = fence.exec(text); match; match = fence.exec(text)) blocks.push(match[1]!);
  return blocks;
}
